#include "analyzers/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace holdscope {

static uint64_t nearest_rank(const std::vector<uint64_t>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  if (rank == 0) rank = 1;
  return sorted[std::min(rank, sorted.size()) - 1];
}

Summary Samples::summarize() {
  Summary s;
  if (values_.empty()) return s;
  std::sort(values_.begin(), values_.end());
  s.count = values_.size();
  s.total_ns = std::accumulate(values_.begin(), values_.end(), uint64_t{0});
  s.p50_ns = nearest_rank(values_, 50);
  s.p90_ns = nearest_rank(values_, 90);
  s.p99_ns = nearest_rank(values_, 99);
  s.max_ns = values_.back();
  return s;
}

}  // namespace holdscope
