// The by-memory-cgroup section: holds, waits and allocations under the lock per memory cgroup, the view a fleet has of
// its workloads (a memory cgroup is one logical task to them). A task's cgroup is the one the kernel read with its
// name (TaskName::cgroup); allocations counted in the kernel carry their own.
#pragma once
#include <cstdint>
#include <map>
#include <unordered_set>

#include "analyzers/context.h"
#include "analyzers/lock_state.h"
#include "analyzers/report.h"
#include "analyzers/stats.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class CgroupsSection {
 public:
  explicit CgroupsSection(const TraceContext& ctx) : ctx_(ctx) {}
  void on_hold(const HoldEnded& h);
  void on_wait(const WaitEnded& w);
  void on_alloc(const hs_event& e, int mode);  // a streamed allocation, with the task's lock mode
  void finish(Report& r);

 private:
  struct Group {
    Samples hold_r, hold_w, wait_r, wait_w;
    std::unordered_set<uint32_t> tasks;
    uint64_t allocations = 0, may_sleep = 0;
  };
  Group& group_of(uint32_t tid);
  const TraceContext& ctx_;
  std::map<uint64_t, Group> groups_;
};

// The memory cgroup of a recording's task; 0 when unknown.
uint64_t cgroup_of_task(const TraceContext& ctx, uint32_t tid);

}  // namespace holdscope
