// holdscope against instruments it did not write, measuring the same run: perf stat's counts of the mmap_lock
// tracepoints. (BCC's drsnoop, klockstat and numamove are not here yet: see the issue notes.)
#include <catch2/catch_test_macros.hpp>
#include <map>
#include <sstream>
#include <string>

#include "live_helpers.h"

namespace {

// perf stat -x, output: "count,unit,event,..." per event.
std::map<std::string, int64_t> perf_counts(const std::string& csv) {
  std::map<std::string, int64_t> out;
  std::istringstream in(csv);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string count, unit, event;
    std::getline(f, count, ',');
    std::getline(f, unit, ',');
    std::getline(f, event, ',');
    if (!count.empty() && isdigit(static_cast<unsigned char>(count[0]))) out[event] = std::stoll(count);
  }
  return out;
}

}  // namespace

TEST_CASE("cross-check: acquisitions and releases of a command agree with perf stat's mmap_lock counts, same run") {
  REQUIRE_LIVE();
  if (system("perf --version >/dev/null 2>&1") != 0) SKIP("perf is not installed (Debian linux-perf)");
  // holdscope traces perf stat, which counts the tracepoints in its child, ka_vmas. Two runs differing only in N:
  // what does not grow with N (perf's own locks, which holdscope sees and perf does not count; the exec, which perf
  // counts only from the point it enables its counters) cancels, and the rest must agree exactly.
  // holdscope's acquisitions are its holds plus failed trylocks: each hold begins with one acquire_returned (the read
  // part of a downgraded hold with the downgrade's). Its releases are its holds but the write parts of downgraded
  // holds, which end with no release event.
  auto measure = [&](int n, const std::string& tag) {
    std::string csv = tmp(tag + ".csv");
    json j = record_json("perf stat -x, -o " + csv +
                             " -e mmap_lock:mmap_lock_acquire_returned -e mmap_lock:mmap_lock_released -- " + kVmas + " " +
                             std::to_string(n),
                         tag);
    std::string text = slurp(csv);
    unlink(csv.c_str());
    auto perf = perf_counts(text);
    INFO(tag << ": perf " << text << "; holdscope " << j["holds"].dump());
    REQUIRE(perf.count("mmap_lock:mmap_lock_acquire_returned"));
    REQUIRE(perf.count("mmap_lock:mmap_lock_released"));
    require_no_drops(j);
    int64_t holds = 0;
    for (const auto& p : j["processes"])
      if (p["comm"] == "ka_vmas") holds += p["holds"]["read"]["count"].get<int64_t>() + p["holds"]["write"]["count"].get<int64_t>();
    int64_t failures = j["trylock_failures"]["read"].get<int64_t>() + j["trylock_failures"]["write"].get<int64_t>();
    struct Counts {
      int64_t hs_acq, hs_rel, perf_acq, perf_rel;
    };
    return Counts{holds + failures, holds - j["downgrades"].get<int64_t>(), perf["mmap_lock:mmap_lock_acquire_returned"],
                  perf["mmap_lock:mmap_lock_released"]};
  };
  auto a = measure(300, "perf-a"), b = measure(2300, "perf-b");
  INFO("holdscope acquisitions +" << b.hs_acq - a.hs_acq << ", perf +" << b.perf_acq - a.perf_acq << "; releases +"
                                  << b.hs_rel - a.hs_rel << ", perf +" << b.perf_rel - a.perf_rel);
  // mmap, munmap and its downgrade, the first fault: four per VMA (within 2%: libc's own heap may grow once more).
  CHECK(near(b.perf_acq - a.perf_acq, 4 * 2000, 0.02));
  CHECK(b.hs_acq - a.hs_acq == b.perf_acq - a.perf_acq);
  CHECK(b.hs_rel - a.hs_rel == b.perf_rel - a.perf_rel);
}
