#include "analyzers/analyzer.h"

#include <algorithm>

#include "analyzers/attach_tasks.h"
#include "analyzers/lock_state.h"
#include "analyzers/names.h"
#include "analyzers/section_allocations.h"
#include "analyzers/section_anon_vma_clone.h"
#include "analyzers/section_attach_points.h"
#include "analyzers/section_cgroups.h"
#include "analyzers/section_holds_waits.h"
#include "analyzers/section_khugepaged.h"
#include "analyzers/section_lru_drains.h"
#include "analyzers/section_sleeping_work.h"
#include "analyzers/section_slow_path.h"

namespace holdscope {

namespace {

constexpr uint8_t kRebuilt = 0x80;  // flag of a start or acquire event the analyzer rebuilt from a later record
constexpr uint64_t kPeakSampleEvery = 1024;  // events between samples of the tracked-task count

struct Queued {
  hs_event e;
  uint64_t seq;
};
struct QueuedLater {
  bool operator()(const Queued& a, const Queued& b) const {
    return a.e.ts != b.e.ts ? a.e.ts > b.e.ts : a.seq > b.seq;
  }
};

}  // namespace

// The reorder window, and the dispatch of each event to the lock state and the report sections.
struct Analyzer::Impl : LockListener {
  const TraceContext& ctx;
  AnalyzerOptions opts;
  std::priority_queue<Queued, std::vector<Queued>, QueuedLater> pending;
  uint64_t seq = 0;
  uint64_t max_ts = 0;
  uint64_t last_processed = 0;
  uint64_t events = 0;
  uint64_t processed = 0;
  uint64_t unknown_events = 0;
  Report r;

  Names names;
  AttachLayout layout;
  AttachTasks attach_tasks;  // the attach-point sections' per-task state
  LockState lock;            // the lock state's per-task state, shared with the sections that follow a task
  HoldsWaitsSection holds_waits;
  CgroupsSection cgroups;
  AllocationsSection allocations;
  SleepingWorkSection sleeping;
  AttachPointsSection attach_points;
  LruDrainsSection lru_drains;
  AnonVmaCloneSection anon_vma_clone;
  KhugepagedSection khugepaged;
  SlowPathSection slow_path;

  Impl(const TraceContext& c, AnalyzerOptions o)
      : ctx(c),
        opts(o),
        names(c),
        layout(c),
        lock(names, *this),
        holds_waits(c, names, o.top),
        cgroups(c),
        allocations(c, names),
        sleeping(names),
        attach_points(c, layout, names, attach_tasks),
        lru_drains(layout, names, attach_tasks, attach_points, sleeping),
        anon_vma_clone(c, layout, names),
        khugepaged(c, layout, names, attach_tasks, attach_points),
        slow_path(layout, attach_tasks, attach_points) {}

  size_t tracked_tasks() const { return lock.tracked_tasks() + attach_tasks.size(); }
  size_t tracked_locks() const { return lock.tracked_locks(); }

  void on_hold(const HoldEnded& h) override {
    khugepaged.on_hold(h);
    holds_waits.on_hold(h);
    cgroups.on_hold(h);
    for (auto* p : opts.passes) p->on_hold(h);
  }
  void on_wait(const WaitEnded& w) override {
    holds_waits.on_wait(w);
    cgroups.on_wait(w);
    khugepaged.on_wait(w);
    for (auto* p : opts.passes) p->on_wait(w);
  }

  // The attach-point sections see every event but the lock's own first, with the task's lock mode before the event.
  void dispatch_to_attach_points(const hs_event& e, int mode) {
    switch (e.type) {
      case HS_EV_FN_ENTRY:
        if (Frame* f = attach_points.open_frame(e)) {
          lru_drains.on_open_frame(e, *f);
          khugepaged.on_open_frame(e, *f);
          slow_path.on_open_frame(*f);
        }
        break;
      case HS_EV_FN_EXIT:
        if (auto f = attach_points.close_frame(e)) {
          khugepaged.on_close_frame(e, *f);
          slow_path.on_close_frame(e, *f);
          lru_drains.on_close_frame(e, *f);
          forget_if_idle(attach_tasks, e.pid);
        }
        break;
      case HS_EV_PAGE_ALLOC:
      case HS_EV_SLAB_ALLOC:
      case HS_EV_KMALLOC:
        attach_points.on_alloc(e, mode);
        if (auto it = attach_tasks.find(e.pid); it != attach_tasks.end()) anon_vma_clone.on_alloc_in_frames(e, it->second);
        slow_path.on_alloc(e);
        khugepaged.on_alloc(e, mode);
        forget_if_idle(attach_tasks, e.pid);
        break;
      case HS_EV_RECLAIM_BEGIN:
      case HS_EV_COMPACT_BEGIN: {
        bool reclaim = e.type == HS_EV_RECLAIM_BEGIN;
        // A memory cgroup's reclaim is not the allocator's slow path.
        bool memcg = reclaim && (e.flag & HS_RECLAIM_F_MEMCG);
        if (!memcg) slow_path.open_episode(e, mode);
        attach_points.start_timer(e, reclaim);
        break;
      }
      case HS_EV_RECLAIM_END:
      case HS_EV_COMPACT_END: {
        bool reclaim = e.type == HS_EV_RECLAIM_END;
        if (auto d = attach_points.stop_timer(e, reclaim)) {
          slow_path.on_timed_end(e, reclaim, *d);
          forget_if_idle(attach_tasks, e.pid);
        }
        break;
      }
      case HS_EV_COMPACT_TRY: slow_path.open_episode(e, mode); break;
      case HS_EV_LRU_DRAIN: lru_drains.on_work_in_frames(e, mode); break;
      case HS_EV_COLLAPSE: khugepaged.on_collapse_tp(e); break;
      case HS_EV_SCAN_PMD: khugepaged.on_scan_tp(e); break;
      case HS_EV_TASK_EXIT: attach_tasks.erase(e.pid); break;
      default: break;
    }
  }

  void process(const hs_event& e) {
    if ((++processed % kPeakSampleEvery) == 0)
      r.analyzer_state.tracked_tasks_peak = std::max<uint64_t>(r.analyzer_state.tracked_tasks_peak, tracked_tasks());
    bool late = e.ts < last_processed;
    bool rebuilt = (e.type == HS_EV_LOCK_START || e.type == HS_EV_LOCK_ACQUIRED) && (e.flag & kRebuilt);
    if (late && !rebuilt) r.drops.out_of_order++;
    last_processed = std::max<uint64_t>(last_processed, e.ts);
    lock.expire(e.ts);
    // Exports see the event before the lock state does, with the mode it had until then (as the sections do).
    for (auto* p : opts.passes) p->on_event(e, static_cast<int>(lock.mode_of(e.pid)));
    if (e.type > HS_EV_LOCK_RELEASED) dispatch_to_attach_points(e, static_cast<int>(lock.mode_of(e.pid)));
    switch (e.type) {
      case HS_EV_LOCK_START: lock.on_start(e, late && rebuilt); break;
      case HS_EV_LOCK_ACQUIRED: lock.on_acquired(e); break;
      case HS_EV_LOCK_RELEASED: lock.on_released(e); break;
      case HS_EV_PAGE_ALLOC:
      case HS_EV_SLAB_ALLOC:
      case HS_EV_KMALLOC:
        if (anon_vma_clone.follows(e)) anon_vma_clone.on_inferred_alloc(e, lock.task(e.pid));
        allocations.on_alloc(e, static_cast<int>(lock.mode_of(e.pid)));
        cgroups.on_alloc(e, static_cast<int>(lock.mode_of(e.pid)));
        break;
      case HS_EV_RECLAIM_BEGIN:
      case HS_EV_COMPACT_BEGIN:
        if (int mode = static_cast<int>(lock.mode_of(e.pid)); mode != 0)
          sleeping.on_begin(e, mode, e.type == HS_EV_RECLAIM_BEGIN, lock.task(e.pid));
        break;
      case HS_EV_RECLAIM_END:
      case HS_EV_COMPACT_END: sleeping.on_end(e, e.type == HS_EV_RECLAIM_END, lock.find(e.pid)); break;
      case HS_EV_LRU_DRAIN: {
        int mode = static_cast<int>(lock.mode_of(e.pid));
        lru_drains.on_work(e, mode, lock.task(e.pid));
        break;
      }
      case HS_EV_TASK_EXIT: lock.on_exit(e); break;
      case HS_EV_FN_ENTRY:
      case HS_EV_FN_EXIT:
      case HS_EV_COMPACT_TRY:
      case HS_EV_COLLAPSE:
      case HS_EV_SCAN_PMD: break;  // the attach-point sections' alone
      default: unknown_events++; break;  // an event type this analyzer does not know
    }
  }

  void feed(const hs_event& e) {
    events++;
    if (e.type == HS_EV_LOCK_HOLD) {
      // A hold the kernel wrote as one record at its release (nothing was streamed inside it): its acquisition, in its
      // place, then its release. The acquisition may come later than the reorder window (a long hold); nothing of
      // this task's within the hold needed it, and a wait behind it ends after its release, so it is found then.
      hs_event a = e;
      a.type = HS_EV_LOCK_ACQUIRED;
      a.ts = std::min<uint64_t>(e.arg, e.ts);
      a.flag = HS_ACQ_F_SUCCESS | ((e.flag & HS_HOLD_F_HAS_START) ? HS_ACQ_F_HAS_START : 0) | kRebuilt;
      a.arg = e.arg2;
      a.arg2 = 0;
      a.stack_id = -1;
      // It ends in its release or (HS_HOLD_F_DOWNGRADE) in a downgrade: the read hold that goes on ends in a release
      // record.
      hs_event rel = e;
      bool downgrade = e.flag & HS_HOLD_F_DOWNGRADE;
      rel.type = downgrade ? HS_EV_LOCK_ACQUIRED : HS_EV_LOCK_RELEASED;
      rel.write = downgrade ? 0 : e.write;
      rel.flag = downgrade ? HS_ACQ_F_SUCCESS | HS_ACQ_F_DOWNGRADE : 0;
      rel.arg = rel.arg2 = 0;
      queue(a);
      queue(rel);
    } else {
      queue(e);
    }
    while (!pending.empty() && pending.top().e.ts + opts.reorder_window_ns < max_ts) {
      hs_event top = pending.top().e;
      pending.pop();
      process(top);
    }
  }

  void queue(const hs_event& e) {
    if (e.type == HS_EV_LOCK_ACQUIRED && (e.flag & HS_ACQ_F_HAS_START)) {
      // The kernel folded the acquisition's start into its acquire event: put the start back in its place.
      hs_event s = e;
      s.type = HS_EV_LOCK_START;
      s.ts = std::min<uint64_t>(e.arg, e.ts);
      s.flag = kRebuilt;
      s.arg = 0;
      s.stack_id = -1;
      pending.push(Queued{s, seq++});
    }
    pending.push(Queued{e, seq++});
    max_ts = std::max<uint64_t>(max_ts, e.ts);
  }

  Report finish() {
    while (!pending.empty()) {
      hs_event top = pending.top().e;
      pending.pop();
      process(top);
    }
    for (auto* p : opts.passes) p->on_finish();
    r.kernel = ctx.kernel;
    r.scope = ctx.scope;
    r.command = ctx.command;
    r.cgroup_filter = ctx.cgroup_filter;
    r.duration_ns = ctx.end_ns > ctx.start_ns ? ctx.end_ns - ctx.start_ns : 0;
    r.events = events;
    lock.finish(r);
    holds_waits.finish(r);
    cgroups.finish(r);
    allocations.finish(r);
    anon_vma_clone.finish(r);
    sleeping.finish(r);
    r.drops.unmatched += unknown_events;
    r.drops.ringbuf = ctx.counters.ringbuf;
    r.drops.map_full = ctx.counters.task_map_full + ctx.counters.scope_map_full + ctx.counters.alloc_map_full;
    r.drops.untraced_processes = ctx.counters.scope_map_full;
    r.drops.stack = ctx.counters.stack;
    r.drops.held_overflow = ctx.counters.held_overflow;
    r.analyzer_state.tracked_tasks_end = tracked_tasks();
    r.analyzer_state.tracked_locks_end = tracked_locks();
    r.analyzer_state.tracked_tasks_peak = std::max(r.analyzer_state.tracked_tasks_peak, r.analyzer_state.tracked_tasks_end);
    // The attach-point section takes inferred call counts from the LRU drain and khugepaged sections: it goes last.
    lru_drains.finish(r);
    slow_path.finish(r);
    khugepaged.finish(r);
    attach_points.finish(r);
    return std::move(r);
  }
};

Analyzer::Analyzer(const TraceContext& ctx, AnalyzerOptions opts) : impl_(std::make_unique<Impl>(ctx, opts)) {}
Analyzer::~Analyzer() = default;
void Analyzer::feed(const hs_event& e) { impl_->feed(e); }
Report Analyzer::finish() { return impl_->finish(); }
size_t Analyzer::tracked_tasks() const { return impl_->tracked_tasks(); }
size_t Analyzer::tracked_locks() const { return impl_->tracked_locks(); }

Report analyze(const TraceContext& ctx, const std::vector<hs_event>& events, AnalyzerOptions opts) {
  Analyzer a(ctx, opts);
  for (const auto& e : events) a.feed(e);
  return a.finish();
}

}  // namespace holdscope
