#include "tool/output_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tool/dead_run.h"
#include "tool/system_info.h"

namespace holdscope {

void check_output_target(const std::string& target) {
  if (target.empty()) throw ToolError("an output file name is empty");
  struct stat st;
  if (lstat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw ToolError(target + " exists and is not a regular file (a symlink, device or directory): not written");
}

namespace {

// The temporary files of earlier runs for the same target that were killed (SIGKILL, a crash) before they could
// remove them: named .BASE.holdscope-PID-XXXXXX, removed when PID is gone. Nothing else is touched.
void remove_stale_temporaries(const std::string& dir, const std::string& prefix) {
  for_each_left_by_dead_run(dir, prefix, [&](const std::string& name) {
    struct stat st;
    std::string path = dir + name;
    if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) unlink(path.c_str());
  });
}

}  // namespace

void ErrorKeepingFilebuf::note(bool failed) {
  if (failed && !first_error_) first_error_ = errno ? errno : EIO;
}

ErrorKeepingFilebuf::int_type ErrorKeepingFilebuf::overflow(int_type c) {
  errno = 0;
  int_type r = __gnu_cxx::stdio_filebuf<char>::overflow(c);
  note(traits_type::eq_int_type(r, traits_type::eof()) && !traits_type::eq_int_type(c, traits_type::eof()));
  return r;
}

std::streamsize ErrorKeepingFilebuf::xsputn(const char* s, std::streamsize n) {
  errno = 0;
  std::streamsize r = __gnu_cxx::stdio_filebuf<char>::xsputn(s, n);
  note(r < n);
  return r;
}

int ErrorKeepingFilebuf::sync() {
  errno = 0;
  int r = __gnu_cxx::stdio_filebuf<char>::sync();
  note(r != 0);
  return r;
}

OutputFile::OutputFile(std::string target, PreviousFile previous) : target_(std::move(target)), previous_(previous) {
  check_output_target(target_);
  size_t slash = target_.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : target_.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? target_ : target_.substr(slash + 1);
  std::string prefix = "." + base + ".holdscope-";
  remove_stale_temporaries(dir, prefix);
  std::string tmpl = dir + prefix + std::to_string(getpid()) + "-XXXXXX";
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);  // O_EXCL, mode 0600
  if (fd < 0) throw ToolError("cannot create " + target_ + ": " + strerror(errno));
  temp_ = tmpl;
  buf_ = std::make_unique<ErrorKeepingFilebuf>(fd, std::ios::out | std::ios::binary);
  stream_ = std::make_unique<std::ostream>(buf_.get());
}

OutputFile::~OutputFile() {
  if (committed_) return;
  stream_.reset();
  buf_.reset();  // closes the descriptor
  unlink(temp_.c_str());
}

void OutputFile::commit() {
  errno = 0;
  stream_->flush();
  bool ok = static_cast<bool>(*stream_) && fsync(buf_->fd()) == 0;
  int err = buf_->first_error() ? buf_->first_error() : errno;
  if (!buf_->close()) {
    ok = false;
    if (!err) err = errno;
  }
  if (!ok) throw ToolError("cannot write " + target_ + ": " + strerror(err ? err : EIO));
  check_output_target(target_);  // it may have been replaced by something else meanwhile
  if (previous_ == PreviousFile::keep_as_old) {
    std::string old = target_ + ".old";
    check_output_target(old);
    if (rename(target_.c_str(), old.c_str()) != 0 && errno != ENOENT)
      throw ToolError("cannot keep the previous " + target_ + " as " + old + ": " + strerror(errno));
  }
  if (rename(temp_.c_str(), target_.c_str()) != 0) throw ToolError("cannot write " + target_ + ": " + strerror(errno));
  committed_ = true;
}

void write_output_file(const std::string& target, const std::string& content) {
  OutputFile f(target);
  f.stream() << content;
  f.commit();
}

}  // namespace holdscope
