// Files the user names (-o, --json): written whole or not at all. The content goes to a private temporary file
// beside the target (0600: recordings and reports hold kernel addresses), which replaces the target only once
// complete; on any failure the target is untouched and the temporary file is removed. A target that exists and is
// not a regular file (a symlink, a device, a directory) is refused before anything is written.
#pragma once
#include <ext/stdio_filebuf.h>

#include <memory>
#include <ostream>
#include <string>

namespace holdscope {

// A file buffer that remembers the first write error (errno), which a later flush would otherwise report as nothing.
class ErrorKeepingFilebuf : public __gnu_cxx::stdio_filebuf<char> {
 public:
  using __gnu_cxx::stdio_filebuf<char>::stdio_filebuf;
  int first_error() const { return first_error_; }

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  void note(bool failed);
  int first_error_ = 0;
};

// What becomes of a file already at the target when the new one is put in place. record's default output keeps the
// previous recording as TARGET.old, as perf record does with perf.data: a second run does not lose the first.
enum class PreviousFile { replace, keep_as_old };

class OutputFile {
 public:
  explicit OutputFile(std::string target, PreviousFile previous = PreviousFile::replace);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& stream() { return *stream_; }
  const std::string& target() const { return target_; }
  // The first write error so far (errno), or 0: a full disk is seen while recording, not only at the end.
  int error() const { return buf_->first_error(); }
  // Writes everything out and puts the file in place; throws ToolError (with the reason, e.g. a full disk) if not.
  void commit();

 private:
  std::string target_, temp_;
  PreviousFile previous_;
  std::unique_ptr<ErrorKeepingFilebuf> buf_;
  std::unique_ptr<std::ostream> stream_;
  bool committed_ = false;
};

// Refuses a target that exists and is not a regular file (what OutputFile checks first), for early checks.
void check_output_target(const std::string& target);

// The whole content, through an OutputFile.
void write_output_file(const std::string& target, const std::string& content);

}  // namespace holdscope
