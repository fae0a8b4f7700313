// What a holdscope run leaves in a shared directory is named PREFIX<pid>-..., so that one killed before it could
// clean up is known later by its pid.
#pragma once
#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>

namespace holdscope {

// Calls fn(name) for each entry of dir named PREFIX<pid>-... whose pid no process has any more.
inline void for_each_left_by_dead_run(const std::string& dir, const std::string& prefix,
                                      const std::function<void(const std::string&)>& fn) {
  DIR* d = opendir(dir.empty() ? "." : dir.c_str());
  if (!d) return;
  while (struct dirent* ent = readdir(d)) {
    std::string name = ent->d_name;
    if (name.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '-') continue;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fn(name);
  }
  closedir(d);
}

}  // namespace holdscope
