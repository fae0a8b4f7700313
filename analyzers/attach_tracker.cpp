#include "analyzers/attach_tracker.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "analyzers/stats.h"

namespace holdscope {

namespace {

constexpr uint64_t kStaleCollapseNs = 1'000'000'000;  // an inferred collapse whose tracepoint never came
constexpr size_t kKeptCollapses = 20;
constexpr uint64_t kScanSucceed = 1;  // enum scan_result's SCAN_SUCCEED, the same in 6.1 through 6.18


struct CloneState {  // one anon_vma_clone call, direct mode
  bool root_locked = false;
  bool retry_due = false;
};

// One collapse being followed: from fentry to fexit (direct), or from the huge page allocation to the
// mm_collapse_huge_page tracepoint (inferred).
struct Collapse {
  uint32_t tid = 0;
  uint64_t mm = 0;
  uint64_t start = 0;
  int alloc_mode = -1;
  std::optional<uint64_t> status;
  std::vector<LockStep> seq;  // start_ns absolute until finalized
  std::vector<std::pair<uint64_t, uint64_t>> writes;
  std::vector<BlockedWait> blocked;
};

struct Frame {
  int slot = 0;
  int point = 0;
  int mode = 0;  // the caller's mmap_lock at entry
  uint64_t start = 0;
  bool nested = false;  // inside another frame of the same attach point
  bool queued = false;  // lru_drain: the task queued a drain work inside this call
  int drain_mode = 0;         // lru_drain: the lock mode at the call's first queued work,
  int32_t drain_stack = -1;   // and that work's stack (the sleeping-work group the analyzer put it in)
  CloneState clone;
  std::optional<Collapse> collapse;
};

struct Timed {
  uint64_t start = 0;
};

struct Episode {  // inferred slow-path entry: from its first reclaim/compaction to the allocation that follows
  int mode = 0;
};

struct Task {
  std::vector<Frame> frames;
  std::optional<Timed> reclaim, compaction;
  std::optional<Episode> episode;
  std::optional<Collapse> collapse;  // inferred
  bool idle() const { return frames.empty() && !reclaim && !compaction && !episode && !collapse; }
};

struct RecentCollapse {  // finalized, still matched against waits that end after it
  std::vector<std::pair<uint64_t, uint64_t>> writes;
  uint32_t tid = 0;
  int kept = -1;  // index in KhugepagedMm::collapses, or -1
};

struct MmAgg {
  KhugepagedMm out;
  Samples write_hold;
  std::deque<RecentCollapse> recent;
};

struct PointAgg {
  std::map<std::pair<int, int32_t>, uint64_t> stacks;  // (mode, stack id) -> count
  std::array<uint64_t, 3> calls_by_lock{};
  uint64_t calls = 0;
};

bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }

}  // namespace

struct AttachTracker::Impl {
  const TraceContext& ctx;
  Report& r;
  TrackerHooks hooks;
  std::array<bool, kAttachPoints> is_direct{};
  std::vector<int> slot_point;
  std::vector<Samples> slot_time;
  std::vector<FunctionStats> slot_stats;
  std::array<AttachPointReport, kAttachPoints> points;
  std::array<PointAgg, kAttachPoints> agg;
  std::unordered_map<uint32_t, Task> tasks;
  std::map<uint64_t, MmAgg> mms;
  // Tasks whose open collapse has taken the write lock: the only ones a completed wait must be checked against, so a
  // wait costs a look at these rather than at every tracked task. Entries whose collapse has ended are dropped lazily.
  std::unordered_set<uint32_t> writing_collapsers;

  Impl(const TraceContext& c, Report& rep, TrackerHooks h) : ctx(c), r(rep), hooks(std::move(h)) {
    for (int p = 0; p < kAttachPoints; p++) {
      points[p].name = kAttachPointNames[p];
      points[p].mode = AttachMode::unavailable;
      points[p].why = "not recorded (recording made before attach points existed)";
    }
    for (const auto& a : ctx.attach_points) {
      for (int p = 0; p < kAttachPoints; p++) {
        if (a.name != kAttachPointNames[p]) continue;
        points[p].mode = a.mode;
        points[p].why = a.why;
        is_direct[p] = a.mode == AttachMode::direct;
      }
    }
    for (const auto& fn : ctx.fn_slots) {
      int point = -1;
      for (const auto& a : ctx.attach_points)
        if (std::find(a.functions.begin(), a.functions.end(), fn) != a.functions.end())
          for (int p = 0; p < kAttachPoints; p++)
            if (a.name == kAttachPointNames[p]) point = p;
      slot_point.push_back(point);
      slot_time.emplace_back();
      slot_stats.push_back(FunctionStats{fn, 0, {}, {}});
    }
    r.khugepaged.mode = is_direct[kKhugepaged] ? AttachMode::direct : AttachMode::inferred;
    r.slow_path.mode = is_direct[kAllocSlowpath] ? AttachMode::direct : AttachMode::inferred;
    if (is_direct[kAnonVmaClone]) r.anon_vma_clone.mode = AttachMode::direct;
  }

  // By the cache's name, or by the call site where SLUB merged anon_vma_chain into a cache named after another.
  bool is_chain_alloc(const hs_event& e) const {
    if (e.type != HS_EV_SLAB_ALLOC) return false;
    auto c = ctx.caches.find(e.arg2);
    if (c != ctx.caches.end() && c->second.name == kChainCacheName) return true;
    const Symbol* s = ctx.symbols.find(e.arg3);
    return s != nullptr && s->name == kCloneFunction;
  }

  // The innermost open frame of each attach point, innermost first.
  template <typename Fn>
  void for_innermost_frames(Task& t, Fn fn) {
    std::array<bool, kAttachPoints> done{};
    for (auto it = t.frames.rbegin(); it != t.frames.rend(); ++it) {
      if (it->point < 0 || done[it->point]) continue;
      done[it->point] = true;
      fn(*it);
    }
  }

  void note_stack(int point, int mode, int32_t stack_id) {
    if (mode > 0) agg[point].stacks[{mode, stack_id}]++;
  }

  // --- direct mode: brackets -------------------------------------------------------------------------------------
  void on_entry(const hs_event& e) {
    if (e.arg >= slot_point.size()) return;
    int slot = static_cast<int>(e.arg), point = slot_point[slot];
    int mode = std::min<int>(e.flag, HS_MODE_WRITE);  // HS_MODE_*: a lock mode, not bits
    auto& t = tasks[e.pid];
    Frame f;
    f.slot = slot;
    f.point = point;
    f.start = e.ts;
    f.mode = mode;
    f.nested = std::any_of(t.frames.begin(), t.frames.end(), [&](const Frame& x) { return x.point == point; });
    auto& fs = slot_stats[slot];
    fs.calls++;
    fs.calls_by_lock[mode]++;
    if (point >= 0 && !f.nested) {
      agg[point].calls++;
      agg[point].calls_by_lock[mode]++;
      note_stack(point, mode, e.stack_id);
    }
    if (point == kLruDrain && !f.nested) {
      (mode == 0 ? r.lru_drains.calls_none : mode == 1 ? r.lru_drains.calls_read : r.lru_drains.calls_write)++;
      r.lru_drains.by_syscall[hooks.syscall(e.stack_id)][mode]++;
    }
    if (point == kKhugepaged && slot_stats[slot].name != "madvise_collapse") {
      Collapse c;
      c.tid = e.pid;
      c.mm = e.mm;
      c.start = e.ts;
      f.collapse = std::move(c);
    }
    if (point == kAllocSlowpath && !f.nested) {
      auto& s = r.slow_path.by_lock[mode];
      s.entries++;
    }
    t.frames.push_back(std::move(f));
  }

  void on_exit_fn(const hs_event& e) {
    auto it = tasks.find(e.pid);
    if (it == tasks.end()) return;
    auto& frames = it->second.frames;
    // The matching frame is the innermost of this slot; frames above it lost their exit (not expected, but a lost
    // event must not leave a bracket open for ever).
    auto f = std::find_if(frames.rbegin(), frames.rend(), [&](const Frame& x) { return x.slot == int(e.arg); });
    if (f == frames.rend()) return;
    Frame frame = std::move(*f);
    frames.erase(std::next(f).base(), frames.end());
    slot_time[frame.slot].add(e.ts - std::min<uint64_t>(e.ts, frame.start));
    if (frame.collapse) {
      Collapse& c = *frame.collapse;
      bool attempted = c.alloc_mode >= 0 || c.status || slot_stats[frame.slot].name == "collapse_huge_page";
      if (!c.status && slot_stats[frame.slot].name != "khugepaged_scan_mm_slot") c.status = e.arg2;
      if (attempted) finalize(c, e.ts);
    }
    // __alloc_pages_slowpath returns the page: NULL is a failed allocation.
    if (frame.point == kAllocSlowpath && !frame.nested && e.arg2 == 0) r.slow_path.by_lock[frame.mode].failed++;
    if (frame.point == kLruDrain && !frame.nested && frame.queued) {
      r.lru_drains.queued_calls++;
      // The time the caller spent in the drain, waiting for the other CPUs' works: only the brackets measure it.
      if (frame.drain_mode != 0 && hooks.drain_timed)
        hooks.drain_timed(frame.drain_mode, frame.drain_stack, e.ts - std::min<uint64_t>(e.ts, frame.start));
    }
    if (it->second.idle()) tasks.erase(it);
  }

  // --- khugepaged ------------------------------------------------------------------------------------------------
  Collapse* open_collapse(uint32_t tid) {
    auto it = tasks.find(tid);
    if (it == tasks.end()) return nullptr;
    if (is_direct[kKhugepaged]) {
      for (auto f = it->second.frames.rbegin(); f != it->second.frames.rend(); ++f)
        if (f->collapse) return &*f->collapse;
      return nullptr;
    }
    return it->second.collapse ? &*it->second.collapse : nullptr;
  }

  void on_huge_alloc(const hs_event& e, int mode) {
    if (!is_direct[kKhugepaged]) {
      auto& t = tasks[e.pid];
      // A new anchor: the previous one was a huge page that no collapse followed (a THP fault, say).
      t.collapse.emplace();
      t.collapse->tid = e.pid;
      t.collapse->start = e.ts;
      if (tasks.size() > 1024) drop_stale(e.ts);
    }
    Collapse* c = open_collapse(e.pid);
    if (!c || c->alloc_mode >= 0) return;
    c->alloc_mode = mode;
    c->seq.push_back(LockStep{"huge_page", lock_mode_name(mode), e.ts, 0});
    if (is_direct[kKhugepaged]) return;  // counted as an allocation inside the bracket
    points[kKhugepaged].page_allocs++;
    note_stack(kKhugepaged, mode, e.stack_id);
  }

  void drop_stale(uint64_t now) {
    for (auto it = tasks.begin(); it != tasks.end();) {
      auto& t = it->second;
      if (t.collapse && now - std::min<uint64_t>(now, t.collapse->start) > kStaleCollapseNs) t.collapse.reset();
      it = t.idle() ? tasks.erase(it) : std::next(it);
    }
  }

  void on_collapse_tp(const hs_event& e) {
    if (is_direct[kKhugepaged]) {
      if (Collapse* c = open_collapse(e.pid)) {
        c->status = e.arg;
        if (!c->mm) c->mm = e.mm;
      }
      return;
    }
    auto& t = tasks[e.pid];
    Collapse c = t.collapse ? std::move(*t.collapse) : Collapse{e.pid, e.mm, e.ts, -1, {}, {}, {}, {}};
    t.collapse.reset();
    c.mm = e.mm;
    c.status = e.arg;
    finalize(c, e.ts);
    if (t.idle()) tasks.erase(e.pid);
  }

  void on_scan_tp(const hs_event& e) {
    // In inferred mode the scan tracepoint closes a pmd's scan: an anchor older than it belonged to something else.
    if (is_direct[kKhugepaged]) return;
    auto it = tasks.find(e.pid);
    if (it == tasks.end() || !it->second.collapse) return;
    it->second.collapse.reset();
    if (it->second.idle()) tasks.erase(it);
  }

  void finalize(Collapse& c, uint64_t end) {
    auto& m = mms[c.mm];
    m.out.mm = c.mm;
    m.out.attempted++;
    bool ok = c.status && *c.status == kScanSucceed;
    if (ok) m.out.succeeded++;
    m.out.alloc_under[c.alloc_mode < 0 ? 3 : c.alloc_mode]++;
    uint64_t w = 0;
    for (const auto& [a, b] : c.writes) w += b - a;
    m.write_hold.add(w);
    m.out.blocked_waits += c.blocked.size();
    for (const auto& b : c.blocked) m.out.blocked_max_ns = std::max(m.out.blocked_max_ns, b.wait_ns);
    RecentCollapse rc{c.writes, c.tid, -1};
    if (m.out.collapses.size() < kKeptCollapses) {
      CollapseRecord rec;
      rec.tid = c.tid;
      rec.comm = hooks.comm(c.tid);
      rec.start_ns = c.start >= ctx.start_ns ? c.start - ctx.start_ns : 0;
      rec.duration_ns = end - std::min<uint64_t>(end, c.start);
      rec.succeeded = ok;
      if (c.status) {
        auto n = ctx.collapse_status.find(static_cast<int64_t>(*c.status));
        rec.result = n != ctx.collapse_status.end() ? n->second : std::to_string(*c.status);
      } else {
        rec.result = "?";
      }
      rec.alloc_under = c.alloc_mode < 0 ? "unseen" : lock_mode_name(c.alloc_mode);
      rec.write_hold_ns = w;
      for (auto s : c.seq) {
        s.start_ns = s.start_ns >= c.start ? s.start_ns - c.start : 0;
        rec.sequence.push_back(std::move(s));
      }
      rec.blocked = std::move(c.blocked);
      rc.kept = static_cast<int>(m.out.collapses.size());
      m.out.collapses.push_back(std::move(rec));
    }
    if (!rc.writes.empty()) {
      m.recent.push_back(std::move(rc));
      if (m.recent.size() > 4) m.recent.pop_front();
    }
  }

  // --- anon_vma_clone, direct ----------------------------------------------------------------------------------
  void on_clone_alloc_direct(const hs_event& e, Frame& f) {
    auto& ac = r.anon_vma_clone;
    bool may_sleep = ctx.gfp.may_sleep(e.arg);
    bool failed = e.flag & HS_ALLOC_F_FAILED;
    if (is_chain_alloc(e)) {
      if (!may_sleep) {
        ac.nowait_attempts++;
        if (failed) {
          ac.nowait_failures++;
          f.clone.retry_due = true;
          f.clone.root_locked = false;  // anon_vma_clone drops the root lock before retrying
          return;
        }
      } else if (f.clone.retry_due) {
        ac.gfp_kernel_retries++;
        f.clone.retry_due = false;
      } else if (f.clone.root_locked) {
        count_may_sleep_under_lock(e);
      }
      if (!failed) f.clone.root_locked = true;  // each chain is linked under the root lock, taken after allocating it
      return;
    }
    if (may_sleep && f.clone.root_locked) count_may_sleep_under_lock(e);
  }

  void count_may_sleep_under_lock(const hs_event& e) {
    auto& ac = r.anon_vma_clone;
    ac.may_sleep_under_lock++;
    auto st = hooks.stack(e.stack_id);
    if (ac.may_sleep_stacks.size() < 10 &&
        std::find(ac.may_sleep_stacks.begin(), ac.may_sleep_stacks.end(), st) == ac.may_sleep_stacks.end())
      ac.may_sleep_stacks.push_back(std::move(st));
  }

  // --- allocations, reclaim, compaction --------------------------------------------------------------------------
  void on_alloc(const hs_event& e, int mode) {
    bool may_sleep = ctx.gfp.may_sleep(e.arg);
    auto it = tasks.find(e.pid);
    if (it != tasks.end()) {
      for_innermost_frames(it->second, [&](Frame& f) {
        auto& p = points[f.point];
        (e.type == HS_EV_PAGE_ALLOC ? p.page_allocs : p.slab_allocs)++;
        if (may_sleep) p.may_sleep_allocs++;
        if (f.point == kAnonVmaClone && slot_stats[f.slot].name == "anon_vma_clone") on_clone_alloc_direct(e, f);
      });
      if (e.type == HS_EV_PAGE_ALLOC && it->second.episode) {
        auto& s = r.slow_path.by_lock[it->second.episode->mode];
        if (e.flag & HS_ALLOC_F_FAILED) s.failed++;
        it->second.episode.reset();
      }
    }
    if (!is_direct[kAnonVmaClone] && is_chain_alloc(e)) {
      const Symbol* s = ctx.symbols.find(e.arg3);
      if (s && s->name == "anon_vma_clone") {
        points[kAnonVmaClone].slab_allocs++;
        if (may_sleep) points[kAnonVmaClone].may_sleep_allocs++;
        note_stack(kAnonVmaClone, mode, e.stack_id);
      }
    }
    if (e.type == HS_EV_PAGE_ALLOC && e.order >= HS_HUGE_ORDER) on_huge_alloc(e, mode);
    auto t = tasks.find(e.pid);
    if (t != tasks.end() && t->second.idle()) tasks.erase(t);
  }

  void open_episode(const hs_event& e, int mode) {
    if (is_direct[kAllocSlowpath]) return;
    auto& t = tasks[e.pid];
    if (t.episode) return;
    t.episode = Episode{mode};
    r.slow_path.by_lock[mode].entries++;
    agg[kAllocSlowpath].calls++;
    agg[kAllocSlowpath].calls_by_lock[mode]++;
    note_stack(kAllocSlowpath, mode, e.stack_id);
  }

  void on_timed(const hs_event& e, int mode, bool reclaim, bool begin) {
    if (begin) {
      bool memcg = reclaim && (e.flag & HS_RECLAIM_F_MEMCG);
      if (!memcg) open_episode(e, mode);
      auto& t = tasks[e.pid];
      (reclaim ? t.reclaim : t.compaction) = Timed{e.ts};
      return;
    }
    auto it = tasks.find(e.pid);
    if (it == tasks.end()) return;
    auto& t = it->second;
    auto& slot = reclaim ? t.reclaim : t.compaction;
    if (!slot) return;
    uint64_t d = e.ts - std::min<uint64_t>(e.ts, slot->start);
    slot.reset();
    for_innermost_frames(t, [&](Frame& f) {
      auto& p = points[f.point];
      (reclaim ? p.reclaims : p.compactions)++;
      (reclaim ? p.reclaim_ns : p.compaction_ns) += d;
    });
    std::optional<int> slow_mode;
    if (t.episode) slow_mode = t.episode->mode;
    if (is_direct[kAllocSlowpath])
      for (const auto& f : t.frames)
        if (f.point == kAllocSlowpath && !f.nested) slow_mode = f.mode;
    if (slow_mode) {
      auto& s = r.slow_path.by_lock[*slow_mode];
      (reclaim ? s.reclaims : s.compactions)++;
      (reclaim ? s.reclaim_ns : s.compaction_ns) += d;
      if (!is_direct[kAllocSlowpath]) {
        auto& p = points[kAllocSlowpath];
        (reclaim ? p.reclaims : p.compactions)++;
        (reclaim ? p.reclaim_ns : p.compaction_ns) += d;
      }
    }
    if (t.idle()) tasks.erase(it);
  }

  void on_drain(const hs_event& e, int mode) {
    if (!is_direct[kLruDrain]) {
      note_stack(kLruDrain, mode, e.stack_id);
      return;
    }
    // Direct mode counts calls from the brackets; the queued works are counted by the analyzer in both modes.
    auto it = tasks.find(e.pid);
    if (it == tasks.end()) return;
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

  void on_event(const hs_event& e, int mode) {
    switch (e.type) {
      case HS_EV_FN_ENTRY: on_entry(e); break;
      case HS_EV_FN_EXIT: on_exit_fn(e); break;
      case HS_EV_PAGE_ALLOC:
      case HS_EV_SLAB_ALLOC:
      case HS_EV_KMALLOC: on_alloc(e, mode); break;
      case HS_EV_RECLAIM_BEGIN: on_timed(e, mode, true, true); break;
      case HS_EV_RECLAIM_END: on_timed(e, mode, true, false); break;
      case HS_EV_COMPACT_TRY: open_episode(e, mode); break;
      case HS_EV_COMPACT_BEGIN: on_timed(e, mode, false, true); break;
      case HS_EV_COMPACT_END: on_timed(e, mode, false, false); break;
      case HS_EV_LRU_DRAIN: on_drain(e, mode); break;
      case HS_EV_COLLAPSE: on_collapse_tp(e); break;
      case HS_EV_SCAN_PMD: on_scan_tp(e); break;
      case HS_EV_TASK_EXIT: tasks.erase(e.pid); break;
      default: break;
    }
  }

  void on_hold(uint32_t tid, uint64_t mm, bool write, uint64_t start, uint64_t end) {
    Collapse* c = open_collapse(tid);
    if (c) {
      if (!c->mm) c->mm = mm;
      if (c->mm == mm) {
        c->seq.push_back(LockStep{held_mode_name(write), "", start, end - std::min<uint64_t>(end, start)});
        if (write) {
          c->writes.emplace_back(start, end);
          writing_collapsers.insert(tid);
        }
      }
    }
    auto m = mms.find(mm);
    if (m != mms.end() && !m->second.out.tgid) {
      // The owner of the mm: the first task other than a collapser seen taking its lock.
      bool collapser = std::any_of(m->second.recent.begin(), m->second.recent.end(),
                                   [&](const RecentCollapse& rc) { return rc.tid == tid; });
      if (!collapser && !m->second.recent.empty()) {
        auto n = ctx.comms.find(tid);
        if (n != ctx.comms.end()) {
          m->second.out.tgid = n->second.tgid;
          auto leader = ctx.comms.find(n->second.tgid);
          m->second.out.comm = leader != ctx.comms.end() ? leader->second.comm : n->second.comm;
        }
      }
    }
  }

  void on_wait(uint32_t tid, uint64_t mm, bool write, uint64_t start, uint64_t end) {
    BlockedWait b{tid, hooks.comm(tid), held_mode_name(write), end - std::min<uint64_t>(end, start)};
    auto blocked_by = [&](const std::vector<std::pair<uint64_t, uint64_t>>& writes) {
      return std::any_of(writes.begin(), writes.end(), [&](const auto& w) { return overlaps(start, end, w.first, w.second); });
    };
    for (auto it = writing_collapsers.begin(); it != writing_collapsers.end();) {
      Collapse* c = open_collapse(*it);
      if (!c || c->writes.empty()) {
        it = writing_collapsers.erase(it);
        continue;
      }
      if (*it != tid && c->mm == mm && blocked_by(c->writes) && c->blocked.size() < 64) c->blocked.push_back(b);
      ++it;
    }
    auto m = mms.find(mm);
    if (m == mms.end()) return;
    for (const auto& rc : m->second.recent) {
      if (rc.tid == tid || !blocked_by(rc.writes)) continue;
      m->second.out.blocked_waits++;
      m->second.out.blocked_max_ns = std::max(m->second.out.blocked_max_ns, b.wait_ns);
      if (rc.kept >= 0 && m->second.out.collapses[rc.kept].blocked.size() < 64)
        m->second.out.collapses[rc.kept].blocked.push_back(b);
    }
  }

  void finish() {
    for (const auto& [tid, t] : tasks)
      for (const auto& f : t.frames)
        if (f.slot >= 0 && f.slot < int(slot_stats.size())) slot_stats[f.slot].open_at_end++;
    // An inferred anchor still open has no collapse tracepoint after it: a huge page that was not khugepaged's.
    for (int slot = 0; slot < int(slot_stats.size()); slot++) {
      slot_stats[slot].time_inside = slot_time[slot].summarize();
      if (slot_point[slot] >= 0) points[slot_point[slot]].functions.push_back(slot_stats[slot]);
    }
    for (int p = 0; p < kAttachPoints; p++) {
      auto& out = points[p];
      if (is_direct[p]) {
        out.calls = agg[p].calls;
        out.calls_by_lock = agg[p].calls_by_lock;
      } else if (p == kLruDrain && out.mode == AttachMode::inferred) {
        const auto& d = r.lru_drains;
        out.calls = d.calls_none + d.calls_read + d.calls_write;
        out.calls_by_lock = std::array<uint64_t, 3>{d.calls_none, d.calls_read, d.calls_write};
      } else if (p == kAllocSlowpath && out.mode == AttachMode::inferred) {
        out.calls = agg[p].calls;
        out.calls_by_lock = agg[p].calls_by_lock;
      } else if (p == kKhugepaged && out.mode == AttachMode::inferred) {
        uint64_t n = 0;
        for (const auto& [mm, m] : mms) n += m.out.attempted;
        out.calls = n;
      }
      std::vector<std::pair<uint64_t, std::pair<int, int32_t>>> st;
      for (const auto& [k, n] : agg[p].stacks) st.emplace_back(n, k);
      std::sort(st.begin(), st.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      for (size_t i = 0; i < st.size() && i < 5; i++)
        out.held_lock_stacks.push_back(StackCount{lock_mode_name(st[i].second.first), st[i].first, hooks.stack(st[i].second.second)});
      r.attach_points.push_back(std::move(out));
    }
    for (auto& [mm, m] : mms) {
      m.out.write_hold = m.write_hold.summarize();
      r.khugepaged.mms.push_back(std::move(m.out));
    }
  }
};

AttachTracker::AttachTracker(const TraceContext& ctx, Report& r, TrackerHooks hooks)
    : impl_(std::make_unique<Impl>(ctx, r, std::move(hooks))) {}
AttachTracker::~AttachTracker() = default;
bool AttachTracker::direct(AttachPoint p) const { return impl_->is_direct[p]; }
void AttachTracker::on_event(const hs_event& e, int mode) { impl_->on_event(e, mode); }
void AttachTracker::on_hold(uint32_t tid, uint64_t mm, bool write, uint64_t start, uint64_t end) {
  impl_->on_hold(tid, mm, write, start, end);
}
void AttachTracker::on_wait(uint32_t tid, uint64_t mm, bool write, uint64_t start, uint64_t end) {
  impl_->on_wait(tid, mm, write, start, end);
}
void AttachTracker::finish() { impl_->finish(); }
size_t AttachTracker::tracked() const { return impl_->tasks.size(); }

}  // namespace holdscope
