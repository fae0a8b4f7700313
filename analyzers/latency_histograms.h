// Hold and wait time histograms per lock mode, in power-of-two microsecond buckets (bucket i: [2^(i-1), 2^i) us,
// bucket 0 under 1 us), for the HTML page. A pass, so a report's JSON stays as it is.
#pragma once
#include <array>
#include <bit>
#include <cstdint>

#include "analyzers/analysis_pass.h"

namespace holdscope {

class LatencyHistograms : public AnalysisPass {
 public:
  static constexpr size_t kBuckets = 32;  // up to 2^31 us: over half an hour
  using Buckets = std::array<uint64_t, kBuckets>;

  static size_t bucket_of(uint64_t ns) {
    uint64_t us = ns / 1000;
    size_t b = us == 0 ? 0 : static_cast<size_t>(std::bit_width(us));
    return b < kBuckets ? b : kBuckets - 1;
  }
  void on_hold(const HoldEnded& h) override { (h.write ? hold_write : hold_read)[bucket_of(h.end - std::min(h.end, h.start))]++; }
  void on_wait(const WaitEnded& w) override { (w.write ? wait_write : wait_read)[bucket_of(w.end - std::min(w.end, w.start))]++; }

  Buckets hold_read{}, hold_write{}, wait_read{}, wait_write{};
};

}  // namespace holdscope
