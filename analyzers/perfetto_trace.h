// The timeline export: a trace in the Chrome JSON trace-event format, which Perfetto's UI and chrome://tracing open.
// One track per task (tid), grouped by process (tgid); a slice per wait and per hold, with what the recording timed
// inside a hold (direct reclaim, compaction, traced kernel functions) nested in it and what it only saw happen (an
// allocation, an LRU drain queued, a khugepaged step) as instants on the hold's track; a flow arrow from each hold to
// the waits it blocked.
//
// Bounded: only the kMaxHolds longest holds are kept (with what happened inside each, at most kMaxChildrenPerHold
// items), and the kMaxWaits longest waits; the file's metadata says how many of each were left out. Slices on one
// track nest strictly (Perfetto moves overlapping ones to other tracks): a child is clipped to its hold, and a slice
// that partly overlaps an earlier one on its track (two mms' locks held crosswise) is left out and counted.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzers/analysis_pass.h"
#include "analyzers/context.h"
#include "analyzers/names.h"

namespace holdscope {

struct PerfettoLimits {
  size_t max_holds = 20000;
  size_t max_waits = 20000;
  // Inside each hold, apart: the many allocations of a long hold (record --stream-allocs) must not crowd out its
  // few reclaim and compaction slices.
  size_t max_slices_per_hold = 256;
  size_t max_instants_per_hold = 256;
};

class PerfettoTrace : public AnalysisPass {
 public:
  explicit PerfettoTrace(const TraceContext& ctx, PerfettoLimits limits = {}) : ctx_(ctx), names_(ctx), limits_(limits) {}
  void on_event(const hs_event& e, int mode) override;
  void on_hold(const HoldEnded& h) override;
  void on_wait(const WaitEnded& w) override;

  // {"traceEvents": [...], "displayTimeUnit": "ns", "metadata": {...}}; timestamps in microseconds from the
  // recording's start.
  nlohmann::json to_json() const;

 private:
  enum class ChildKind { slice, instant };
  struct Child {
    ChildKind kind;
    std::string name;
    uint64_t start, end;  // end == start for an instant
    nlohmann::json args;
  };
  struct OpenChild {  // a timed child whose end has not come yet
    std::string name;
    uint64_t start;
    nlohmann::json args;
  };
  struct TaskInHold {  // what happened inside the task's current hold
    std::vector<Child> children;
    std::unordered_map<uint64_t, OpenChild> open;  // by key (event type or function slot)
    uint64_t allocations = 0, may_sleep_allocations = 0, children_dropped = 0;
    size_t slices = 0, instants = 0;
  };
  struct KeptHold {
    HoldEnded h;
    std::vector<Child> children;
    uint64_t allocations, may_sleep_allocations, children_dropped;
  };
  struct KeptWait {
    uint32_t tid, tgid;
    uint64_t mm;
    bool write;
    uint64_t start, end;
    std::vector<uint32_t> holders;
  };
  void add_child(TaskInHold& t, Child c);
  void open_child(TaskInHold& t, uint64_t key, std::string name, uint64_t ts, nlohmann::json args);
  void close_child(TaskInHold& t, uint64_t key, uint64_t ts);

  const TraceContext& ctx_;
  Names names_;
  PerfettoLimits limits_;
  std::unordered_map<uint32_t, TaskInHold> in_hold_;
  std::vector<KeptHold> holds_;  // a min-heap on duration once full
  std::vector<KeptWait> waits_;  // likewise
  uint64_t holds_seen_ = 0, waits_seen_ = 0;
};

}  // namespace holdscope
