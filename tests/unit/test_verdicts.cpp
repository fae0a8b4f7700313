#include <catch2/catch_test_macros.hpp>

#include "analyzers/verdicts.h"

using namespace holdscope;
using nlohmann::json;

namespace {

json report_with_drains(uint64_t none, uint64_t read, uint64_t write) {
  json sleeping = json::array();
  if (write)
    sleeping.push_back({{"kind", "lru_drain"}, {"mode", "write"}, {"count", write}, {"total_ns", 0},
                        {"stack", {"lru_add_drain_all+0x12", "do_mbind+0x80", "__x64_sys_mbind+0x20"}}});
  return {{"lru_drains", {{"calls", {{"none", none}, {"read", read}, {"write", write}}}, {"works", none + read + write},
                          {"by_syscall", json::object()}}},
          {"sleeping_under_lock", sleeping},
          {"allocations_under_lock", json::array()},
          {"holds", {{"write", {{"max_ns", 1000}, {"p99_ns", 900}}}}}};
}

json report_with_migration_allocs(uint64_t write_allocs) {
  json r = report_with_drains(0, 0, 0);
  if (write_allocs)
    r["allocations_under_lock"].push_back(
        {{"kind", "page"}, {"mode", "write"}, {"count", write_allocs}, {"may_sleep", true},
         {"stack", {"__alloc_pages+0x1", "new_page+0x40", "migrate_pages_batch+0x2a0", "migrate_pages+0x1b4",
                    "do_mbind+0x3c4", "__x64_sys_mbind+0x8b"}}});
  // NUMA balancing migrates from a hinting fault under the read lock: other sleeping work, not this invariant's
  r["allocations_under_lock"].push_back(
      {{"kind", "page"}, {"mode", "read"}, {"count", 2}, {"may_sleep", true},
       {"stack", {"__alloc_pages+0x1", "alloc_misplaced_dst_folio+0x40", "migrate_pages_batch+0x2a0", "migrate_pages+0x1b4",
                  "migrate_misplaced_folio+0x90", "do_numa_page+0x300", "handle_mm_fault+0x90"}}});
  // a fault's allocation inside the migrate_pages syscall is not a migration target
  r["allocations_under_lock"].push_back({{"kind", "page"}, {"mode", "read"}, {"count", 3}, {"may_sleep", true},
                                         {"stack", {"__alloc_pages+0x1", "kernel_migrate_pages+0x10"}}});
  return r;
}

}  // namespace

TEST_CASE("migrate-prep verdict: drains outside the lock hold, one under it violates, none is inconclusive") {
  CHECK(verdict_migrate_prep(report_with_drains(12, 0, 0), {}, {}).verdict == "holds");
  Verdict v = verdict_migrate_prep(report_with_drains(12, 0, 3), {}, {});
  CHECK(v.verdict == "violated");
  CHECK(v.evidence["drain_calls_under_write"] == 3);
  REQUIRE(v.evidence["violating_stacks"].size() == 1);
  CHECK(v.evidence["violating_stacks"][0]["stack"][1] == "do_mbind+0x80");
  CHECK(verdict_migrate_prep(report_with_drains(0, 0, 0), {}, {}).verdict.rfind("inconclusive", 0) == 0);
}

TEST_CASE("mbind-migrate verdict: target pages under the write lock violate; migrated pages without them hold") {
  Verdict bad = verdict_mbind_migrate(report_with_migration_allocs(8192), {{"pgmigrate_success", 8192}}, {});
  CHECK(bad.verdict == "violated");
  CHECK(bad.evidence["migration_allocations_under_write"] == 8192);
  CHECK(bad.evidence["migration_allocations_under_read"] == 0);  // kernel_migrate_pages+ is not a migration frame
  Verdict good = verdict_mbind_migrate(report_with_migration_allocs(0), {{"pgmigrate_success", 8192}},
                                       {{"victim_max_ns", 100}});
  CHECK(good.verdict == "holds");
  CHECK(good.evidence["pages_migrated"] == 8192);
  CHECK(good.evidence["workload"]["victim_max_ns"] == 100);
  CHECK(verdict_mbind_migrate(report_with_migration_allocs(0), json::object(), {}).verdict ==
        "inconclusive: no page was migrated");
}

TEST_CASE("other sleeping work is reported whatever the scenario") {
  json r = report_with_drains(1, 0, 2);
  r["allocations_under_lock"].push_back({{"kind", "slab"}, {"mode", "write"}, {"count", 5}, {"may_sleep", true}, {"stack", json::array()}});
  json o = other_sleeping_work(r);
  CHECK(o["sleeping"].size() == 1);
  CHECK(o["may_sleep_allocations"]["write"] == 5);
  CHECK(o["may_sleep_allocations"]["read"] == 0);
}

TEST_CASE("anon-vma-clone verdict: failed NOWAIT tries retried outside the lock hold; a may-sleep try under it violates") {
  auto rep = [](uint64_t tries, uint64_t failed, uint64_t retries, uint64_t bad) {
    json st = bad ? json::array({json::array({"kmem_cache_alloc+0x1", "anon_vma_clone+0x50", "anon_vma_fork+0x2a"})})
                  : json::array();
    return json{{"anon_vma_clone", {{"mode", "inferred"}, {"nowait_attempts", tries}, {"nowait_failures", failed},
                                    {"gfp_kernel_retries", retries}, {"may_sleep_under_anon_vma_lock", bad},
                                    {"may_sleep_stacks", st}}},
                {"sleeping_under_lock", json::array()}};
  };
  Verdict ok = verdict_anon_vma_clone(rep(400000, 150, 150, 0), {}, {});
  CHECK(ok.verdict == "holds");
  CHECK(ok.evidence["nowait_failures"] == 150);
  Verdict bad = verdict_anon_vma_clone(rep(0, 0, 0, 4000), {}, {});
  CHECK(bad.verdict == "violated");
  CHECK(bad.evidence["violating_stacks"][0]["stack"][1] == "anon_vma_clone+0x50");
  CHECK(verdict_anon_vma_clone(rep(400000, 0, 0, 0), {}, {}).verdict.rfind("inconclusive", 0) == 0);
}

namespace {

json report_with_collapses(uint64_t none, uint64_t write, uint64_t unseen) {
  json collapses = json::array();
  auto add = [&](const char* under, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
      collapses.push_back({{"comm", "khugepaged"}, {"result", "succeeded"}, {"huge_page_allocated_under", under},
                           {"write_hold_ns", 5000}, {"blocked", json::array()},
                           {"lock_sequence", {{{"what", "huge_page"}, {"lock", under}}, {{"what", "write"}, {"lock", ""}}}}});
  };
  add("none", none);
  add("write", write);
  add("unseen", unseen);
  uint64_t n = none + write + unseen;
  return {{"khugepaged",
           {{"mode", "inferred"},
            {"mms", n ? json::array({{{"attempted", n}, {"succeeded", n}, {"blocked_waits", 2}, {"blocked_max_ns", 7000},
                                      {"write_hold", {{"max_ns", 5000}}},
                                      {"huge_page_allocated_under", {{"none", none}, {"read", 0}, {"write", write}, {"unseen", unseen}}},
                                      {"collapses", collapses}}})
                      : json::array()}}}};
}

}  // namespace

TEST_CASE("khugepaged verdict: huge pages allocated with no lock hold, one under the write lock violates") {
  Verdict ok = verdict_khugepaged(report_with_collapses(4, 0, 0), {{"thp_collapse_alloc", 4}}, {});
  CHECK(ok.verdict == "holds");
  CHECK(ok.evidence["collapses_attempted"] == 4);
  CHECK(ok.evidence["waits_blocked_by_collapses"] == 2);
  Verdict bad = verdict_khugepaged(report_with_collapses(3, 1, 0), {}, {});
  CHECK(bad.verdict == "violated");
  REQUIRE(bad.evidence["violating_collapses"].size() == 1);
  CHECK(bad.evidence["violating_collapses"][0]["lock_sequence"] == "alloc(write) -> write");
  CHECK(verdict_khugepaged(report_with_collapses(0, 0, 0), {}, {}).verdict.rfind("inconclusive: no collapse", 0) == 0);
  CHECK(verdict_khugepaged(report_with_collapses(0, 0, 2), {}, {}).verdict.rfind("inconclusive", 0) == 0);
}

namespace {

json report_with_population(uint64_t under_read, uint64_t under_write, uint64_t mlocker_write_ns) {
  json allocs = json::array();
  json stack = {"__alloc_pages+0x1", "do_anonymous_page+0x70", "handle_mm_fault+0x90", "__get_user_pages+0x200",
                "populate_vma_page_range+0x80", "__mm_populate+0xd0", "do_mlock+0x150"};
  if (under_read) allocs.push_back({{"kind", "page"}, {"mode", "read"}, {"count", under_read}, {"stack", stack}});
  if (under_write) allocs.push_back({{"kind", "page"}, {"mode", "write"}, {"count", under_write}, {"stack", stack}});
  allocs.push_back({{"kind", "page"}, {"mode", "write"}, {"count", 5}, {"stack", {"__alloc_pages+0x1", "do_mmap+0x30"}}});
  return {{"allocations_under_lock", allocs},
          {"longest_holds", {{{"task", {{"comm", "mlocker"}, {"mode", "write"}}}, {"duration_ns", mlocker_write_ns}}}},
          {"waits_blocked_by", {{{"waiter", "ps-reader"}, {"holder", "mlocker"}, {"holder_mode", "write"}, {"count", 1},
                                 {"total_ns", 7'000'000}},
                                {{"waiter", "ps-reader"}, {"holder", "mlocker"}, {"holder_mode", "read"}, {"count", 2},
                                 {"total_ns", 90'000'000}},
                                {{"waiter", "victim"}, {"holder", "mlocker"}, {"holder_mode", "write"}, {"count", 1},
                                 {"total_ns", 5'000'000}}}}};
}

}  // namespace

TEST_CASE("mlock-populate verdict: population under the read lock holds; under write, or one write hold spanning it, violates") {
  json stats = {{"mlock_max_ns", 200'000'000}, {"reader_ops", 50}, {"reader_max_ns", 9'000'000}};
  Verdict ok = verdict_mlock_populate(report_with_population(16384, 0, 2'000'000), {}, stats);
  CHECK(ok.verdict == "holds");
  CHECK(ok.evidence["population_allocations_under_read"] == 16384);
  CHECK(ok.evidence["population_allocations_under_write"] == 0);  // do_mmap's own allocation is not population
  CHECK(ok.evidence["reader_blocked_by"].size() == 2);
  CHECK(ok.evidence["reader_wait_behind_mlocker_write_ns"] == 7'000'000);  // only the reader's, only behind write
  CHECK(verdict_mlock_populate(report_with_population(0, 16384, 2'000'000), {}, stats).verdict == "violated");
  CHECK(verdict_mlock_populate(report_with_population(16384, 0, 150'000'000), {}, stats).verdict == "violated");
  CHECK(verdict_mlock_populate(report_with_population(0, 0, 0), {}, stats).verdict.rfind("inconclusive", 0) == 0);
}
