#include "analyzers/perfetto_trace.h"

#include <algorithm>
#include <map>
#include <set>

namespace holdscope {

namespace {

constexpr uint64_t kFnKeyBase = 1000;  // open-child keys: event types below, kFnKeyBase + slot for kernel functions
constexpr int kWriteMode = static_cast<int>(LockMode::write);

double micros(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

template <typename T, typename Dur>
void keep_longest(std::vector<T>& heap, size_t limit, T item, Dur dur) {
  auto shorter_first = [&](const T& a, const T& b) { return dur(a) > dur(b); };  // min-heap on duration
  if (limit == 0) return;
  if (heap.size() < limit) {
    heap.push_back(std::move(item));
    std::push_heap(heap.begin(), heap.end(), shorter_first);
  } else if (dur(item) > dur(heap.front())) {
    std::pop_heap(heap.begin(), heap.end(), shorter_first);
    heap.back() = std::move(item);
    std::push_heap(heap.begin(), heap.end(), shorter_first);
  }
}

}  // namespace

void PerfettoTrace::add_child(TaskInHold& t, Child c) {
  bool slice = c.kind == ChildKind::slice;
  size_t& kept = slice ? t.slices : t.instants;
  if (kept >= (slice ? limits_.max_slices_per_hold : limits_.max_instants_per_hold)) {
    t.children_dropped++;
    return;
  }
  kept++;
  t.children.push_back(std::move(c));
}

void PerfettoTrace::open_child(TaskInHold& t, uint64_t key, std::string name, uint64_t ts, nlohmann::json args) {
  t.open[key] = OpenChild{std::move(name), ts, std::move(args)};
}

void PerfettoTrace::close_child(TaskInHold& t, uint64_t key, uint64_t ts) {
  auto it = t.open.find(key);
  if (it == t.open.end()) return;  // began before the hold: not the hold's
  add_child(t, Child{ChildKind::slice, std::move(it->second.name), it->second.start, ts, std::move(it->second.args)});
  t.open.erase(it);
}

void PerfettoTrace::on_event(const hs_event& e, int mode) {
  if (mode == 0) return;  // only what happens under the lock is drawn
  TaskInHold& t = in_hold_[e.pid];
  switch (e.type) {
    case HS_EV_PAGE_ALLOC:
    case HS_EV_SLAB_ALLOC:
    case HS_EV_KMALLOC: {
      bool sleeps = ctx_.gfp.may_sleep(e.arg);
      t.allocations++;
      t.may_sleep_allocations += sleeps;
      std::string what = e.type == HS_EV_PAGE_ALLOC ? "page order " + std::to_string(e.order)
                         : e.type == HS_EV_KMALLOC  ? "kmalloc " + std::to_string(e.arg2)
                                                    : "slab";
      if (e.type == HS_EV_SLAB_ALLOC)
        if (auto c = ctx_.caches.find(e.arg2); c != ctx_.caches.end()) what = "slab " + c->second.name;
      add_child(t, Child{ChildKind::instant, "alloc " + what, e.ts, e.ts,
                         {{"gfp", ctx_.gfp.decode(e.arg)}, {"may_sleep", sleeps},
                          {"failed", (e.flag & HS_ALLOC_F_FAILED) != 0}}});
      break;
    }
    case HS_EV_RECLAIM_BEGIN:
      open_child(t, HS_EV_RECLAIM_BEGIN, (e.flag & HS_RECLAIM_F_MEMCG) ? "memcg reclaim" : "direct reclaim", e.ts,
                 {{"order", e.order}, {"gfp", ctx_.gfp.decode(e.arg)}});
      break;
    case HS_EV_RECLAIM_END: close_child(t, HS_EV_RECLAIM_BEGIN, e.ts); break;
    case HS_EV_COMPACT_BEGIN: open_child(t, HS_EV_COMPACT_BEGIN, "compaction", e.ts, nlohmann::json::object()); break;
    case HS_EV_COMPACT_END: close_child(t, HS_EV_COMPACT_BEGIN, e.ts); break;
    case HS_EV_COMPACT_TRY:
      add_child(t, Child{ChildKind::instant, "slow path: try to compact", e.ts, e.ts, {{"order", e.order}}});
      break;
    case HS_EV_LRU_DRAIN:
      add_child(t, Child{ChildKind::instant, "LRU drain queued", e.ts, e.ts, {{"target_cpu", e.target_cpu}}});
      break;
    case HS_EV_COLLAPSE: {
      auto s = ctx_.collapse_status.find(static_cast<int64_t>(e.arg));
      add_child(t, Child{ChildKind::instant, "khugepaged collapse", e.ts, e.ts,
                         {{"status", s != ctx_.collapse_status.end() ? s->second : std::to_string(e.arg)}}});
      break;
    }
    case HS_EV_SCAN_PMD: {
      auto s = ctx_.collapse_status.find(static_cast<int64_t>(e.arg));
      add_child(t, Child{ChildKind::instant, "khugepaged scan pmd", e.ts, e.ts,
                         {{"status", s != ctx_.collapse_status.end() ? s->second : std::to_string(e.arg)}}});
      break;
    }
    case HS_EV_FN_ENTRY:
      open_child(t, kFnKeyBase + e.arg, e.arg < ctx_.fn_slots.size() ? ctx_.fn_slots[e.arg] : "fn " + std::to_string(e.arg),
                 e.ts, nlohmann::json::object());
      break;
    case HS_EV_FN_EXIT: close_child(t, kFnKeyBase + e.arg, e.ts); break;
    default: break;
  }
}

void PerfettoTrace::on_hold(const HoldEnded& h) {
  holds_seen_++;
  KeptHold k{h, {}, 0, 0, 0};
  if (auto it = in_hold_.find(h.tid); it != in_hold_.end()) {
    k.children = std::move(it->second.children);
    k.allocations = it->second.allocations;
    k.may_sleep_allocations = it->second.may_sleep_allocations;
    k.children_dropped = it->second.children_dropped;
    in_hold_.erase(it);
  }
  keep_longest(holds_, limits_.max_holds, std::move(k), [](const KeptHold& x) { return x.h.end - std::min(x.h.end, x.h.start); });
}

void PerfettoTrace::on_wait(const WaitEnded& w) {
  waits_seen_++;
  KeptWait k{w.tid, w.tgid, w.mm, w.write, w.start, w.end, {}};
  for (const auto& h : w.holders) k.holders.push_back(h.tid);
  keep_longest(waits_, limits_.max_waits, std::move(k), [](const KeptWait& x) { return x.end - std::min(x.end, x.start); });
}

nlohmann::json PerfettoTrace::to_json() const {
  using nlohmann::json;
  struct Slice {
    uint32_t tid, tgid;
    uint64_t start, end;
    json event;
  };
  std::vector<Slice> slices;
  std::vector<json> instants;
  std::set<std::pair<uint32_t, uint32_t>> tasks;  // (tgid, tid)
  auto since = [&](uint64_t ts) { return micros(names_.since_start(ts)); };
  auto slice = [&](uint32_t tid, uint32_t tgid, uint64_t s, uint64_t e, const std::string& name, const char* cat, json args) {
    slices.push_back(Slice{tid, tgid, s, e,
                           json{{"name", name}, {"cat", cat}, {"ph", "X"}, {"pid", tgid}, {"tid", tid}, {"ts", since(s)},
                                {"dur", micros(e - s)}, {"args", std::move(args)}}});
    tasks.insert({tgid, tid});
  };
  for (const auto& k : holds_) {
    const HoldEnded& h = k.h;
    uint64_t end = std::max(h.end, h.start);
    json args{{"mm", hex(h.mm)},
              {"hold_ns", end - h.start},
              {"allocations_streamed", k.allocations},
              {"may_sleep_allocations", k.may_sleep_allocations}};
    if (k.children_dropped) args["children_left_out"] = k.children_dropped;
    auto stack = names_.stack(h.stack_id);
    if (!stack.empty()) args["stack"] = stack;
    slice(h.tid, h.tgid, h.start, end, h.write ? "write hold" : "read hold", "hold", std::move(args));
    for (const auto& c : k.children) {
      // Clipped to the hold, so that it nests in it.
      uint64_t s = std::clamp(c.start, h.start, end), e = std::clamp(c.end, s, end);
      if (c.kind == ChildKind::slice) {
        slice(h.tid, h.tgid, s, e, c.name, "inside hold", c.args);
      } else {
        instants.push_back(json{{"name", c.name}, {"cat", "inside hold"}, {"ph", "i"}, {"s", "t"}, {"pid", h.tgid},
                                {"tid", h.tid}, {"ts", since(s)}, {"args", c.args}});
      }
    }
  }
  for (const auto& w : waits_) {
    uint64_t end = std::max(w.end, w.start);
    slice(w.tid, w.tgid, w.start, end, w.write ? "write wait" : "read wait", "wait",
          json{{"mm", hex(w.mm)}, {"wait_ns", end - w.start}, {"holders", w.holders}});
  }

  // Strict nesting per track: by start, longer first; a slice that ends after the one it starts in is left out.
  std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
    return std::tie(a.tgid, a.tid, a.start) < std::tie(b.tgid, b.tid, b.start) ||
           (a.tgid == b.tgid && a.tid == b.tid && a.start == b.start && a.end > b.end);
  });
  json events = json::array();
  uint64_t overlapping = 0;
  std::vector<const Slice*> kept;
  {
    std::vector<const Slice*> open;
    const Slice* prev = nullptr;
    for (const auto& s : slices) {
      if (prev && (prev->tid != s.tid || prev->tgid != s.tgid)) open.clear();
      while (!open.empty() && open.back()->end <= s.start) open.pop_back();
      if (!open.empty() && s.end > open.back()->end) {
        overlapping++;
        continue;
      }
      open.push_back(&s);
      kept.push_back(&s);
      prev = &s;
    }
  }

  // Flows: from the blocking hold (kept, of a holder, on the same mm, overlapping the wait) to the wait.
  uint64_t flow_id = 0;
  std::vector<json> flows;
  for (const auto& w : waits_) {
    for (uint32_t holder : w.holders) {
      for (const auto& k : holds_) {
        const HoldEnded& h = k.h;
        if (h.tid != holder || h.mm != w.mm || h.end <= w.start || h.start >= w.end) continue;
        // Inside both slices, short of their ends (the task's next slice may begin at the same instant).
        uint64_t from = std::max(h.start, std::min(h.end, w.end) - 1);
        uint64_t to = std::max(w.start, w.end - 1);
        flow_id++;
        flows.push_back(json{{"name", "blocked"}, {"cat", "blocked"}, {"ph", "s"}, {"id", flow_id}, {"pid", h.tgid},
                             {"tid", h.tid}, {"ts", since(from)}});
        flows.push_back(json{{"name", "blocked"}, {"cat", "blocked"}, {"ph", "f"}, {"bp", "e"}, {"id", flow_id},
                             {"pid", w.tgid}, {"tid", w.tid}, {"ts", since(to)}});
      }
    }
  }

  std::set<uint32_t> procs;
  for (const auto& [tgid, tid] : tasks) {
    if (procs.insert(tgid).second) {
      auto c = ctx_.comms.find(tgid);
      std::string name = c != ctx_.comms.end() ? c->second.comm : names_.comm(tgid);
      events.push_back(json{{"name", "process_name"}, {"ph", "M"}, {"pid", tgid}, {"args", {{"name", name}}}});
    }
    events.push_back(json{{"name", "thread_name"}, {"ph", "M"}, {"pid", tgid}, {"tid", tid},
                          {"args", {{"name", names_.comm(tid) + " " + std::to_string(tid)}}}});
  }
  for (const auto* s : kept) events.push_back(s->event);
  for (auto& i : instants) events.push_back(std::move(i));
  for (auto& f : flows) events.push_back(std::move(f));

  json meta{{"producer", "holdscope"},
            {"kernel", ctx_.kernel},
            {"holds_seen", holds_seen_},
            {"holds_kept", holds_.size()},
            {"waits_seen", waits_seen_},
            {"waits_kept", waits_.size()},
            {"slices_left_out_overlapping", overlapping},
            {"bound", "the " + std::to_string(limits_.max_holds) + " longest holds (at most " +
                          std::to_string(limits_.max_slices_per_hold) + " slices and " +
                          std::to_string(limits_.max_instants_per_hold) + " instants inside each) and the " +
                          std::to_string(limits_.max_waits) + " longest waits"},
            {"allocations_counted_in_kernel",
             "allocations the kernel counted rather than streamed have no timestamps: they are in no hold's slice "
             "(record --stream-allocs streams them all)"}};
  return json{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ns"}, {"metadata", std::move(meta)}};
}

}  // namespace holdscope
