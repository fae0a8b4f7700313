// record -p PID: a process that was running before holdscope started. It is watched through a pidfd, which names
// this process for as long as it is open (a PID can be reused once its process is gone; a pidfd cannot).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "tool/unique_fd.h"

namespace holdscope {

class RunningProcess {
 public:
  // Throws ToolError (one line: no such process, or a kernel thread) when PID cannot be traced.
  explicit RunningProcess(pid_t pid);
  pid_t pid() const { return pid_; }
  // Its command line as /proc shows it (for the report), its name when that is empty.
  const std::vector<std::string>& command() const { return command_; }
  // True once it has exited; never blocks.
  bool exited() const;

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  std::vector<std::string> command_;
};

}  // namespace holdscope
