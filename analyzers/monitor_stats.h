// holdscope monitor's figures, apart from where they come from: the kernel's log2 histograms and work counts per
// group (memory cgroup, or process), turned into per-interval deltas, quantiles, the interval table, JSON lines, and
// the bounded set of groups exported to Prometheus. No BPF and no I/O beyond the stream handed in.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/monitor_maps.h"

namespace holdscope {

// Index of the lock mode in the per-group arrays below.
enum class HeldMode : int { read = 0, write = 1 };
inline constexpr int kHeldModes = 2;
inline const char* to_string(HeldMode m) { return m == HeldMode::write ? "write" : "read"; }

struct LockHistogram {
  std::array<uint64_t, HS_MON_BUCKETS> buckets{};
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  uint64_t max_ns = 0;  // the largest of the period it covers

  LockHistogram& operator+=(const LockHistogram& o);
  // What was added since `earlier` (an older reading of the same cumulative histogram); max_ns is this one's.
  LockHistogram since(const LockHistogram& earlier) const;
  // The q-quantile (0..1), interpolated inside its log2 bucket and never above max_ns; 0 when empty.
  uint64_t quantile_ns(double q) const;
};

// The lower bound of log2 bucket i, in ns (bucket 0 also holds 0 ns).
inline uint64_t bucket_low_ns(int i) { return i == 0 ? 0 : uint64_t(1) << i; }

struct WorkCounts {
  uint64_t pages = 0, slabs = 0, kmallocs = 0, may_sleep = 0, reclaims = 0, reclaim_ns = 0, compactions = 0,
           lru_drains = 0;
  WorkCounts& operator+=(const WorkCounts& o);
  WorkCounts since(const WorkCounts& earlier) const;
  uint64_t allocations() const { return pages + slabs + kmallocs; }
  bool empty() const;
};

WorkCounts work_from_kernel(const hs_mon_work& w);

// A memory cgroup (its id), or a process in one when monitoring per process (tgid 0 otherwise).
struct GroupKey {
  uint64_t cgroup = 0;
  uint32_t tgid = 0;
  auto operator<=>(const GroupKey&) const = default;
};

struct GroupStats {
  std::array<LockHistogram, kHeldModes> hold, wait;
  std::array<WorkCounts, kHeldModes> work;
  GroupStats& operator+=(const GroupStats& o);
  GroupStats since(const GroupStats& earlier) const;
  uint64_t hold_ns() const { return hold[0].sum_ns + hold[1].sum_ns; }
  bool empty() const;
};

// Losses, every one of them printed and exported.
struct MonitorLosses {
  uint64_t table_full = 0;      // a histogram or work entry found its kernel table full
  uint64_t slow_holds_lost = 0; // slow-hold records that found the ring buffer full
  uint64_t stacks = 0;
  uint64_t task_storage = 0;
  uint64_t held_overflow = 0;
  uint64_t scope_full = 0;
  MonitorLosses since(const MonitorLosses& earlier) const;
  uint64_t total() const { return table_full + slow_holds_lost + stacks + task_storage + held_overflow + scope_full; }
};

struct MonitorReading {
  std::map<GroupKey, GroupStats> groups;  // cumulative, as the kernel's tables hold them
  MonitorLosses losses;
};

// Each group's change between two readings of cumulative tables; a group missing from `before` counts whole.
std::map<GroupKey, GroupStats> reading_delta(const MonitorReading& now, const MonitorReading& before);

// Names a group for people (the cgroup's path, "pid 123 (comm)" per process).
using GroupNamer = std::function<std::string(const GroupKey&)>;

struct IntervalReport {
  uint64_t start_ns = 0, end_ns = 0;  // CLOCK_MONOTONIC
  std::map<GroupKey, GroupStats> groups;
  MonitorLosses losses;
  GroupStats total() const;
};

// The table printed at each interval (klockstat -i style): totals per mode, then the top groups by hold time.
void render_interval(const IntervalReport& r, const GroupNamer& name, size_t top, std::ostream& out);
// One JSON object per interval (a JSON-lines stream).
nlohmann::json interval_to_json(const IntervalReport& r, const GroupNamer& name, size_t top);

// The groups exported with their own label, at most `limit`, the rest summed into "other". A group keeps its label
// once it has one (a counter that moved between series would go backwards) until it has been idle for
// `idle_ticks` ticks; "other" only ever adds. So the exported series are bounded and every counter is monotonic.
class LabelBudget {
 public:
  LabelBudget(size_t limit, int idle_ticks) : limit_(limit), idle_ticks_(idle_ticks) {}
  // Adds one tick's deltas; returns the groups that lost their label this tick (their series should go).
  std::vector<std::string> add(const std::map<GroupKey, GroupStats>& delta, const GroupNamer& name);
  const std::map<std::string, GroupStats>& labelled() const { return labelled_; }
  const GroupStats& other() const { return other_; }
  static constexpr const char* kOther = "other";

 private:
  size_t limit_;
  int idle_ticks_;
  std::map<std::string, GroupStats> labelled_;  // cumulative since the label was given
  std::map<std::string, int> idle_;
  GroupStats other_;
};

}  // namespace holdscope
