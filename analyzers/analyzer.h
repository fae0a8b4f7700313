// Turns a stream of hs_events into a Report. Events arrive out of timestamp order across CPUs (each CPU writes its
// records in batches, the last of which waits for user space's next poll, about 100 ms); a reorder window restores
// order before the state machine sees them.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzers/analysis_pass.h"
#include "analyzers/context.h"
#include "analyzers/report.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

struct AnalyzerOptions {
  uint64_t reorder_window_ns = 500'000'000;
  size_t top = 10;  // longest holds and waits kept
  std::string cgroup = {};  // analyze_recording: only the tasks of this memory cgroup (a path the recording names)
  // Extra consumers of the ordered stream (exports), not owned; each sees every event, hold and wait.
  std::vector<AnalysisPass*> passes = {};
};

class Analyzer {
 public:
  explicit Analyzer(const TraceContext& ctx, AnalyzerOptions opts = {});
  ~Analyzer();
  void feed(const hs_event& e);
  Report finish();
  // Per-task and per-lock entries currently held (for tests of bounded memory on long runs).
  size_t tracked_tasks() const;
  size_t tracked_locks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience for tests and replay: analyze a whole vector.
Report analyze(const TraceContext& ctx, const std::vector<hs_event>& events, AnalyzerOptions opts = {});

}  // namespace holdscope
