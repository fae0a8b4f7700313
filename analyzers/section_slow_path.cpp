#include "analyzers/section_slow_path.h"

namespace holdscope {

SlowPathSection::SlowPathSection(const AttachLayout& layout, AttachTasks& tasks, AttachPointsSection& points)
    : layout_(layout), tasks_(tasks), points_(points) {
  out_.mode = layout.direct(kAllocSlowpath) ? AttachMode::direct : AttachMode::inferred;
}

void SlowPathSection::on_open_frame(const Frame& f) {
  if (f.point == kAllocSlowpath && !f.nested) out_.by_lock[f.mode].entries++;
}

void SlowPathSection::on_close_frame(const hs_event& e, const Frame& f) {
  // __alloc_pages_slowpath returns the page: NULL is a failed allocation.
  if (f.point == kAllocSlowpath && !f.nested && e.arg2 == 0) out_.by_lock[f.mode].failed++;
}

void SlowPathSection::open_episode(const hs_event& e, int mode) {
  if (layout_.direct(kAllocSlowpath)) return;
  auto& t = tasks_[e.pid];
  if (t.episode) return;
  t.episode = Episode{mode};
  out_.by_lock[mode].entries++;
  points_.count_inferred_call(kAllocSlowpath, mode, e.stack_id);
}

void SlowPathSection::on_alloc(const hs_event& e) {
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end() || e.type != HS_EV_PAGE_ALLOC || !it->second.episode) return;
  auto& s = out_.by_lock[it->second.episode->mode];
  if (e.flag & HS_ALLOC_F_FAILED) s.failed++;
  it->second.episode.reset();
}

void SlowPathSection::on_timed_end(const hs_event& e, bool reclaim, uint64_t d) {
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end()) return;
  const auto& t = it->second;
  std::optional<int> slow_mode;
  if (t.episode) slow_mode = t.episode->mode;
  if (layout_.direct(kAllocSlowpath))
    for (const auto& f : t.frames)
      if (f.point == kAllocSlowpath && !f.nested) slow_mode = f.mode;
  if (!slow_mode) return;
  auto& s = out_.by_lock[*slow_mode];
  (reclaim ? s.reclaims : s.compactions)++;
  (reclaim ? s.reclaim_ns : s.compaction_ns) += d;
  if (!layout_.direct(kAllocSlowpath)) {
    auto& p = points_.point(kAllocSlowpath);
    (reclaim ? p.reclaims : p.compactions)++;
    (reclaim ? p.reclaim_ns : p.compaction_ns) += d;
  }
}

void SlowPathSection::finish(Report& r) { r.slow_path = std::move(out_); }

}  // namespace holdscope
