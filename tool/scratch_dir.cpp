#include "tool/scratch_dir.h"

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

namespace {

constexpr const char* kTmp = "/tmp";

// Removes the files of a directory this user owns (never following a link), then the directory.
void remove_tree(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  if (DIR* d = fdopendir(fd)) {
    while (struct dirent* ent = readdir(d))
      if (strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..")) unlinkat(dirfd(d), ent->d_name, 0);
    closedir(d);  // closes fd
  } else {
    close(fd);
  }
  rmdir(dir.c_str());
}

void remove_stale(const std::string& prefix) {
  for_each_left_by_dead_run(kTmp, prefix, [](const std::string& name) {
    std::string path = std::string(kTmp) + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0)
      remove_tree(path);
  });
}

}  // namespace

ScratchDir::ScratchDir(const std::string& tag) {
  std::string prefix = "holdscope-" + tag + "-";
  remove_stale(prefix);
  std::string tmpl = std::string(kTmp) + "/" + prefix + std::to_string(getpid()) + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw ToolError("cannot create a private directory in " + std::string(kTmp) + ": " + strerror(errno));
  dir_ = tmpl;
}

ScratchDir::~ScratchDir() { remove_tree(dir_); }

}  // namespace holdscope
