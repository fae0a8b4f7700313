#include "tool/running_process.h"

#include <poll.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tool/system_info.h"

namespace holdscope {

namespace {

// PF_KTHREAD in /proc/PID/stat's flags (include/linux/sched.h): a kernel thread has no address space of its own.
constexpr unsigned long kKernelThreadFlag = 0x00200000;
// The flags are the seventh field after the parenthesized name, which may itself hold spaces and parentheses.
constexpr int kFlagsFieldAfterName = 6;

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

RunningProcess::RunningProcess(pid_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  std::string stat = read_whole(proc + "/stat");
  size_t close_paren = stat.rfind(')');
  if (stat.empty() || close_paren == std::string::npos) throw ToolError("-p " + std::to_string(pid) + ": no such process");
  std::istringstream fields(stat.substr(close_paren + 1));
  std::string field;
  unsigned long flags = 0;
  for (int i = 0; i <= kFlagsFieldAfterName && fields >> field; i++)
    if (i == kFlagsFieldAfterName) flags = std::stoul(field);
  if (flags & kKernelThreadFlag)
    throw ToolError("-p " + std::to_string(pid) + " is a kernel thread: it has no address space of its own to trace");

  // A thread's id names its process, as with perf -p.
  pid_ = pid;
  std::istringstream status(read_whole(proc + "/status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Tgid:", 0) == 0) pid_ = static_cast<pid_t>(std::stol(line.substr(5)));

  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (fd < 0)
    throw ToolError("-p " + std::to_string(pid) + ": " +
                    (errno == ESRCH ? std::string("no such process") : "cannot watch it: " + std::string(strerror(errno))));
  pidfd_ = UniqueFd(fd);

  std::string cmdline = read_whole("/proc/" + std::to_string(pid_) + "/cmdline");
  for (size_t at = 0; at < cmdline.size();) {
    size_t end = cmdline.find('\0', at);
    if (end == std::string::npos) end = cmdline.size();
    command_.push_back(cmdline.substr(at, end - at));
    at = end + 1;
  }
  if (command_.empty()) {
    std::string comm = read_whole("/proc/" + std::to_string(pid_) + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    command_.push_back(comm);
  }
}

bool RunningProcess::exited() const {
  // A pidfd polls readable once its process has exited.
  struct pollfd p = {pidfd_.get(), POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

}  // namespace holdscope
