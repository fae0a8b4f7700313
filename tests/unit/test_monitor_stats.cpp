// holdscope monitor's figures on synthetic kernel tables: deltas, quantiles, the interval table's totals, and the
// bounded, monotonic label set of the Prometheus export.
#include <catch2/catch_test_macros.hpp>
#include <sstream>

#include "analyzers/monitor_stats.h"

using namespace holdscope;

namespace {

// A histogram of `n` holds of `ns` each.
LockHistogram holds_of(uint64_t ns, uint64_t n) {
  LockHistogram h;
  int b = 0;
  while (b + 1 < HS_MON_BUCKETS && bucket_low_ns(b + 1) <= ns) b++;
  h.buckets[b] = n;
  h.count = n;
  h.sum_ns = ns * n;
  h.max_ns = ns;
  return h;
}

GroupNamer by_id = [](const GroupKey& k) { return "/cg" + std::to_string(k.cgroup); };

}  // namespace

TEST_CASE("monitor: a quantile lies in its log2 bucket and never above the maximum", "[monitor]") {
  LockHistogram h = holds_of(1000, 99);  // bucket [512, 1024)
  h += holds_of(3'000'000, 1);           // bucket [2^21, 2^22)
  uint64_t p50 = h.quantile_ns(0.5);
  CHECK(p50 >= 512);
  CHECK(p50 < 1024);
  CHECK(h.quantile_ns(0.99) < 1024);  // the 99th of 100 is still a short one
  CHECK(h.quantile_ns(1.0) == 3'000'000);  // clamped to the maximum, not the bucket's edge
  CHECK(LockHistogram{}.quantile_ns(0.5) == 0);
}

TEST_CASE("monitor: a reading's delta counts a new group whole and an old one by difference", "[monitor]") {
  MonitorReading before, now;
  before.groups[{1, 0}].hold[1] = holds_of(2000, 10);
  now.groups[{1, 0}].hold[1] = holds_of(2000, 25);
  now.groups[{2, 0}].wait[0] = holds_of(500, 3);
  now.groups[{2, 0}].work[0].slabs = 7;
  auto d = reading_delta(now, before);
  REQUIRE(d.size() == 2);
  CHECK(d[{1, 0}].hold[1].count == 15);
  CHECK(d[{1, 0}].hold[1].sum_ns == 30000);
  CHECK(d[{2, 0}].wait[0].count == 3);
  CHECK(d[{2, 0}].work[0].slabs == 7);
  // An unchanged group is not in the delta.
  auto none = reading_delta(now, now);
  CHECK(none.empty());
}

TEST_CASE("monitor: the interval table's totals are the sum of its groups", "[monitor]") {
  IntervalReport r;
  r.start_ns = 0;
  r.end_ns = 2'000'000'000;
  r.groups[{1, 0}].hold[1] = holds_of(4'000'000, 2);
  r.groups[{2, 0}].hold[1] = holds_of(1'000'000, 3);
  r.groups[{2, 0}].work[1].pages = 5;
  r.groups[{2, 0}].work[1].may_sleep = 4;
  GroupStats t = r.total();
  CHECK(t.hold[1].count == 5);
  CHECK(t.hold[1].sum_ns == 11'000'000);
  CHECK(t.hold[1].max_ns == 4'000'000);
  std::ostringstream out;
  render_interval(r, by_id, 10, out);
  INFO(out.str());
  CHECK(out.str().find("2.0 s interval") != std::string::npos);
  CHECK(out.str().find("5 allocations (4 may sleep)") != std::string::npos);
  // Ordered by hold time: /cg1 (8 ms) before /cg2 (3 ms).
  CHECK(out.str().find("/cg1") < out.str().find("/cg2"));
  auto j = interval_to_json(r, by_id, 1);
  CHECK(j["total"]["holds"]["write"]["count"] == 5);
  REQUIRE(j["groups"].size() == 1);
  CHECK(j["groups"][0]["name"] == "/cg1");
}

TEST_CASE("monitor: the exported cgroups are bounded, keep their labels, and every counter only grows", "[monitor]") {
  LabelBudget labels(2, 3);
  auto tick = [&](std::initializer_list<std::pair<uint64_t, uint64_t>> holds) {
    std::map<GroupKey, GroupStats> d;
    for (auto [cg, n] : holds) d[{cg, 0}].hold[0] = holds_of(1000, n);
    return labels.add(d, by_id);
  };
  tick({{1, 5}, {2, 5}, {3, 5}});  // room for two labels: the third is "other"
  CHECK(labels.labelled().size() == 2);
  CHECK(labels.other().hold[0].count == 5);
  tick({{3, 100}});  // heavy now, but labels stay where they are: "other" only adds
  CHECK(labels.other().hold[0].count == 105);
  CHECK(labels.labelled().at("/cg1").hold[0].count == 5);
  // /cg1 and /cg2 idle for 3 ticks: their labels go, and the next group gets one.
  tick({{3, 1}});
  auto gone = tick({{3, 1}});
  CHECK(gone.size() == 2);
  CHECK(labels.labelled().empty());
  tick({{3, 2}});
  CHECK(labels.labelled().at("/cg3").hold[0].count == 2);
  CHECK(labels.other().hold[0].count == 107);
}
