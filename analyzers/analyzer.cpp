#include "analyzers/analyzer.h"

#include "analyzers/attach_tracker.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <string_view>
#include <tuple>

namespace holdscope {

namespace {

// Frames the tracing machinery adds on top of every stack; they say nothing about who took the lock.
bool is_tracing_frame(std::string_view name) {
  static constexpr std::string_view prefixes[] = {"bpf_",          "__bpf_",         "perf_",
                                                  "__perf_",       "trace_",         "__trace_",
                                                  "__traceiter_",  "__mmap_lock_do_trace", "0x"};
  for (auto p : prefixes)
    if (name.substr(0, p.size()) == p) return true;
  return false;
}

// The queue_work calls of one lru_add_drain_all come within microseconds on real CPUs, but a vCPU its host stalls
// (an emulated guest switching vCPUs) can spread them over tens of milliseconds: within this, works in ascending CPU
// order are one call.
constexpr uint64_t kDrainBurstNs = 100'000'000;
// Holds kept after their release, per mm, to name the holders of a wait whose start arrives after the reorder window
// has passed it (a start folded into a late acquire event): the long holds of the last seconds, which are what a long
// wait waits behind.
constexpr uint64_t kPastHoldMinNs = 100'000;
constexpr uint64_t kPastHoldKeepNs = 10'000'000'000;
constexpr size_t kPastHoldsPerMm = 64;
constexpr uint8_t kRebuilt = 0x80;  // flag of a start or acquire event the analyzer rebuilt from a later record

struct Hold {
  uint64_t mm;
  bool write;
  uint64_t start;
  int32_t stack_id;
};

struct PastHold {
  TaskRef who;
  uint64_t start, end;
};

struct PendingWait {
  uint64_t mm;
  bool write;
  uint64_t start;
  std::vector<TaskRef> holders;
};

struct Timed {
  uint64_t start;
  int32_t stack_id;
  bool write;
  bool memcg;
};

struct TaskState {
  std::vector<Hold> holds;
  std::optional<PendingWait> wait;
  std::optional<Timed> reclaim;
  std::optional<Timed> compaction;
  uint64_t last_drain_ts = 0;
  uint32_t last_drain_cpu = 0;
  int last_drain_mode = -1;
  bool clone_retry_due = false;  // a NOWAIT anon_vma_chain try in anon_vma_clone failed: a GFP_KERNEL retry may follow
  // Nothing in flight: the entry can go, so per-task state stays proportional to tasks active at once.
  bool idle(uint64_t now) const {
    return holds.empty() && !wait && !reclaim && !compaction && !clone_retry_due &&
           (last_drain_mode < 0 || now - std::min(now, last_drain_ts) >= kDrainBurstNs);
  }
  bool holds_write() const {
    return std::any_of(holds.begin(), holds.end(), [](const Hold& h) { return h.write; });
  }
};

struct ProcSamples {
  Samples hold_r, hold_w, wait_r, wait_w;
};

struct AllocKey {
  int kind;
  bool write;
  uint32_t order;
  std::string cache;
  uint64_t gfp;
  int32_t stack;
  bool operator<(const AllocKey& o) const {
    return std::tie(kind, write, order, cache, gfp, stack) < std::tie(o.kind, o.write, o.order, o.cache, o.gfp, o.stack);
  }
};

// Sleeping work under the lock, by kind; the order of kSleepKindNames.
enum SleepKind { kSleepReclaim = 0, kSleepCompaction = 1, kSleepLruDrain = 2 };
constexpr const char* kSleepKindNames[] = {"direct_reclaim", "compaction", "lru_drain"};

struct SleepKey {
  int kind;
  int mode;
  bool memcg;
  int32_t stack;
  bool operator<(const SleepKey& o) const {
    return std::tie(kind, mode, memcg, stack) < std::tie(o.kind, o.mode, o.memcg, o.stack);
  }
};

struct AllocAgg {
  uint64_t count = 0, bytes = 0, failed = 0;
};
struct SleepAgg {
  uint64_t count = 0, total_ns = 0, works = 0;
};

struct Queued {
  hs_event e;
  uint64_t seq;
};
struct QueuedLater {
  bool operator()(const Queued& a, const Queued& b) const {
    return a.e.ts != b.e.ts ? a.e.ts > b.e.ts : a.seq > b.seq;
  }
};

const char* mode_name(int m) { return m == 2 ? "write" : m == 1 ? "read" : "none"; }

}  // namespace

struct Analyzer::Impl {
  const TraceContext& ctx;
  AnalyzerOptions opts;
  std::priority_queue<Queued, std::vector<Queued>, QueuedLater> pending;
  uint64_t seq = 0;
  uint64_t max_ts = 0;
  uint64_t last_processed = 0;
  uint64_t events = 0;
  uint64_t processed = 0;

  std::unordered_map<uint32_t, TaskState> tasks;
  std::unordered_map<uint64_t, std::vector<TaskRef>> holders_by_mm;
  std::unordered_map<uint64_t, std::vector<uint32_t>> waiters_by_mm;
  std::unordered_set<uint64_t> seen;  // hashes of (tid, mm) with any lock event: tells carried-in holds from losses
  std::unordered_map<uint64_t, std::deque<PastHold>> past_by_mm;
  uint64_t next_sweep = 0;

  Samples hold_r, hold_w, wait_r, wait_w;
  std::unordered_map<uint32_t, ProcSamples> procs;
  std::vector<HoldRecord> longest_holds;
  std::vector<WaitRecord> longest_waits;
  std::map<AllocKey, AllocAgg> allocs;
  std::map<SleepKey, SleepAgg> sleeps;
  std::map<std::tuple<std::string, std::string, bool>, std::pair<uint64_t, uint64_t>> blocked_by;
  Report r;
  AttachTracker tracker;

  Impl(const TraceContext& c, AnalyzerOptions o)
      : ctx(c),
        opts(o),
        tracker(c, r,
                TrackerHooks{[this](int32_t id) { return stack_of(id); }, [this](int32_t id) { return syscall_of(id); },
                             [this](uint32_t tid) { return comm_of(tid); },
                             [this](int mode, int32_t stack, uint64_t ns) {
                               sleeps[SleepKey{kSleepLruDrain, mode, false, stack}].total_ns += ns;
                             }}) {}

  size_t tracked_tasks() const { return tasks.size() + tracker.tracked(); }
  size_t tracked_locks() const { return holders_by_mm.size() + waiters_by_mm.size() + past_by_mm.size(); }

  static uint64_t seen_key(uint32_t tid, uint64_t mm) { return mm * 1000003ull ^ tid; }

  std::string comm_of(uint32_t tid) const {
    auto it = ctx.comms.find(tid);
    return it == ctx.comms.end() ? std::string() : it->second.comm;
  }
  TaskRef ref(const hs_event& e, bool write) const { return TaskRef{e.pid, e.tgid, comm_of(e.pid), write}; }

  uint64_t rel(uint64_t ts) const { return ts >= ctx.start_ns ? ts - ctx.start_ns : 0; }

  uint64_t longest_holds_min() const {
    uint64_t m = UINT64_MAX;
    for (const auto& h : longest_holds) m = std::min(m, h.duration_ns);
    return m;
  }

  template <typename Rec>
  void keep_longest(std::vector<Rec>& v, Rec rec) {
    if (opts.top == 0) return;
    if (v.size() < opts.top) {
      v.push_back(std::move(rec));
      return;
    }
    auto min = std::min_element(v.begin(), v.end(),
                                [](const Rec& a, const Rec& b) { return a.duration_ns < b.duration_ns; });
    if (min->duration_ns < rec.duration_ns) *min = std::move(rec);
  }

  void remove_holder(uint64_t mm, uint32_t tid) {
    auto it = holders_by_mm.find(mm);
    if (it == holders_by_mm.end()) return;
    auto& v = it->second;
    auto h = std::find_if(v.begin(), v.end(), [tid](const TaskRef& t) { return t.tid == tid; });
    if (h != v.end()) v.erase(h);
    if (v.empty()) holders_by_mm.erase(it);
  }

  void remove_waiter(uint64_t mm, uint32_t tid) {
    auto it = waiters_by_mm.find(mm);
    if (it == waiters_by_mm.end()) return;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), tid), v.end());
    if (v.empty()) waiters_by_mm.erase(it);
  }

  void add_holder(uint64_t mm, const TaskRef& t) {
    holders_by_mm[mm].push_back(t);
    // Everyone already waiting on this lock waited, in part, behind this task.
    auto w = waiters_by_mm.find(mm);
    if (w == waiters_by_mm.end()) return;
    for (uint32_t wt : w->second) {
      if (wt == t.tid) continue;
      auto ts = tasks.find(wt);
      if (ts == tasks.end() || !ts->second.wait) continue;
      auto& hs = ts->second.wait->holders;
      if (std::none_of(hs.begin(), hs.end(), [&](const TaskRef& x) { return x.tid == t.tid; }) && hs.size() < 8)
        hs.push_back(t);
    }
  }

  void end_hold(const hs_event& e, const Hold& h, uint64_t end) {
    uint64_t d = end - std::min<uint64_t>(end, h.start);
    if (d >= kPastHoldMinNs) {
      auto& q = past_by_mm[h.mm];
      q.push_back(PastHold{ref(e, h.write), h.start, end});
      if (q.size() > kPastHoldsPerMm) q.pop_front();
    }
    tracker.on_hold(e.pid, h.mm, h.write, h.start, end);
    auto& p = procs[e.tgid];
    if (h.write) {
      hold_w.add(d);
      p.hold_w.add(d);
    } else {
      hold_r.add(d);
      p.hold_r.add(d);
    }
    // The acquisition's stack when it was taken, else the one taken at the release of a long hold.
    int32_t stack = h.stack_id >= 0 ? h.stack_id : (e.type == HS_EV_LOCK_RELEASED ? e.stack_id : -1);
    if (longest_holds.size() < opts.top || d > longest_holds_min())
      keep_longest(longest_holds, HoldRecord{ref(e, h.write), h.mm, rel(h.start), d, stack_of(stack)});
  }

  std::vector<std::string> stack_of(int32_t id) const {
    std::vector<std::string> out;
    if (id < 0) return out;
    auto it = ctx.stacks.find(id);
    if (it == ctx.stacks.end()) return out;
    bool leading = true;
    for (uint64_t a : it->second) {
      std::string s = ctx.symbols.resolve(a);
      if (leading && is_tracing_frame(s)) continue;
      leading = false;
      out.push_back(std::move(s));
    }
    return out;
  }

  // The system call a kernel stack was entered by: __x64_sys_mbind / __do_sys_mbind -> "mbind"; where the syscall
  // stub tail-called its worker (x86 __x64_sys_mbind -> kernel_mbind), the kernel_/ksys_ frame names it.
  std::string syscall_of(int32_t stack_id) const {
    auto frames = stack_of(stack_id);
    for (const auto& prefixes : {std::vector<std::string_view>{"__x64_sys_", "__do_sys_", "__se_sys_", "__ia32_sys_"},
                                 std::vector<std::string_view>{"kernel_", "ksys_"}}) {
      for (const auto& f : frames) {
        for (std::string_view p : prefixes) {
          if (f.compare(0, p.size(), p) != 0) continue;
          std::string name = f.substr(p.size());
          return name.substr(0, name.find('+'));
        }
      }
    }
    return "?";
  }

  // late: processed after later events (a rebuilt start beyond the reorder window): holds that began and ended since
  // its timestamp were missed by add_holder, so they are taken from the recent past.
  void on_start(const hs_event& e, bool late) {
    auto& t = tasks[e.pid];
    if (t.wait) {
      r.drops.unmatched++;  // the previous attempt never returned
      remove_waiter(t.wait->mm, e.pid);
    }
    PendingWait w{e.mm, e.write != 0, e.ts, {}};
    auto add = [&](const TaskRef& h) {
      if (h.tid != e.pid && w.holders.size() < 8 &&
          std::none_of(w.holders.begin(), w.holders.end(), [&](const TaskRef& x) { return x.tid == h.tid; }))
        w.holders.push_back(h);
    };
    if (late)
      if (auto p = past_by_mm.find(e.mm); p != past_by_mm.end())
        for (const auto& h : p->second)
          if (h.end > e.ts) add(h.who);
    if (auto it = holders_by_mm.find(e.mm); it != holders_by_mm.end())
      for (const auto& h : it->second) add(h);
    t.wait = std::move(w);
    waiters_by_mm[e.mm].push_back(e.pid);
    seen.insert(seen_key(e.pid, e.mm));
  }

  void on_acquired(const hs_event& e) {
    auto& t = tasks[e.pid];
    bool write = e.write != 0;
    bool success = e.flag & HS_ACQ_F_SUCCESS;
    bool has_wait = t.wait && t.wait->mm == e.mm;
    auto held = std::find_if(t.holds.begin(), t.holds.end(), [&](const Hold& h) { return h.mm == e.mm; });

    // mmap_write_downgrade: acquire_returned(read) with no start_locking, while this task holds the write lock.
    if (success && !write && !has_wait && held != t.holds.end() && held->write) {
      end_hold(e, *held, e.ts);
      held->write = false;
      held->start = e.ts;
      for (auto& h : holders_by_mm[e.mm])
        if (h.tid == e.pid) h.write = false;
      r.downgrades++;
      seen.insert(seen_key(e.pid, e.mm));
      return;
    }
    if (t.wait && !has_wait) {
      r.drops.unmatched++;
      remove_waiter(t.wait->mm, e.pid);
      t.wait.reset();
    }
    if (has_wait) {
      remove_waiter(e.mm, e.pid);
      if (success) {
        uint64_t d = e.ts - std::min<uint64_t>(e.ts, t.wait->start);
        auto& p = procs[e.tgid];
        (write ? wait_w : wait_r).add(d);
        (write ? p.wait_w : p.wait_r).add(d);
        for (const auto& h : t.wait->holders) {
          auto& b = blocked_by[{comm_of(e.pid), h.comm, h.write}];
          b.first++;
          b.second += d;
        }
        keep_longest(longest_waits, WaitRecord{ref(e, write), e.mm, rel(t.wait->start), d, t.wait->holders});
        tracker.on_wait(e.pid, e.mm, write, t.wait->start, e.ts);
      }
      t.wait.reset();
    } else if (seen.count(seen_key(e.pid, e.mm))) {
      r.drops.unmatched++;  // its start_locking was lost
    }
    seen.insert(seen_key(e.pid, e.mm));
    if (!success) {
      (write ? r.trylock_failures_write : r.trylock_failures_read)++;
      return;
    }
    t.holds.push_back(Hold{e.mm, write, e.ts, e.stack_id});
    add_holder(e.mm, ref(e, write));
  }

  void on_released(const hs_event& e) {
    auto it = tasks.find(e.pid);
    bool found = false;
    if (it != tasks.end()) {
      auto& hs = it->second.holds;
      auto h = std::find_if(hs.begin(), hs.end(), [&](const Hold& x) { return x.mm == e.mm; });
      if (h != hs.end()) {
        end_hold(e, *h, e.ts);
        hs.erase(h);
        remove_holder(e.mm, e.pid);
        found = true;
      }
    }
    if (!found) {
      if (seen.count(seen_key(e.pid, e.mm)))
        r.drops.unmatched++;
      else
        r.holds_open_at_start++;
    }
    seen.insert(seen_key(e.pid, e.mm));
    if (it != tasks.end() && it->second.idle(e.ts)) tasks.erase(it);
  }

  // 0: no lock, 1: read, 2: write.
  int mode_of(uint32_t tid) const {
    auto it = tasks.find(tid);
    if (it == tasks.end() || it->second.holds.empty()) return 0;
    return it->second.holds_write() ? 2 : 1;
  }

  // Told by the call site, which is the same on every kernel, and not by the cache's name: where SLUB merges caches
  // (CONFIG_SLAB_MERGE_DEFAULT, slab_merge), anon_vma_chain's objects come from a cache named after another, such as
  // kmalloc-cg-64. anon_vma_clone allocates nothing but chains.
  bool is_clone_chain_alloc(uint64_t /*cache*/, uint64_t call_site) const {
    const Symbol* s = ctx.symbols.find(call_site);
    return s != nullptr && s->name == kCloneFunction;
  }
  bool is_clone_chain_alloc(const hs_event& e) const {
    return e.type == HS_EV_SLAB_ALLOC && is_clone_chain_alloc(e.arg2, e.arg3);
  }

  // The kernel streams anon_vma_clone's failed NOWAIT tries and its may-sleep allocations (the inference needs their
  // order) and counts the NOWAIT tries that succeed.
  void add_counted_clone_tries(const AllocCount& a) {
    if (tracker.direct(kAnonVmaClone) || a.kind != HS_ALLOC_SLAB || ctx.gfp.may_sleep(a.gfp) ||
        !is_clone_chain_alloc(a.what, a.site))
      return;
    r.anon_vma_clone.nowait_attempts += a.count;
    r.anon_vma_clone.nowait_failures += a.failed;
  }

  void on_clone_alloc(const hs_event& e) {
    auto& t = tasks[e.pid];
    auto& ac = r.anon_vma_clone;
    if (!ctx.gfp.may_sleep(e.arg)) {
      ac.nowait_attempts++;
      if (e.flag & HS_ALLOC_F_FAILED) {
        ac.nowait_failures++;
        t.clone_retry_due = true;
      }
      return;
    }
    if (t.clone_retry_due) {
      ac.gfp_kernel_retries++;
      t.clone_retry_due = false;
      return;
    }
    ac.may_sleep_under_lock++;
    auto st = stack_of(e.stack_id);
    if (ac.may_sleep_stacks.size() < 10 &&
        std::find(ac.may_sleep_stacks.begin(), ac.may_sleep_stacks.end(), st) == ac.may_sleep_stacks.end())
      ac.may_sleep_stacks.push_back(std::move(st));
  }

  void on_alloc(const hs_event& e) {
    if (!tracker.direct(kAnonVmaClone) && is_clone_chain_alloc(e)) on_clone_alloc(e);
    int mode = mode_of(e.pid);
    if (mode == 0) return;  // the kernel's view said held, ours says not: ordering at a hold's edge; not under lock
    int kind = e.type == HS_EV_PAGE_ALLOC ? HS_ALLOC_PAGE : e.type == HS_EV_SLAB_ALLOC ? HS_ALLOC_SLAB : HS_ALLOC_KMALLOC;
    add_allocs(kind, mode == 2, kind == HS_ALLOC_PAGE ? e.order : e.arg2, e.arg, e.stack_id, 1,
               e.flag & HS_ALLOC_F_FAILED);
  }

  // n allocations of one kind under the lock, failed of them failed; what: the order, cache pointer or bytes.
  void add_allocs(int kind, bool write, uint64_t what, uint64_t gfp, int32_t stack, uint64_t n, uint64_t failed) {
    AllocKey k{kind == HS_ALLOC_PAGE ? 0 : 1, write, 0, {}, gfp, stack};
    uint64_t bytes = 0;
    if (kind == HS_ALLOC_PAGE) {
      k.order = static_cast<uint32_t>(what);
      bytes = what < 64 ? ctx.page_size << what : 0;  // an order no kernel has comes only from a damaged recording
    } else if (kind == HS_ALLOC_SLAB) {
      auto c = ctx.caches.find(what);
      if (c != ctx.caches.end()) {
        k.cache = c->second.name;
        bytes = c->second.size;
      } else {
        k.cache = "?";
      }
    } else {
      k.cache = "kmalloc-" + std::to_string(what);
      bytes = what;
    }
    auto& a = allocs[k];
    a.count += n;
    a.failed += failed;
    a.bytes += (n - std::min(n, failed)) * bytes;
  }

  void on_timed_begin(const hs_event& e, bool reclaim) {
    int mode = mode_of(e.pid);
    if (mode == 0) return;
    auto& t = tasks[e.pid];
    auto& slot = reclaim ? t.reclaim : t.compaction;
    if (slot) r.drops.unmatched++;
    slot = Timed{e.ts, e.stack_id, mode == 2, (e.flag & HS_RECLAIM_F_MEMCG) != 0};
  }

  void on_timed_end(const hs_event& e, bool reclaim) {
    auto it = tasks.find(e.pid);
    if (it == tasks.end()) return;
    auto& slot = reclaim ? it->second.reclaim : it->second.compaction;
    if (!slot) return;  // began before the hold, or before the trace: not work under the lock
    auto& a = sleeps[SleepKey{reclaim ? kSleepReclaim : kSleepCompaction, slot->write ? 2 : 1, slot->memcg, slot->stack_id}];
    a.count++;
    a.total_ns += e.ts - std::min<uint64_t>(e.ts, slot->start);
    slot.reset();
  }

  void on_drain(const hs_event& e) {
    int mode = mode_of(e.pid);
    auto& t = tasks[e.pid];
    r.lru_drains.works++;
    // One lru_add_drain_all queues its works in ascending CPU order (for_each_online_cpu) within microseconds: a
    // work for a CPU at or below the previous one starts the next call.
    bool same_call = t.last_drain_mode == mode && e.ts - std::min<uint64_t>(e.ts, t.last_drain_ts) < kDrainBurstNs &&
                     e.target_cpu > t.last_drain_cpu;
    t.last_drain_ts = e.ts;
    t.last_drain_cpu = e.target_cpu;
    t.last_drain_mode = mode;
    if (mode != 0) {
      auto& a = sleeps[SleepKey{kSleepLruDrain, mode, false, e.stack_id}];
      a.works++;
      if (!same_call) a.count++;
    }
    if (!same_call) r.lru_drains.inferred_calls++;
    if (same_call || tracker.direct(kLruDrain)) return;  // direct mode counts calls from the fentry brackets
    (mode == 0 ? r.lru_drains.calls_none : mode == 1 ? r.lru_drains.calls_read : r.lru_drains.calls_write)++;
    r.lru_drains.by_syscall[syscall_of(e.stack_id)][mode]++;
  }

  void on_exit(const hs_event& e) {
    auto it = tasks.find(e.pid);
    if (it == tasks.end()) return;
    // A hold still open when its task exits lost its release: count it, and let nobody wait behind it any longer.
    for (const auto& h : it->second.holds) {
      r.drops.unmatched++;
      remove_holder(h.mm, e.pid);
    }
    if (it->second.wait) {
      r.drops.unmatched++;
      remove_waiter(it->second.wait->mm, e.pid);
    }
    tasks.erase(it);
  }

  void sweep_past(uint64_t now) {
    for (auto it = past_by_mm.begin(); it != past_by_mm.end();) {
      auto& q = it->second;
      while (!q.empty() && q.front().end + kPastHoldKeepNs < now) q.pop_front();
      it = q.empty() ? past_by_mm.erase(it) : std::next(it);
    }
    next_sweep = now + 1'000'000'000;
  }

  void process(const hs_event& e) {
    if ((++processed & 1023) == 0)
      r.analyzer_state.tracked_tasks_peak = std::max<uint64_t>(r.analyzer_state.tracked_tasks_peak, tracked_tasks());
    bool late = e.ts < last_processed;
    bool rebuilt = (e.type == HS_EV_LOCK_START || e.type == HS_EV_LOCK_ACQUIRED) && (e.flag & kRebuilt);
    if (late && !rebuilt) r.drops.out_of_order++;
    last_processed = std::max<uint64_t>(last_processed, e.ts);
    if (e.ts >= next_sweep) sweep_past(e.ts);
    if (e.type > HS_EV_LOCK_RELEASED) tracker.on_event(e, mode_of(e.pid));
    switch (e.type) {
      case HS_EV_LOCK_START: on_start(e, late && rebuilt); break;
      case HS_EV_LOCK_ACQUIRED: on_acquired(e); break;
      case HS_EV_LOCK_RELEASED: on_released(e); break;
      case HS_EV_PAGE_ALLOC:
      case HS_EV_SLAB_ALLOC:
      case HS_EV_KMALLOC: on_alloc(e); break;
      case HS_EV_RECLAIM_BEGIN: on_timed_begin(e, true); break;
      case HS_EV_RECLAIM_END: on_timed_end(e, true); break;
      case HS_EV_COMPACT_BEGIN: on_timed_begin(e, false); break;
      case HS_EV_COMPACT_END: on_timed_end(e, false); break;
      case HS_EV_LRU_DRAIN: on_drain(e); break;
      case HS_EV_TASK_EXIT: on_exit(e); break;
      case HS_EV_FN_ENTRY:
      case HS_EV_FN_EXIT:
      case HS_EV_COMPACT_TRY:
      case HS_EV_COLLAPSE:
      case HS_EV_SCAN_PMD: break;  // the attach tracker's alone
      default: r.drops.unmatched++; break;  // an event type this analyzer does not know
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
      hs_event r = e;
      bool downgrade = e.flag & HS_HOLD_F_DOWNGRADE;
      r.type = downgrade ? HS_EV_LOCK_ACQUIRED : HS_EV_LOCK_RELEASED;
      r.write = downgrade ? 0 : e.write;
      r.flag = downgrade ? HS_ACQ_F_SUCCESS | HS_ACQ_F_DOWNGRADE : 0;
      r.arg = r.arg2 = 0;
      queue(a);
      queue(r);
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
    for (const auto& [tid, t] : tasks) r.holds_open_at_end += t.holds.size();

    r.kernel = ctx.kernel;
    r.scope = ctx.scope;
    r.command = ctx.command;
    r.duration_ns = ctx.end_ns > ctx.start_ns ? ctx.end_ns - ctx.start_ns : 0;
    r.events = events;
    r.holds = {hold_r.summarize(), hold_w.summarize()};
    r.waits = {wait_r.summarize(), wait_w.summarize()};
    for (auto& [tgid, p] : procs) {
      ProcessStats ps;
      ps.tgid = tgid;
      auto c = ctx.comms.find(tgid);
      if (c != ctx.comms.end()) {
        ps.comm = c->second.comm;
      } else {
        for (const auto& [tid, tn] : ctx.comms)
          if (tn.tgid == tgid) {
            ps.comm = tn.comm;
            break;
          }
      }
      ps.holds = {p.hold_r.summarize(), p.hold_w.summarize()};
      ps.waits = {p.wait_r.summarize(), p.wait_w.summarize()};
      r.processes.push_back(std::move(ps));
    }
    std::sort(r.processes.begin(), r.processes.end(), [](const ProcessStats& a, const ProcessStats& b) {
      return a.holds.read.total_ns + a.holds.write.total_ns > b.holds.read.total_ns + b.holds.write.total_ns;
    });
    auto by_duration = [](const auto& a, const auto& b) { return a.duration_ns > b.duration_ns; };
    std::sort(longest_holds.begin(), longest_holds.end(), by_duration);
    std::sort(longest_waits.begin(), longest_waits.end(), by_duration);
    r.longest_holds = std::move(longest_holds);
    r.longest_waits = std::move(longest_waits);
    for (const auto& [k, v] : blocked_by)
      r.waits_blocked_by.push_back(BlockedBy{std::get<0>(k), std::get<1>(k), held_mode_name(std::get<2>(k)), v.first, v.second});
    std::sort(r.waits_blocked_by.begin(), r.waits_blocked_by.end(),
              [](const BlockedBy& a, const BlockedBy& b) { return a.total_ns > b.total_ns; });

    for (const auto& a : ctx.alloc_counts) {
      add_allocs(a.kind, a.mode == 2, a.what, a.gfp, a.stack_id, a.count, a.failed);
      add_counted_clone_tries(a);
    }
    for (const auto& [k, a] : allocs) {
      AllocGroup g;
      g.kind = k.kind == 0 ? "page" : "slab";
      g.mode = held_mode_name(k.write);
      g.order = k.order;
      g.cache = k.cache;
      g.gfp_value = k.gfp;
      g.gfp = ctx.gfp.decode(k.gfp);
      g.may_sleep = ctx.gfp.may_sleep(k.gfp);
      g.count = a.count;
      g.bytes = a.bytes;
      g.failed = a.failed;
      g.stack = stack_of(k.stack);
      r.allocations.push_back(std::move(g));
    }
    std::stable_sort(r.allocations.begin(), r.allocations.end(),
                     [](const AllocGroup& a, const AllocGroup& b) { return a.count > b.count; });
    for (const auto& [k, a] : sleeps) {
      SleepGroup g;
      g.kind = kSleepKindNames[k.kind];
      g.mode = mode_name(k.mode);
      g.memcg = k.memcg;
      g.count = a.count;
      g.total_ns = a.total_ns;
      g.works = a.works;
      g.stack = stack_of(k.stack);
      r.sleeping.push_back(std::move(g));
    }
    std::stable_sort(r.sleeping.begin(), r.sleeping.end(), [](const SleepGroup& a, const SleepGroup& b) {
      return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.count > b.count;
    });
    r.drops.ringbuf = ctx.counters.ringbuf;
    r.drops.map_full = ctx.counters.task_map_full + ctx.counters.scope_map_full + ctx.counters.alloc_map_full;
    r.drops.untraced_processes = ctx.counters.scope_map_full;
    r.drops.stack = ctx.counters.stack;
    r.drops.held_overflow = ctx.counters.held_overflow;
    r.analyzer_state.tracked_tasks_end = tracked_tasks();
    r.analyzer_state.tracked_locks_end = tracked_locks();
    r.analyzer_state.tracked_tasks_peak = std::max(r.analyzer_state.tracked_tasks_peak, r.analyzer_state.tracked_tasks_end);
    tracker.finish();
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
