#include "analyzers/section_attach_points.h"

#include <algorithm>

#include "analyzers/section_anon_vma_clone.h"

namespace holdscope {

namespace {

constexpr size_t kHeldLockStacks = 5;

}  // namespace

AttachLayout::AttachLayout(const TraceContext& ctx) {
  for (const auto& a : ctx.attach_points)
    for (int p = 0; p < kAttachPoints; p++)
      if (a.name == kAttachPointNames[p]) is_direct[p] = a.mode == AttachMode::direct;
  for (const auto& fn : ctx.fn_slots) {
    int point = -1;
    for (const auto& a : ctx.attach_points)
      if (std::find(a.functions.begin(), a.functions.end(), fn) != a.functions.end())
        for (int p = 0; p < kAttachPoints; p++)
          if (a.name == kAttachPointNames[p]) point = p;
    slot_point.push_back(point);
    slot_name.push_back(fn);
  }
}

AttachPointsSection::AttachPointsSection(const TraceContext& ctx, const AttachLayout& layout, const Names& names,
                                         AttachTasks& tasks)
    : ctx_(ctx), layout_(layout), names_(names), tasks_(tasks) {
  for (int p = 0; p < kAttachPoints; p++) {
    points_[p].name = kAttachPointNames[p];
    points_[p].mode = AttachMode::unavailable;
    points_[p].why = "not recorded (recording made before attach points existed)";
  }
  for (const auto& a : ctx.attach_points) {
    for (int p = 0; p < kAttachPoints; p++) {
      if (a.name != kAttachPointNames[p]) continue;
      points_[p].mode = a.mode;
      points_[p].why = a.why;
    }
  }
  for (const auto& fn : layout.slot_name) {
    slot_time_.emplace_back();
    slot_stats_.push_back(FunctionStats{fn, 0, {}, {}});
  }
}

void AttachPointsSection::note_stack(AttachPoint point, int mode, int32_t stack_id) {
  if (mode > 0) agg_[point].stacks[{mode, stack_id}]++;
}

void AttachPointsSection::count_inferred_call(AttachPoint point, int mode, int32_t stack_id) {
  agg_[point].calls++;
  agg_[point].calls_by_lock[mode]++;
  note_stack(point, mode, stack_id);
}

Frame* AttachPointsSection::open_frame(const hs_event& e) {
  if (e.arg >= layout_.slot_point.size()) return nullptr;
  int slot = static_cast<int>(e.arg), point = layout_.slot_point[slot];
  int mode = std::min<int>(e.flag, HS_MODE_WRITE);  // HS_MODE_*: a lock mode, not bits
  auto& t = tasks_[e.pid];
  Frame f;
  f.slot = slot;
  f.point = point;
  f.start = e.ts;
  f.mode = mode;
  f.nested = std::any_of(t.frames.begin(), t.frames.end(), [&](const Frame& x) { return x.point == point; });
  auto& fs = slot_stats_[slot];
  fs.calls++;
  fs.calls_by_lock[mode]++;
  if (point >= 0 && !f.nested) {
    agg_[point].calls++;
    agg_[point].calls_by_lock[mode]++;
    note_stack(static_cast<AttachPoint>(point), mode, e.stack_id);
  }
  t.frames.push_back(std::move(f));
  return &t.frames.back();
}

std::optional<Frame> AttachPointsSection::close_frame(const hs_event& e) {
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end()) return std::nullopt;
  auto& frames = it->second.frames;
  // The matching frame is the innermost of this slot; frames above it lost their exit (not expected, but a lost
  // event must not leave a bracket open for ever).
  auto f = std::find_if(frames.rbegin(), frames.rend(), [&](const Frame& x) { return x.slot == int(e.arg); });
  if (f == frames.rend()) return std::nullopt;
  Frame frame = std::move(*f);
  frames.erase(std::next(f).base(), frames.end());
  slot_time_[frame.slot].add(e.ts - std::min<uint64_t>(e.ts, frame.start));
  return frame;
}

void AttachPointsSection::on_alloc(const hs_event& e, int mode) {
  bool may_sleep = ctx_.gfp.may_sleep(e.arg);
  auto it = tasks_.find(e.pid);
  if (it != tasks_.end()) {
    for_innermost_frames(it->second, [&](Frame& f) {
      auto& p = points_[f.point];
      (e.type == HS_EV_PAGE_ALLOC ? p.page_allocs : p.slab_allocs)++;
      if (may_sleep) p.may_sleep_allocs++;
    });
  }
  if (!layout_.direct(kAnonVmaClone) && is_clone_chain_alloc(ctx_, e)) {
    points_[kAnonVmaClone].slab_allocs++;
    if (may_sleep) points_[kAnonVmaClone].may_sleep_allocs++;
    note_stack(kAnonVmaClone, mode, e.stack_id);
  }
}

void AttachPointsSection::start_timer(const hs_event& e, bool reclaim) {
  auto& t = tasks_[e.pid];
  (reclaim ? t.reclaim : t.compaction) = TimerStart{e.ts};
}

std::optional<uint64_t> AttachPointsSection::stop_timer(const hs_event& e, bool reclaim) {
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end()) return std::nullopt;
  auto& t = it->second;
  auto& slot = reclaim ? t.reclaim : t.compaction;
  if (!slot) return std::nullopt;
  uint64_t d = e.ts - std::min<uint64_t>(e.ts, slot->start);
  slot.reset();
  for_innermost_frames(t, [&](Frame& f) {
    auto& p = points_[f.point];
    (reclaim ? p.reclaims : p.compactions)++;
    (reclaim ? p.reclaim_ns : p.compaction_ns) += d;
  });
  return d;
}

void AttachPointsSection::finish(Report& r) {
  for (const auto& [tid, t] : tasks_)
    for (const auto& f : t.frames)
      if (f.slot >= 0 && f.slot < int(slot_stats_.size())) slot_stats_[f.slot].open_at_end++;
  for (int slot = 0; slot < int(slot_stats_.size()); slot++) {
    slot_stats_[slot].time_inside = slot_time_[slot].summarize();
    if (layout_.slot_point[slot] >= 0) points_[layout_.slot_point[slot]].functions.push_back(slot_stats_[slot]);
  }
  for (int p = 0; p < kAttachPoints; p++) {
    auto& out = points_[p];
    if (layout_.is_direct[p]) {
      out.calls = agg_[p].calls;
      out.calls_by_lock = agg_[p].calls_by_lock;
    } else if (p == kLruDrain && out.mode == AttachMode::inferred) {
      const auto& d = r.lru_drains;
      out.calls = d.calls_none + d.calls_read + d.calls_write;
      out.calls_by_lock = std::array<uint64_t, 3>{d.calls_none, d.calls_read, d.calls_write};
    } else if (p == kAllocSlowpath && out.mode == AttachMode::inferred) {
      out.calls = agg_[p].calls;
      out.calls_by_lock = agg_[p].calls_by_lock;
    } else if (p == kKhugepaged && out.mode == AttachMode::inferred) {
      uint64_t n = 0;
      for (const auto& m : r.khugepaged.mms) n += m.attempted;
      out.calls = n;
    }
    std::vector<std::pair<uint64_t, std::pair<int, int32_t>>> st;
    for (const auto& [k, n] : agg_[p].stacks) st.emplace_back(n, k);
    std::sort(st.begin(), st.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < st.size() && i < kHeldLockStacks; i++)
      out.held_lock_stacks.push_back(
          StackCount{lock_mode_name(st[i].second.first), st[i].first, names_.stack(st[i].second.second)});
    r.attach_points.push_back(std::move(out));
  }
}

}  // namespace holdscope
