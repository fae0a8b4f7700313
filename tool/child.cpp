#include "tool/child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "tool/settings_journal.h"
#include "tool/system_info.h"

namespace holdscope {

namespace {

constexpr int kExecFailedStatus = 127;
constexpr int kTermPolls = 40;              // SIGTERM, then up to 40 looks 50 ms apart before SIGKILL
constexpr useconds_t kTermPollUs = 50'000;
constexpr int kSignalStatusBase = 128;      // the shell's convention for a status of a killed process

}  // namespace

Child::Child(const std::vector<std::string>& argv) {
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw ToolError("pipe: " + std::string(strerror(errno)));
  pid_ = fork();
  if (pid_ < 0) throw ToolError("fork: " + std::string(strerror(errno)));
  if (pid_ == 0) {
    close(go[1]);
    close(err[0]);
    // A traced command does not outlive holdscope: killed with it, its changes are undone at the next start.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(kExecFailedStatus);  // the tracer gave up before starting us
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int e = errno;
    (void)!write(err[1], &e, sizeof e);
    _exit(kExecFailedStatus);
  }
  close(go[0]);
  close(err[1]);
  go_fd_ = go[1];
  err_fd_ = err[0];
  name_ = argv[0];
}

Child::~Child() {
  if (go_fd_ >= 0) close(go_fd_);
  if (err_fd_ >= 0) close(err_fd_);
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    undo_workload_changes(pid_);  // the run failed with the command still running: it could not undo its own
  }
}

void Child::release() {
  (void)!write(go_fd_, "g", 1);
  close(go_fd_);
  go_fd_ = -1;
  int e = 0;
  ssize_t n = read(err_fd_, &e, sizeof e);  // EOF (0) means exec succeeded: the pipe closed on exec
  close(err_fd_);
  err_fd_ = -1;
  if (n == sizeof e) throw ToolError("cannot run " + name_ + ": " + strerror(e));
}

bool Child::exited() {
  if (reaped_) return true;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) != pid_) return false;
  reaped_ = true;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : kSignalStatusBase + WTERMSIG(st);
  return true;
}

void Child::terminate() {
  if (exited()) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < kTermPolls && !exited(); i++) usleep(kTermPollUs);
  if (!exited()) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
    reaped_ = true;
    status_ = kSignalStatusBase + SIGKILL;
  }
}

int Child::end() {
  terminate();
  undo_workload_changes(pid_);  // whatever its status: a killed workload could not undo its own
  return status_;
}

}  // namespace holdscope
