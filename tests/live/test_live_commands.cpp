// Live runs of holdscope's commands end to end: the main job's whole-system trace and its printed report, record then
// report against record --json, Ctrl-C ending a run with none of its BPF programs left loaded, and record's default
// output.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "live_helpers.h"

TEST_CASE("the main job traces the whole system and prints every report section") {
  REQUIRE_LIVE();
  std::string j = tmp("live.json");
  // The load runs once the probes are attached (holdscope says so), and the run is ended (Ctrl-C) once the load is
  // done: the whole load falls inside the trace however slow the start. --duration only bounds a hung run.
  live::Background hs({kHoldscope, "--duration", "900", "--json", j}, tmp("main.out"), tmp("main.err"));
  REQUIRE(hs.wait_until([&] { return hs.err().find("tracing the whole system") != std::string::npos; }));
  REQUIRE(run(kVmas + " 500").status == 0);
  Run r{hs.stop(SIGINT), hs.out(), hs.err()};
  INFO(r.err);
  REQUIRE(r.status == 0);
  for (const char* section : {"mmap_lock holds", "mmap_lock waits", "holds per process", "longest holds",
                              "longest waits", "allocations under mmap_lock", "sleeping work under mmap_lock", "drops:"})
    CHECK(r.out.find(section) != std::string::npos);
  json rep = json::parse(slurp(j));
  unlink(j.c_str());
  CHECK(rep["scope"] == "system");
  CHECK(rep["holds"]["write"]["count"].get<uint64_t>() >= 1000);
  bool saw = false;
  for (const auto& p : rep["processes"]) saw |= p["comm"] == "ka_vmas";
  CHECK(saw);
  CHECK(allocs(rep, "slab", "write", "vm_area_struct") >= 500);
  for (const char* k : {"kernel", "duration_ns", "holds", "waits", "allocations_under_lock", "sleeping_under_lock", "drops"})
    CHECK(rep.contains(k));
  CHECK(rep["drops"]["ringbuf"] == 0);
}

TEST_CASE("record then report gives the same report as record --json, and Ctrl-C ends a run cleanly") {
  REQUIRE_LIVE();
  std::string rec = tmp("sigint.hsr"), j1 = tmp("sigint1.json"), j2 = tmp("sigint2.json");
  const uint64_t duration_s = 900;
  live::Background hs({kHoldscope, "record", "-o", rec, "--json", j1, "--duration", std::to_string(duration_s)},
                      tmp("sigint.out"), tmp("sigint.log"));
  // Once the probes are attached (slow in an emulated guest), load the system, then interrupt.
  REQUIRE(hs.wait_until([&] { return hs.err().find("tracing the whole system") != std::string::npos; }));
  auto traced_from = std::chrono::steady_clock::now();
  Run load = run(kVmas + " 200");
  REQUIRE(load.status == 0);
  // The programs this instance holds, by id (other holdscope instances on the machine do not matter).
  std::vector<uint32_t> ours = prog_ids_of(hs.pid());
  CHECK(ours.size() >= 10);
  auto traced_for = std::chrono::steady_clock::now() - traced_from;
  int status = hs.stop(SIGINT);
  INFO(hs.err());
  CHECK(status == 0);
  // None of its programs stays loaded after it exits (the kernel frees them shortly after, from a workqueue).
  CHECK(live::wait_for([&] { return progs_unloaded(ours); }, std::chrono::seconds(120)));

  Run rep = run(kHoldscope + " report " + rec + " --json " + j2);
  REQUIRE(rep.status == 0);
  json a = json::parse(slurp(j1)), b = json::parse(slurp(j2));
  CHECK(a == b);
  CHECK(a["holds"]["write"]["count"].get<uint64_t>() >= 200);
  // The trace lasted at least from the message to the interrupt, and ended at the interrupt, not at --duration.
  CHECK(a["duration_ns"].get<uint64_t>() >=
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(traced_for).count()));
  CHECK(a["duration_ns"].get<uint64_t>() < duration_s * 1'000'000'000ull);
  for (const auto& p : {rec, j1, j2}) unlink(p.c_str());
}

TEST_CASE("record without -o writes holdscope.hsr in the current directory and keeps the previous one as .old") {
  REQUIRE_LIVE();
  std::string dir = tmp("default-output");
  REQUIRE(system(("rm -rf " + dir + " && mkdir " + dir).c_str()) == 0);
  Run first = run("cd " + dir + " && " + kHoldscope + " record -q -- " + kVmas + " 10");
  INFO(first.err);
  REQUIRE(first.status == 0);
  REQUIRE(exists(dir + "/holdscope.hsr"));
  CHECK(!exists(dir + "/holdscope.hsr.old"));
  std::string first_bytes = slurp(dir + "/holdscope.hsr");
  Run second = run("cd " + dir + " && " + kHoldscope + " record -q -- " + kVmas + " 20");
  INFO(second.err);
  REQUIRE(second.status == 0);
  CHECK(slurp(dir + "/holdscope.hsr.old") == first_bytes);
  CHECK(slurp(dir + "/holdscope.hsr") != first_bytes);
  Run report = run(kHoldscope + " report " + dir + "/holdscope.hsr.old");
  CHECK(report.status == 0);
  REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}
