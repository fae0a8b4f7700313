#include "analyzers/section_lru_drains.h"

#include <algorithm>

namespace holdscope {

LruDrainsSection::LruDrainsSection(const AttachLayout& layout, const Names& names, AttachTasks& tasks,
                                   AttachPointsSection& points, SleepingWorkSection& sleeping)
    : layout_(layout), names_(names), tasks_(tasks), points_(points), sleeping_(sleeping) {}

void LruDrainsSection::count_call(int mode, int32_t stack_id) {
  (mode == 0 ? out_.calls_none : mode == 1 ? out_.calls_read : out_.calls_write)++;
  out_.by_syscall[names_.syscall(stack_id)][mode]++;
}

void LruDrainsSection::on_open_frame(const hs_event& e, const Frame& f) {
  if (f.point == kLruDrain && !f.nested) count_call(f.mode, e.stack_id);
}

void LruDrainsSection::on_close_frame(const hs_event& e, const Frame& f) {
  if (f.point != kLruDrain || f.nested || !f.queued) return;
  out_.queued_calls++;
  // The time the caller spent in the drain, waiting for the other CPUs' works: only the brackets measure it.
  if (f.drain_mode != 0) sleeping_.add_drain_time(f.drain_mode, f.drain_stack, e.ts - std::min<uint64_t>(e.ts, f.start));
}

void LruDrainsSection::on_work_in_frames(const hs_event& e, int mode) {
  if (!layout_.direct(kLruDrain)) {
    points_.note_stack(kLruDrain, mode, e.stack_id);
    return;
  }
  // Direct mode counts calls from the brackets; the queued works are counted by on_work in both modes.
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end()) return;
  for (auto f = it->second.frames.rbegin(); f != it->second.frames.rend(); ++f)
    if (f->point == kLruDrain && !f->nested) {
      if (!f->queued) {
        f->drain_mode = mode;
        f->drain_stack = e.stack_id;
      }
      f->queued = true;
      break;
    }
}

void LruDrainsSection::on_work(const hs_event& e, int mode, TaskState& t) {
  auto& d = t.drain;
  out_.works++;
  // One lru_add_drain_all queues its works in ascending CPU order (for_each_online_cpu) within microseconds: a
  // work for a CPU at or below the previous one starts the next call.
  bool same_call = d.last_mode == mode && e.ts - std::min<uint64_t>(e.ts, d.last_ts) < kDrainBurstNs &&
                   e.target_cpu > d.last_cpu;
  d.last_ts = e.ts;
  d.last_cpu = e.target_cpu;
  d.last_mode = mode;
  if (mode != 0) sleeping_.on_drain_work(mode, e.stack_id, !same_call);
  if (!same_call) out_.inferred_calls++;
  if (same_call || layout_.direct(kLruDrain)) return;  // direct mode counts calls from the fentry brackets
  count_call(mode, e.stack_id);
}

void LruDrainsSection::finish(Report& r) { r.lru_drains = std::move(out_); }

}  // namespace holdscope
