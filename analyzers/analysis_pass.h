// An extra consumer of the analyzer's ordered stream, beside the report sections: the exports (folded stacks, the
// Perfetto timeline) see the same reordered events, the same lock modes and the same completed holds and waits, so
// what they draw agrees with the report.
#pragma once
#include "analyzers/lock_state.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class AnalysisPass {
 public:
  virtual ~AnalysisPass() = default;
  // Every event in timestamp order, with the task's lock mode (0 none, 1 read, 2 write) before the event.
  virtual void on_event(const hs_event&, int /*mode*/) {}
  virtual void on_hold(const HoldEnded&) {}
  virtual void on_wait(const WaitEnded&) {}  // successful acquisitions only
  // The stream has ended (every event has been processed).
  virtual void on_finish() {}
};

}  // namespace holdscope
