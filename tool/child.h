// The traced command: forked stopped on a pipe, released only once the probes are attached so its first mmap_lock
// acquisition is seen. Reaped (and killed if still running) on every exit path, and the changes to system settings it
// journaled undone.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace holdscope {

class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  // Lets it exec; throws ToolError when the exec failed.
  void release();
  // True once the child has exited; status then holds its exit code (128+signal when killed).
  bool exited();
  void terminate();
  int status() const { return status_; }
  // The end of the trace: stops it if still running and undoes its changes whatever its status (a killed workload
  // could not undo its own). Returns its exit status.
  int end();

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1, err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string name_;
};

}  // namespace holdscope
