// Memory cgroups by id: the monitor's kernel tables name a task's memory cgroup by its kernfs node id, which is the
// inode number of the cgroup's directory in the hierarchy the memory controller is mounted in (cgroup v1's memory
// hierarchy, or the v2 unified one).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace holdscope {

class CgroupNames {
 public:
  // Finds the memory controller's hierarchy; throws ToolError if none is mounted.
  CgroupNames();
  const std::string& root() const { return root_; }
  bool v2() const { return v2_; }
  // The cgroup's path in its hierarchy ("/" for the root, "/a/b"); "cgroup:ID" for one that is gone or unknown.
  std::string name(uint64_t id);
  // The id of the cgroup a user named: a path in the hierarchy ("/a/b" or "a/b") or under the mount. Throws ToolError
  // (one line) when there is no such cgroup.
  uint64_t id_of(const std::string& path) const;

 private:
  void rescan();
  std::string root_;
  bool v2_ = false;
  std::map<uint64_t, std::string> names_;
  std::set<uint64_t> missing_;  // not found by the walk after they were first asked for: gone, not looked for again
  uint64_t last_scan_ns_ = 0;
};

}  // namespace holdscope
