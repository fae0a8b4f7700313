#include "tool/cgroup_names.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "analyzers/untrusted_text.h"
#include "tool/system_info.h"

namespace holdscope {

namespace {

// A cgroup that is not in the table yet is looked for by a walk of the hierarchy, at most this often; one the walk
// does not find either is remembered as gone (up to kMaxMissing of them), so a table full of dead cgroups costs no
// walk per lookup.
constexpr uint64_t kRescanIntervalNs = 100'000'000;
constexpr size_t kMaxMissing = 4096;

// /proc/self/mountinfo's fields: ... mount point (5th) ... " - " fstype source super-options.
struct Mount {
  std::string point, fstype, options;
};

std::vector<Mount> mounts() {
  std::vector<Mount> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string f, point;
    for (int i = 0; i < 5 && pre >> f; i++)
      if (i == 4) point = f;
    Mount m;
    m.point = point;
    std::string source;
    post >> m.fstype >> source >> m.options;
    out.push_back(m);
  }
  return out;
}

bool has_option(const std::string& options, const std::string& want) {
  std::istringstream in(options);
  for (std::string o; std::getline(in, o, ',');)
    if (o == want) return true;
  return false;
}

uint64_t inode_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  return st.st_ino;
}

}  // namespace

CgroupNames::CgroupNames() {
  std::string v2_root;
  for (const auto& m : mounts()) {
    if (m.fstype == "cgroup" && has_option(m.options, "memory")) {
      root_ = m.point;
      break;
    }
    if (m.fstype == "cgroup2" && v2_root.empty()) v2_root = m.point;
  }
  if (root_.empty()) {
    root_ = v2_root;
    v2_ = true;
  }
  if (root_.empty()) throw ToolError("no memory cgroup hierarchy is mounted (cgroup v1 memory or cgroup2)");
  rescan();
}

void CgroupNames::rescan() {
  last_scan_ns_ = monotonic_ns();
  // Built afresh: cgroups removed since the last walk leave the table, so it holds only those that exist.
  names_.clear();
  std::error_code ec;
  names_[inode_of(root_)] = "/";
  for (auto it = std::filesystem::recursive_directory_iterator(
           root_, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    std::string p = it->path().string();
    // A cgroup's name is whatever its creator chose (a delegated user's too): escaped before it reaches a terminal.
    if (uint64_t ino = inode_of(p)) names_[ino] = escape_untrusted(p.substr(root_.size()));
  }
}

std::string CgroupNames::name(uint64_t id) {
  auto it = names_.find(id);
  if (it == names_.end() && !missing_.count(id) && monotonic_ns() - last_scan_ns_ >= kRescanIntervalNs) {
    rescan();
    it = names_.find(id);
    if (it == names_.end()) {
      if (missing_.size() >= kMaxMissing) missing_.clear();
      missing_.insert(id);
    }
  }
  if (it != names_.end()) return it->second;
  return "cgroup:" + std::to_string(id);
}

uint64_t CgroupNames::id_of(const std::string& path) const {
  std::string p = path;
  if (p.rfind(root_ + "/", 0) != 0 && p != root_) p = root_ + (p.empty() || p[0] != '/' ? "/" : "") + p;
  uint64_t id = inode_of(p);
  if (!id) throw ToolError("--cgroup " + path + ": no such memory cgroup (under " + root_ + ")");
  return id;
}

}  // namespace holdscope
