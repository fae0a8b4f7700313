// Latency summaries. Samples are kept exactly (8 bytes each) so percentiles are exact nearest-rank values: a
// recording of 10M events holds at most ~3.3M holds, well within memory, and tests can state exact answers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace holdscope {

struct Summary {
  uint64_t count = 0;
  uint64_t total_ns = 0;
  uint64_t p50_ns = 0;
  uint64_t p90_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t max_ns = 0;
};

class Samples {
 public:
  void add(uint64_t ns) { values_.push_back(ns); }
  size_t size() const { return values_.size(); }
  // Nearest-rank percentiles; sorts in place, so call once at the end.
  Summary summarize();

 private:
  std::vector<uint64_t> values_;
};

}  // namespace holdscope
