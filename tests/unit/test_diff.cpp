#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>
#include <sstream>

#include "analyzers/diff.h"

using holdscope::diff_reports;
using nlohmann::json;

namespace {

// A report as `holdscope --json` writes it, reduced to what the comparison reads.
json report(const std::string& kernel, double write_p99, double write_allocs, double victim_max) {
  return {{"kernel", kernel},
          {"holds", {{"read", {{"count", 10}, {"p99_ns", 1000}}}, {"write", {{"count", 10}, {"p99_ns", write_p99}}}}},
          {"waits", {{"read", {{"count", 5}, {"max_ns", victim_max}}}}},
          {"allocations_under_lock",
           json::array({{{"kind", "page"}, {"mode", "write"}, {"count", write_allocs}, {"bytes", write_allocs * 4096},
                         {"may_sleep", true}}})},
          {"drops", {{"ringbuf", 0}}}};
}

const holdscope::DiffRow& row(const holdscope::DiffResult& d, const std::string& name) {
  for (const auto& r : d.rows)
    if (r.figure == name) return r;
  FAIL("no row " << name);
  throw;
}

}  // namespace

TEST_CASE("diff: allocations under the write lock going to zero over 4+4 runs is significant") {
  std::vector<json> a, b;
  for (int i = 0; i < 4; i++) a.push_back(report("6.1", 5e6 + i * 1e5, 5000 + i * 10, 2e6 + i));
  for (int i = 0; i < 4; i++) b.push_back(report("6.12", 1e5 + i * 1e3, 0, 3e5 + i));
  auto d = diff_reports(a, b);
  CHECK(d.kernel_a == "6.1");
  CHECK(d.runs_b == 4);
  const auto& allocs = row(d, "alloc.page.write.count");
  CHECK_THAT(allocs.change_pct, Catch::Matchers::WithinAbs(-100.0, 1e-9));
  CHECK(allocs.separated);
  CHECK_THAT(allocs.p_separation, Catch::Matchers::WithinAbs(2.0 / 70, 1e-12));
  CHECK(allocs.significant);
  CHECK(row(d, "holds.write.p99_ns").significant);
  CHECK(row(d, "alloc.may_sleep.write.count").significant);
  CHECK_FALSE(row(d, "holds.read.p99_ns").significant);  // identical in both
}

TEST_CASE("diff: overlapping runs, or too few runs, are not significant") {
  SECTION("overlapping ranges") {
    std::vector<json> a = {report("A", 100, 10, 1), report("A", 300, 10, 1), report("A", 200, 10, 1),
                           report("A", 250, 10, 1)};
    std::vector<json> b = {report("B", 220, 10, 1), report("B", 400, 10, 1), report("B", 260, 10, 1),
                           report("B", 350, 10, 1)};
    holdscope::DiffResult d = diff_reports(a, b);  // kept: row() returns a reference into it
    auto& r = row(d, "holds.write.p99_ns");
    CHECK_FALSE(r.separated);
    CHECK_FALSE(r.significant);
    CHECK(r.change_pct > 0);
  }
  SECTION("3 vs 3 separated runs: p = 0.1") {
    std::vector<json> a(3, report("A", 100, 10, 1)), b(3, report("B", 900, 10, 1));
    holdscope::DiffResult d = diff_reports(a, b);  // kept: row() returns a reference into it
    auto& r = row(d, "holds.write.p99_ns");
    CHECK(r.separated);
    CHECK_THAT(r.p_separation, Catch::Matchers::WithinAbs(0.1, 1e-12));
    CHECK_FALSE(r.significant);
  }
  SECTION("one run per side is never significant") {
    auto d = diff_reports({report("A", 100, 5000, 1)}, {report("B", 900, 0, 1)});
    CHECK_FALSE(row(d, "alloc.page.write.count").significant);
    std::ostringstream out;
    holdscope::render_diff(d, out);
    CHECK(out.str().find("alloc.page.write.count") != std::string::npos);
  }
}

TEST_CASE("diff of scenario outputs: per-scenario figures and a changed verdict") {
  auto scen = [](const std::string& verdict, double under_write, double victim_max) {
    return json{{"scenarios", json::array({{{"name", "mbind-migrate"},
                                            {"verdict", verdict},
                                            {"evidence", {{"migration_allocations_under_write", under_write},
                                                          {"workload", {{"victim_max_ns", victim_max}}}}},
                                            {"report", report("k", 1e6, under_write, 1)}}})}};
  };
  std::vector<json> a, b;
  for (int i = 0; i < 4; i++) a.push_back(scen("violated", 8192 + i, 5e8 + i));
  for (int i = 0; i < 4; i++) b.push_back(scen("holds", 0, 3e7 + i));
  auto d = diff_reports(a, b);
  REQUIRE(d.verdicts.size() == 1);
  CHECK(d.verdicts[0].changed);
  CHECK(d.verdicts[0].a == std::vector<std::string>(4, "violated"));
  CHECK(row(d, "mbind-migrate:evidence.migration_allocations_under_write").significant);
  CHECK(row(d, "mbind-migrate:workload.victim_max_ns").significant);
  CHECK(row(d, "mbind-migrate:alloc.page.write.count").change_pct == -100.0);
  std::ostringstream out;
  holdscope::render_diff(d, out);
  CHECK(out.str().find("CHANGED") != std::string::npos);
}

TEST_CASE("diff: attach-point calls, khugepaged and slow-path figures are compared too") {
  auto rep = [](double slow_entries, double collapses_under_write) {
    return nlohmann::json{
        {"holds", {{"read", {{"count", 1}}}, {"write", {{"count", 1}}}}},
        {"attach_points", {{{"name", "lru_drain"}, {"calls", 30}, {"functions", {{{"name", "lru_cache_disable"},
                                                                                  {"time_inside", {{"count", 30}, {"max_ns", 500}}}}}}}}},
        {"khugepaged", {{"mms", {{{"attempted", 4}, {"succeeded", 4}, {"blocked_waits", 1}, {"write_hold", {{"max_ns", 9}}},
                                  {"huge_page_allocated_under", {{"none", 4 - collapses_under_write}, {"write", collapses_under_write}}}}}}}},
        {"slow_path", {{"by_lock", {{"read", {{"entries", slow_entries}, {"reclaim_ns", 100}}}}}}}};
  };
  auto d = holdscope::diff_reports({rep(3, 4)}, {rep(0, 0)});
  CHECK(row(d, "slow_path.read.entries").mean_a == 3);
  CHECK(row(d, "slow_path.read.entries").mean_b == 0);
  CHECK(row(d, "khugepaged.alloc_under.write").mean_a == 4);
  CHECK(row(d, "khugepaged.alloc_under.none").mean_b == 4);
  CHECK(row(d, "attach.lru_drain.calls").mean_a == 30);
  CHECK(row(d, "attach.lru_drain.lru_cache_disable.time_inside.max_ns").mean_b == 500);
}
