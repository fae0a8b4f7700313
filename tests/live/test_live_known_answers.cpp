// Live known answers: fixtures whose allocations under mmap_lock are known in advance (one vm_area_struct per new
// VMA, one anon_vma_chain per parent chain per fork, one page per page populated on each CPU), against holdscope's
// counts, however they are collected (at a task's exit or at the end of the trace, default or exact stacks).
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "live_helpers.h"

TEST_CASE("known answer: each new VMA costs one vm_area_struct under write, one anon_vma and chain under read") {
  REQUIRE_LIVE();
  // Two runs differing only in N: everything else the process does (exec, libc start-up, exit) cancels out.
  const int64_t n1 = 300, n2 = 2300, dn = n2 - n1;
  json a = record_json(kVmas + " " + std::to_string(n1), "vmas1");
  json b = record_json(kVmas + " " + std::to_string(n2), "vmas2");
  auto d = [&](const std::string& kind, const std::string& mode, const std::string& cache) {
    return static_cast<int64_t>(allocs(b, kind, mode, cache)) - static_cast<int64_t>(allocs(a, kind, mode, cache));
  };
  INFO("run A: " << a["allocations_under_lock"].size() << " groups; run B: " << b["allocations_under_lock"].size());
  // mmap: vm_area_alloc() under the write lock, exactly once per VMA.
  CHECK(near(d("slab", "write", "vm_area_struct"), dn, 0.02));
  CHECK(std::llabs(d("slab", "read", "vm_area_struct")) <= 5);
  // First touch: __anon_vma_prepare() under the read lock: one anon_vma and one anon_vma_chain per VMA.
  CHECK(near(d("slab", "read", "anon_vma"), dn, 0.02));
  CHECK(near(d("slab", "read", "anon_vma_chain"), dn, 0.02));
  CHECK(std::llabs(d("slab", "write", "anon_vma")) <= 5);
  // Every allocation of the mmap path may sleep (GFP_KERNEL).
  for (const auto& g : b["allocations_under_lock"])
    if (g.value("cache", "") == "vm_area_struct") CHECK(g["may_sleep"] == true);
  // Locks: mmap takes write; munmap takes write and downgrades to read; the first fault takes read.
  auto hd = [&](const char* what, const char* mode) {
    return b[what][mode]["count"].get<int64_t>() - a[what][mode]["count"].get<int64_t>();
  };
  CHECK(near(hd("holds", "write"), 2 * dn, 0.02));
  CHECK(near(hd("holds", "read"), 2 * dn, 0.02));
  CHECK(near(b["downgrades"].get<int64_t>() - a["downgrades"].get<int64_t>(), dn, 0.02));
  CHECK(near(hd("waits", "write"), 2 * dn, 0.02));
  require_no_drops(a);
  require_no_drops(b);
  REQUIRE(b["processes"].size() >= 1);
  CHECK(b["processes"][0]["comm"] == "ka_vmas");
  CHECK(b["scope"] == "command");
}

TEST_CASE("known answer: the allocations of a process still alive when the trace ends are all counted") {
  REQUIRE_LIVE();
  // The kernel keeps a task's counts in its own state until the task exits. Here the work is done by a child that
  // outlives the trace (the command exits once the work is done; the child is killed after the report), so its counts
  // arrive only through the end-of-trace collection from live tasks.
  const int64_t n1 = 300, n2 = 2300, dn = n2 - n1;
  auto stay = [&](int64_t n, const std::string& tag) {
    std::string pidfile = tmp(tag + ".pid");
    json j = record_json(kVmas + " " + std::to_string(n) + " stay " + pidfile, tag);
    std::string pid = slurp(pidfile);
    unlink(pidfile.c_str());
    REQUIRE(!pid.empty());
    CHECK(kill(std::stoi(pid), 0) == 0);  // it was still alive after the report
    kill(std::stoi(pid), SIGKILL);
    return j;
  };
  json a = stay(n1, "stay1");
  json b = stay(n2, "stay2");
  auto d = [&](const std::string& kind, const std::string& mode, const std::string& cache) {
    return static_cast<int64_t>(allocs(b, kind, mode, cache)) - static_cast<int64_t>(allocs(a, kind, mode, cache));
  };
  CHECK(near(d("slab", "write", "vm_area_struct"), dn, 0.02));
  CHECK(near(d("slab", "read", "anon_vma"), dn, 0.02));
  CHECK(near(d("slab", "read", "anon_vma_chain"), dn, 0.02));
  CHECK(allocs(b, "slab", "write", "vm_area_struct") >= static_cast<uint64_t>(n2));
  require_no_drops(a);
  require_no_drops(b);
}

TEST_CASE("known answer: anon_vma_clone tries every chain with GFP_NOWAIT first, one per parent chain per fork") {
  REQUIRE_LIVE();
  const int64_t m = 500, forks = 8;
  json a = record_json(kFork + " 0 " + std::to_string(forks), "fork0");
  json b = record_json(kFork + " " + std::to_string(m) + " " + std::to_string(forks), "fork1");
  auto d = [&](const char* k) {
    return b["anon_vma_clone"][k].get<int64_t>() - a["anon_vma_clone"][k].get<int64_t>();
  };
  INFO(a["anon_vma_clone"].dump() << "\n" << b["anon_vma_clone"].dump());
  CHECK(near(d("nowait_attempts"), m * forks, 0.02));
  // Without memory pressure NOWAIT does not fail; whatever did fail was retried with GFP_KERNEL outside the lock.
  CHECK(b["anon_vma_clone"]["gfp_kernel_retries"] == b["anon_vma_clone"]["nowait_failures"]);
  CHECK(b["anon_vma_clone"]["may_sleep_under_anon_vma_lock"] == 0);
  require_no_drops(b);
}

TEST_CASE("known answer: a call path counted on several CPUs keeps every allocation under its own stack on each") {
  REQUIRE_LIVE();
  // The allocation counts are per CPU; a path first seen on one CPU must get its own stack on the next, not the
  // zeroes a per-CPU map entry made elsewhere holds there. 8 MiB per CPU is 2048 pages, twice the stack refresh
  // interval, so a count filed under a wrong stack shows.
  const uint64_t mib = 8;
  cpu_set_t cpus;
  REQUIRE(sched_getaffinity(0, sizeof cpus, &cpus) == 0);
  // The fixture inherits this affinity, so it is what decides whether a second CPU can be used.
  if (CPU_COUNT(&cpus) < 2) SKIP("needs 2 usable CPUs: the path must be counted on a second CPU");
  const uint64_t rounds = CPU_COUNT(&cpus) + 1;  // the fixture runs on each CPU it may use, then on the first again
  json j = record_json(kPopulateCpus + " " + std::to_string(mib), "populate-cpus");
  uint64_t populated = 0, unstacked = 0;
  for (const auto& a : j["allocations_under_lock"]) {
    if (a["kind"] != "page" || a["mode"] != "read" || a["order"] != 0 || a["may_sleep"] != true) continue;
    bool anon = false, populate = false;
    for (const auto& f : a["stack"]) {
      anon |= f.get<std::string>().rfind("vma_alloc_folio", 0) == 0;
      populate |= f.get<std::string>().rfind("__mm_populate", 0) == 0;
    }
    if (anon && populate) populated += a["count"].get<uint64_t>();
    if (a["stack"].empty()) unstacked += a["count"].get<uint64_t>();
  }
  INFO(rounds << " rounds; " << unstacked << " read-mode page allocations without a stack");
  CHECK(rounds >= 3);
  CHECK(populated == rounds * (mib << 20) / 4096);
  require_no_drops(j);
}

TEST_CASE("exact allocation stacks (--exact-alloc-stacks): the same counts, every cache named, anon_vma_clone seen") {
  REQUIRE_LIVE();
  const int64_t n = 2000, m = 500, forks = 8;
  json def = record_json(kVmas + " " + std::to_string(n), "vmas-default");
  json exact = record_json(kVmas + " " + std::to_string(n), "vmas-exact", "--exact-alloc-stacks");
  for (const char* cache : {"vm_area_struct", "anon_vma", "anon_vma_chain"}) {
    INFO(cache);
    CHECK(near(allocs(exact, "slab", "write", cache) + allocs(exact, "slab", "read", cache),
               allocs(def, "slab", "write", cache) + allocs(def, "slab", "read", cache), 0.02));
  }
  CHECK(allocs(exact, "slab", "write", "vm_area_struct") >= static_cast<uint64_t>(n));
  CHECK(allocs(exact, "slab", "", "?") == 0);  // every slab group has its cache's name
  json fork = record_json(kFork + " " + std::to_string(m) + " " + std::to_string(forks), "fork-exact",
                          "--exact-alloc-stacks");
  CHECK(fork["anon_vma_clone"]["nowait_attempts"].get<int64_t>() >= m * forks);
  require_no_drops(exact);
  require_no_drops(fork);
}
