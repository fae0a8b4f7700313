// Live sleeping work under mmap_lock: memcg direct reclaim while MAP_POPULATE faults pages in under the read lock,
// and LRU drains from mbind, migrate_pages and move_pages, none under the lock.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <string>

#include "live_helpers.h"

TEST_CASE("sleeping work: memcg reclaim under the read lock while MAP_POPULATE faults anonymous pages in") {
  REQUIRE_LIVE();
  REQUIRE_MEMCG_RECLAIM();
  const uint64_t anon_mib = 32;
  json j = record_json(kReclaim + " 64 128 " + std::to_string(anon_mib), "reclaim");
  // __mm_populate faults every page of the anonymous mapping under mmap_lock for read: each is a may-sleep
  // order-0 allocation (GFP_HIGHUSER_MOVABLE) made under the read lock.
  uint64_t populate_pages = 0;
  for (const auto& a : j["allocations_under_lock"]) {
    if (a["kind"] != "page" || a["mode"] != "read" || a["order"] != 0 || a["may_sleep"] != true) continue;
    bool anon = false, populate = false;
    for (const auto& f : a["stack"]) {
      anon |= f.get<std::string>().rfind("vma_alloc_folio", 0) == 0;  // the user page, not its page table
      populate |= f.get<std::string>().rfind("__mm_populate", 0) == 0;
    }
    if (anon && populate) populate_pages += a["count"].get<uint64_t>();
  }
  CHECK(populate_pages == (anon_mib << 20) / 4096);
  // The cgroup is full of page cache, so charging those pages reclaims: memcg reclaim, under the read lock,
  // reached from __mm_populate.
  bool reclaim_in_populate = false;
  uint64_t reclaims = 0;
  for (const auto& s : j["sleeping_under_lock"]) {
    if (s["kind"] != "direct_reclaim") continue;
    CHECK(s["mode"] == "read");
    CHECK(s["memcg"] == true);
    CHECK(s["total_ns"].get<uint64_t>() > 0);
    reclaims += s["count"].get<uint64_t>();
    for (const auto& f : s["stack"])
      if (f.get<std::string>().rfind("__mm_populate", 0) == 0) reclaim_in_populate = true;
  }
  INFO(j["sleeping_under_lock"].dump(1));
  CHECK(reclaims >= 1);
  CHECK(reclaim_in_populate);
  require_no_drops(j);
}

TEST_CASE("LRU drains from mbind, migrate_pages and move_pages are seen, and none under mmap_lock (migrate_prep fix)") {
  REQUIRE_LIVE();
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) SKIP("needs 2 CPUs: a drain is only queued to another CPU");
  // --lockstep: before each call the helpers fault one fresh page on their CPUs, so every call has work to queue.
  json j = record_json(kMigratePrep + " --rounds 20 --lockstep", "drain");
  INFO(j["lru_drains"].dump());
  CHECK(j["lru_drains"]["calls"]["none"].get<uint64_t>() >= 1);
  if (attach_point(j, "lru_drain")["mode"] == "direct") {
    // Brackets count every call, even one that found nothing to drain: one lru_cache_disable per system call.
    for (const char* sc : {"mbind", "migrate_pages", "move_pages"}) CHECK(j["lru_drains"]["by_syscall"][sc]["none"] == 20);
  } else {
    CHECK(j["lru_drains"]["works"].get<uint64_t>() >= j["lru_drains"]["calls"]["none"].get<uint64_t>());
  }
  CHECK(j["lru_drains"]["calls"]["read"] == 0);
  CHECK(j["lru_drains"]["calls"]["write"] == 0);
  for (const auto& s : j["sleeping_under_lock"]) CHECK(s["kind"] != "lru_drain");
  require_no_drops(j);
}
