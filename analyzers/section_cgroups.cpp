#include "analyzers/section_cgroups.h"

#include <algorithm>

namespace holdscope {

uint64_t cgroup_of_task(const TraceContext& ctx, uint32_t tid) {
  auto it = ctx.comms.find(tid);
  return it == ctx.comms.end() ? 0 : it->second.cgroup;
}

CgroupsSection::Group& CgroupsSection::group_of(uint32_t tid) {
  auto& g = groups_[cgroup_of_task(ctx_, tid)];
  g.tasks.insert(tid);
  return g;
}

void CgroupsSection::on_hold(const HoldEnded& h) {
  auto& g = group_of(h.tid);
  (h.write ? g.hold_w : g.hold_r).add(h.end - std::min(h.end, h.start));
}

void CgroupsSection::on_wait(const WaitEnded& w) {
  auto& g = group_of(w.tid);
  (w.write ? g.wait_w : g.wait_r).add(w.end - std::min(w.end, w.start));
}

void CgroupsSection::on_alloc(const hs_event& e, int mode) {
  if (mode == 0) return;  // as the allocations section: not under the lock
  auto& g = group_of(e.pid);
  g.allocations++;
  if (ctx_.gfp.may_sleep(e.arg)) g.may_sleep++;
}

void CgroupsSection::finish(Report& r) {
  for (const auto& a : ctx_.alloc_counts) {
    auto& g = groups_[a.cgroup];
    g.allocations += a.count;
    if (ctx_.gfp.may_sleep(a.gfp)) g.may_sleep += a.count;
  }
  for (auto& [id, g] : groups_) {
    CgroupStats c;
    c.id = id;
    auto name = ctx_.cgroups.find(id);
    c.path = id == 0 ? "?" : name != ctx_.cgroups.end() ? name->second : "cgroup:" + std::to_string(id);
    c.tasks = g.tasks.size();
    c.holds = {g.hold_r.summarize(), g.hold_w.summarize()};
    c.waits = {g.wait_r.summarize(), g.wait_w.summarize()};
    c.allocations = g.allocations;
    c.may_sleep_allocations = g.may_sleep;
    r.cgroups.push_back(std::move(c));
  }
  std::sort(r.cgroups.begin(), r.cgroups.end(), [](const CgroupStats& a, const CgroupStats& b) {
    uint64_t ta = a.holds.read.total_ns + a.holds.write.total_ns, tb = b.holds.read.total_ns + b.holds.write.total_ns;
    return ta != tb ? ta > tb : a.path < b.path;
  });
}

}  // namespace holdscope
