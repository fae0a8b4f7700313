// Live khugepaged: MADV_COLLAPSE and khugepaged collapses, each huge page allocated with no mmap_lock held (seed 001).
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <string>

#include "live_helpers.h"

TEST_CASE("khugepaged: MADV_COLLAPSE and khugepaged collapses, the huge page allocated with no mmap_lock (seed 001)") {
  REQUIRE_LIVE();
  std::string stats = tmp("khp-stats.json");
  json j = record_json(kKhugepaged + " --regions 2 --timeout 60 --stats " + stats, "khp");
  json st = json::parse(slurp(stats), nullptr, false);
  unlink(stats.c_str());
  if (st.is_discarded()) SKIP("the workload skipped: transparent huge pages unavailable here");
  INFO(st.dump() << "\n" << j["khugepaged"].dump().substr(0, 6000) << "\ndrops " << j["drops"].dump());
  const int64_t regions = 2;
  CHECK(st["madv_collapse_ok"] == regions);
  int64_t by_khugepaged = st["khugepaged_huge_kb"].get<int64_t>() / 2048;
  CHECK(by_khugepaged >= 1);  // khugepaged really collapsed something within the timeout
  uint64_t attempted = 0, succeeded = 0, under_write = 0, under_none = 0;
  for (const auto& m : j["khugepaged"]["mms"]) {
    attempted += m["attempted"].get<uint64_t>();
    succeeded += m["succeeded"].get<uint64_t>();
    under_none += m["huge_page_allocated_under"]["none"].get<uint64_t>();
    under_write += m["huge_page_allocated_under"]["write"].get<uint64_t>();
    for (const auto& c : m["collapses"]) {
      if (!c["succeeded"].get<bool>()) continue;
      bool wrote = false;
      for (const auto& step : c["lock_sequence"]) wrote |= step["what"] == "write";
      CHECK(wrote);  // every successful collapse took the write lock to install the huge pmd
      CHECK(c["write_hold_ns"].get<uint64_t>() > 0);
    }
  }
  // At least ours: on a THP=always kernel khugepaged may also collapse the victim threads' stacks in the same mm.
  CHECK(static_cast<int64_t>(succeeded) >= regions + by_khugepaged);
  CHECK(attempted >= succeeded);
  CHECK(under_write == 0);  // the seed-001 invariant, on every supported kernel
  CHECK(under_none == attempted);
  CHECK(st["victim_ops"].get<uint64_t>() > 0);
  const json& ap = attach_point(j, "khugepaged");
  CHECK(ap["calls"].get<uint64_t>() >= attempted);
  if (ap["mode"] == "direct") {
    // collapse_huge_page is entered holding the read lock taken for the scan, and drops it first thing.
    for (const auto& f : ap["functions"]) {
      if (f["name"] != "collapse_huge_page") continue;
      // A collapse khugepaged was still in when the trace ended was entered, not attempted to its end.
      CHECK(f["calls"].get<uint64_t>() == attempted + f["open_at_end"].get<uint64_t>());
      CHECK(f["calls_by_lock"]["read"] == f["calls"]);
      CHECK(f["time_inside"]["max_ns"].get<uint64_t>() > 0);
    }
  }
  require_no_drops(j);
}
