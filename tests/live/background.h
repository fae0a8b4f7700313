// A process the live tests start, then wait on for a state (a line it prints, a file its workload writes) before
// they act: the tests never wait for a guessed delay.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace live {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits until cond() holds, checking it every 20 ms; false after hang_guard (a bound against hanging the suite, far
// above any state's real arrival, not a stand-in for it).
inline bool wait_for(const std::function<bool()>& cond, std::chrono::seconds hang_guard = std::chrono::seconds(900)) {
  auto end = std::chrono::steady_clock::now() + hang_guard;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

enum class Stdout { file, terminal };

// Runs argv[0] with argv, its stdout and stderr into files; killed (SIGKILL) and reaped if still running at the end.
// With Stdout::terminal its stdout is a pseudo-terminal copied into the file: a program that buffers its output when
// it goes to a file then writes each line as it prints it (a tool's "Tracing..." line is when it is ready).
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
             Stdout stdout_kind = Stdout::file)
      : out_(out_path), err_(err_path) {
    std::string slave;
    if (stdout_kind == Stdout::terminal) {
      master_ = posix_openpt(O_RDWR | O_NOCTTY);
      if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) throw std::runtime_error("no pseudo-terminal");
      slave = ptsname(master_);
    }
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int o = slave.empty() ? open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600) : open(slave.c_str(), O_RDWR);
      int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (o < 0 || e < 0) _exit(126);
      if (!slave.empty()) {
        struct termios t;
        if (tcgetattr(o, &t) == 0) {
          cfmakeraw(&t);
          tcsetattr(o, TCSANOW, &t);
        }
      }
      dup2(o, STDOUT_FILENO);
      dup2(e, STDERR_FILENO);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    if (master_ >= 0) {
      int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      copier_ = std::thread([master = master_, out] {
        char buf[4096];
        for (ssize_t n; (n = read(master, buf, sizeof buf)) > 0;)
          if (out >= 0 && write(out, buf, static_cast<size_t>(n)) != n) break;
        if (out >= 0) close(out);
      });
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background() {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    finish_copy();
    unlink(out_.c_str());
    unlink(err_.c_str());
  }

  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

  // True while the process has not exited (reaps it when it has).
  bool running() {
    if (!reaped_) reap(WNOHANG);
    return !reaped_;
  }

  // Waits until cond() holds, checking it every 20 ms. False when the process exits first, or after hang_guard (a
  // bound against hanging the suite, far above any state's real arrival, not a stand-in for it).
  bool wait_until(const std::function<bool()>& cond, std::chrono::seconds hang_guard = std::chrono::seconds(900)) {
    bool exited = false;
    wait_for([&] { return cond() || (exited = !running()); }, hang_guard);
    return cond();
  }

  // Sends sig and waits for the exit; returns the exit code (128+signal when killed). A process still running after
  // the hang guard is killed, which the caller sees as 128+SIGKILL.
  int stop(int sig, std::chrono::seconds hang_guard = std::chrono::seconds(900)) {
    if (!reaped_) kill(pid_, sig);
    if (!wait_until([&] { return !running(); }, hang_guard)) kill(pid_, SIGKILL);
    return wait();
  }

  // Waits for the exit on its own; returns the exit code.
  int wait() {
    if (!reaped_) reap(0);
    return status_;
  }

 private:
  void reap(int flags) {
    int st = 0;
    if (waitpid(pid_, &st, flags) != pid_) return;
    reaped_ = true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    finish_copy();
  }

  // Once the process has exited (no writer left on the terminal), the copier reads what is left, then EIO, and ends.
  void finish_copy() {
    if (copier_.joinable()) copier_.join();
    if (master_ >= 0) close(master_);
    master_ = -1;
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  int master_ = -1;
  std::thread copier_;
  std::string out_, err_;
};

inline bool file_exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Waits until reader (or a process it started) has FIFO open for reading, and returns the write end; -1 when reader
// exits first. A non-blocking open for writing fails with ENXIO while a FIFO has no reader, so its success is the
// state itself: the reader has exec'd its program and reached the open, and one write reaches it.
inline int open_fifo_once_read(Background& reader, const std::string& fifo) {
  int fd = -1;
  reader.wait_until([&] {
    if (fd < 0) fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    return fd >= 0;
  });
  return fd;
}

}  // namespace live
