// A private directory for holdscope's own temporary files (a scenario's recording, a workload's stats): made by
// mkdtemp (0700, so no other user can plant or swap a file in it) as /tmp/holdscope-TAG-PID-XXXXXX, removed with its
// files at the end. Directories a killed run left (its PID gone) are removed at the next start.
#pragma once
#include <string>

namespace holdscope {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& dir() const { return dir_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

}  // namespace holdscope
