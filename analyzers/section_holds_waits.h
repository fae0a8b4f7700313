// The holds and waits section: hold and wait times by mode, overall and per process, the longest of each, and who
// waited behind whom. Fed the lock state's completed holds and waits.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "analyzers/lock_state.h"
#include "analyzers/names.h"
#include "analyzers/stats.h"

namespace holdscope {

class HoldsWaitsSection {
 public:
  HoldsWaitsSection(const TraceContext& ctx, const Names& names, size_t top) : ctx_(ctx), names_(names), top_(top) {}
  void on_hold(const HoldEnded& h);
  void on_wait(const WaitEnded& w);
  void finish(Report& r);

 private:
  struct ProcSamples {
    Samples hold_r, hold_w, wait_r, wait_w;
  };
  template <typename Rec>
  void keep_longest(std::vector<Rec>& v, Rec rec);
  uint64_t longest_holds_min() const;
  const TraceContext& ctx_;
  const Names& names_;
  size_t top_;
  Samples hold_r_, hold_w_, wait_r_, wait_w_;
  std::unordered_map<uint32_t, ProcSamples> procs_;
  std::vector<HoldRecord> longest_holds_;
  std::vector<WaitRecord> longest_waits_;
  // (waiter comm, holder comm, holder wrote) -> (count, total ns)
  std::map<std::tuple<std::string, std::string, bool>, std::pair<uint64_t, uint64_t>> blocked_by_;
};

}  // namespace holdscope
