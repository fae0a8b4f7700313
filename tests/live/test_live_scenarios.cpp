// Live scenarios: holdscope scenario all, its verdicts backed by real evidence, and the seed patches' known answers by
// kernel version.
#include <sys/utsname.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "live_helpers.h"

namespace {

// (major, minor) of the running kernel.
std::pair<int, int> kernel_version() {
  struct utsname u;
  uname(&u);
  int major = 0, minor = 0;
  sscanf(u.release, "%d.%d", &major, &minor);
  return {major, minor};
}

}  // namespace

TEST_CASE("scenarios: verdicts with real evidence, and the seed patches' known answers by kernel version") {
  REQUIRE_LIVE();
  std::string j = tmp("scenarios.json");
  Run r = run(kHoldscope + " scenario all --quick --json " + j);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  json all = json::parse(slurp(j))["scenarios"];
  unlink(j.c_str());
  std::map<std::string, json> by_name;
  for (const auto& s : all) by_name[s["name"].get<std::string>()] = s;

  // migrate-prep: drains really were issued, by each of the three syscalls' rounds, and none under mmap_lock
  // (lru_cache_disable() comes before mmap_lock on 6.1, 6.12 and 6.18 alike).
  const json& mp = by_name.at("migrate-prep");
  INFO(mp.dump(1));
  CHECK(mp["verdict"] == "holds");
  CHECK(mp["evidence"]["drain_calls_without_lock"].get<uint64_t>() >= 1);
  CHECK(mp["evidence"]["workload"]["mbind_calls"] == 20);
  CHECK(mp["evidence"]["drain_calls_under_write"] == 0);

  // khugepaged-collapse: collapses really happened (MADV_COLLAPSE and khugepaged), none allocated under the write lock.
  const json& kc = by_name.at("khugepaged-collapse");
  INFO(kc.dump(1));
  if (kc["verdict"].get<std::string>().rfind("skipped: ", 0) != 0) {
    CHECK(kc["verdict"] == "holds");
    CHECK(kc["evidence"]["collapses_succeeded"].get<uint64_t>() >= 4);
    CHECK(kc["evidence"]["huge_page_allocated_under"]["write"] == 0);
    CHECK(kc["evidence"]["workload"]["madv_collapse_ok"] == 4);
    CHECK(kc["evidence"]["workload"]["victim_ops"].get<uint64_t>() > 0);
  }

  // mlock-populate: the region really was populated (one page allocation per page, under the read lock) while the
  // reader really ran; no write hold spans the population on any supported kernel.
  const json& ml = by_name.at("mlock-populate");
  INFO(ml.dump(1));
  CHECK(ml["verdict"] == "holds");
  CHECK(ml["evidence"]["population_allocations_under_read"].get<uint64_t>() >= 2 * 16384);
  CHECK(ml["evidence"]["population_allocations_under_write"] == 0);
  CHECK(ml["evidence"]["workload"]["reader_ops"].get<uint64_t>() > 0);
  CHECK(ml["evidence"]["workload"]["rounds"] == 2);

  // anon-vma-clone: NOWAIT tries really failed (the memcg was full) and each was retried outside the anon_vma lock.
  const json& av = by_name.at("anon-vma-clone");
  INFO(av.dump(1));
  CHECK(av["verdict"] == "holds");
  CHECK(av["evidence"]["nowait_attempts"].get<uint64_t>() >= 100000);
  CHECK(av["evidence"]["nowait_failures"].get<uint64_t>() >= 1);
  CHECK(av["evidence"]["gfp_kernel_retries"] == av["evidence"]["nowait_failures"]);

  const json& mm = by_name.at("mbind-migrate");
  INFO(mm.dump(1));
  if (!exists("/sys/devices/system/node/node1")) {
    CHECK(mm["verdict"] == "skipped: needs 2 NUMA nodes");
    return;
  }
  // Pages really moved, and the victim really ran.
  CHECK(mm["evidence"]["pages_migrated"].get<uint64_t>() >= 4096);
  CHECK(mm["evidence"]["workload"]["victim_ops"].get<uint64_t>() > 0);
  auto [major, minor] = kernel_version();
  if (major < 6 || (major == 6 && minor < 7)) {
    // Before 6.7 mbind holds mmap_lock for write across migrate_pages(): every target page is allocated under it.
    CHECK(mm["verdict"] == "violated");
    CHECK(mm["evidence"]["migration_allocations_under_write"].get<uint64_t>() >= 4096);
  } else {
    CHECK(mm["verdict"] == "holds");
  }
}
