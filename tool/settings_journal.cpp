#include "tool/settings_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "analyzers/untrusted_text.h"

namespace holdscope {

namespace {

constexpr const char* kJournalDir = "/run/holdscope/undo";  // workloads/journal.h: WL_JOURNAL_DIR
// Only these can be named by a journal: whatever a journal says, nothing else is written or removed.
constexpr const char* kKnobPrefix = "/sys/kernel/mm/transparent_hugepage/";
constexpr const char* kCgroupPrefix = "/sys/fs/cgroup/";
constexpr const char* kScratchPrefix = "/var/tmp/holdscope-";
// A removed workload's tasks leave its cgroup as they are reaped, which takes a moment after a kill.
constexpr auto kCgroupEmptyGuard = std::chrono::seconds(30);

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool safe_path(const std::string& p) { return p.find("/../") == std::string::npos && p.find('\n') == std::string::npos; }

std::string base_name(const std::string& p) { return p.substr(p.find_last_of('/') + 1); }

bool write_knob(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  return close(fd) == 0 && ok;
}

bool cgroup_empty(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.procs");
  std::string line;
  return !in || !std::getline(in, line) || line.empty();
}

bool remove_cgroup(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return false;
  auto end = std::chrono::steady_clock::now() + kCgroupEmptyGuard;
  while (!cgroup_empty(dir) && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

bool remove_scratch(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  return S_ISREG(st.st_mode) && unlink(path.c_str()) == 0;
}

// One journal line: "KIND\tPATH\tVALUE". Returns whether something was undone.
bool undo_line(const std::string& line, pid_t pid) {
  std::istringstream in(line);
  std::string kind, path, value;
  if (!std::getline(in, kind, '\t') || !std::getline(in, path, '\t')) return false;
  std::getline(in, value);
  if (!safe_path(path)) return false;
  bool ok = false, known = true;
  if (kind == "write" && starts_with(path, kKnobPrefix))
    ok = write_knob(path, value);
  else if (kind == "rmdir" && starts_with(path, kCgroupPrefix) && starts_with(base_name(path), "holdscope-"))
    ok = remove_cgroup(path);
  else if (kind == "unlink" && starts_with(path, kScratchPrefix))
    ok = remove_scratch(path);
  else
    known = false;
  if (!known) {
    std::cerr << "holdscope: ignored an undo journal line outside what workloads change: " << escape_untrusted(line) << "\n";
    return false;
  }
  if (!ok) std::cerr << "holdscope: could not undo workload " << pid << "'s change: " << kind << " " << path << ": " << strerror(errno) << "\n";
  return ok;
}

bool journal_dir_trusted() {
  struct stat st;
  return lstat(kJournalDir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 022) == 0;
}

size_t undo_journal(const std::string& file, pid_t pid) {
  struct stat st;
  if (lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0) return 0;
  std::ifstream in(file);
  std::string line;
  size_t undone = 0;
  // Undone in reverse order of the changes: a later change may sit inside an earlier one.
  std::vector<std::string> lines;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) undone += undo_line(*it, pid);
  unlink(file.c_str());
  return undone;
}

}  // namespace

size_t undo_workload_changes(pid_t pid) {
  if (!journal_dir_trusted()) return 0;
  return undo_journal(std::string(kJournalDir) + "/" + std::to_string(pid), pid);
}

size_t undo_changes_of_dead_workloads() {
  if (!journal_dir_trusted()) return 0;
  DIR* d = opendir(kJournalDir);
  if (!d) return 0;
  std::vector<pid_t> dead;
  while (struct dirent* ent = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(ent->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) dead.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  size_t undone = 0;
  for (pid_t pid : dead) {
    size_t n = undo_workload_changes(pid);
    if (n)
      std::cerr << "holdscope: undid " << n << " system change" << (n == 1 ? "" : "s") << " left by workload " << pid
                << ", which died before it could\n";
    undone += n;
  }
  return undone;
}

}  // namespace holdscope
