// holdscope against instruments it did not write, measuring the same run: perf stat's counts of the mmap_lock
// tracepoints, and BCC's libbpf-tools: klockstat, which times rwsems from fentry/fexit or kprobes of down_*/up_*, and
// drsnoop, which times direct reclaim from its own programs on the vmscan tracepoints.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <fstream>
#include <memory>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "background.h"
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

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.substr(s.find_last_of('\n') + 1);
}

// Where a program is on PATH, or empty.
std::string which(const std::string& name) {
  Run r = run("command -v " + name);
  std::string p = r.out.substr(0, r.out.find('\n'));
  return r.status == 0 && !p.empty() && p[0] == '/' ? p : "";
}

// klockstat's hold figures for one lock and call path: its entries (one per call stack: "CALLER  AVG UNIT  COUNT  MAX
// UNIT  TOTAL UNIT" under the "Avg Hold" header, more stack frames, then "Max PID .., Lock NAME (0xADDR)") whose
// frames name `frame` and whose lock lies in [lo, hi), summed. An entry names the lock of its longest hold only: with
// one process traced and one mm in that range, that is the lock of all its holds.
struct KlockHolds {
  int64_t count = 0;
  double total_ns = 0;
};

double klock_unit_ns(const std::string& unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  return 3600e9;
}

KlockHolds klock_holds(const std::string& text, const std::string& frame, uint64_t lo, uint64_t hi) {
  KlockHolds h, entry;
  bool named = false, holds = false;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find("Avg Hold") != std::string::npos || line.find("Avg Wait") != std::string::npos) {
      holds = line.find("Avg Hold") != std::string::npos;
      continue;
    }
    if (!holds) continue;
    if (line.find("Max PID") != std::string::npos) {
      size_t at = line.rfind("(0x");
      uint64_t lock = at == std::string::npos ? 0 : std::stoull(line.substr(at + 3), nullptr, 16);
      if (named && lock >= lo && lock < hi) {
        h.count += entry.count;
        h.total_ns += entry.total_ns;
      }
      entry = {};
      named = false;
      continue;
    }
    named |= line.find(frame) != std::string::npos;
    std::istringstream f(line);
    std::string who, avg, avg_u, count, max, max_u, total, total_u;
    if (f >> who >> avg >> avg_u >> count >> max >> max_u >> total >> total_u)
      entry = {std::stoll(count), std::stod(total) * klock_unit_ns(total_u)};
  }
  return h;
}

std::string fmt_hex(uint64_t v) {
  std::ostringstream o;
  o << "0x" << std::hex << v;
  return o.str();
}

// The mm most of the longest write holds were on.
uint64_t busiest_mm(const json& report) {
  std::map<std::string, int> n;
  for (const auto& h : report["longest_holds"])
    if (h["mode"] == "write") n[h["mm"].get<std::string>()]++;
  std::string best;
  for (const auto& [mm, c] : n)
    if (best.empty() || c > n[best]) best = mm;
  return best.empty() ? 0 : std::stoull(best, nullptr, 16);
}

// drsnoop's event lines ("TIME COMM TID LAT(ms) PAGES") of one program's threads: how many, and their latencies summed.
struct DrEvents {
  int64_t count = 0;
  double total_ns = 0;
};

DrEvents dr_events(const std::string& text, const std::string& comm) {
  DrEvents d;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string time, who, tid, lat, pages;
    if (!(f >> time >> who >> tid >> lat >> pages) || who != comm) continue;
    d.count++;
    d.total_ns += std::stod(lat) * 1e6;
  }
  return d;
}

// The run time of a process's BPF programs so far (kernel.bpf_stats_enabled on): fdinfo of each program descriptor.
uint64_t bpf_prog_run_ns(pid_t pid) {
  uint64_t total = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return 0;
  while (dirent* e = readdir(d.get())) {
    std::istringstream in(live::read_file(dir + "/" + e->d_name));
    bool prog = false;
    uint64_t ns = 0;
    for (std::string line; std::getline(in, line);) {
      prog |= line.rfind("prog_type:", 0) == 0;
      if (line.rfind("run_time_ns:", 0) == 0) ns = std::stoull(line.substr(12));
    }
    if (prog) total += ns;
  }
  return total;
}

// Sets a sysctl for the scope, and puts the old value back.
struct ScopedSysctl {
  std::string path, old;
  ScopedSysctl(std::string p, const std::string& value) : path(std::move(p)), old(live::read_file(path)) {
    std::ofstream(path) << value;
  }
  ~ScopedSysctl() { std::ofstream(path) << old; }
};

}  // namespace

TEST_CASE("cross-check: direct reclaim counts and times agree with BCC's drsnoop, same run", "[drsnoop]") {
  REQUIRE_LIVE();
  if (!getenv("HOLDSCOPE_GUEST"))
    SKIP("drives the whole machine into direct reclaim, so it runs only in a throwaway guest (tests/vm/drsnoop.sh)");
  // The two tools' clocks are read by two programs on the same tracepoint, back to back with preemption disabled; with
  // several vCPUs under TCG (one host thread running them in turn) the emulator can switch vCPUs between the two, and
  // a stall of any length falls between the clocks. One vCPU leaves only interrupts there.
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
    SKIP("compares times read by two tools' programs: runs in a one-vCPU guest (tests/vm/drsnoop.sh), where no vCPU "
         "switch can fall between them");
  std::string drsnoop = which("drsnoop");
  if (drsnoop.empty()) SKIP("drsnoop is not installed (Debian libbpf-tools)");
  // drsnoop's programs' own run time, to bound what of it falls inside holdscope's interval (below).
  ScopedSysctl stats("/proc/sys/kernel/bpf_stats_enabled", "1");
  live::Background dr({drsnoop}, tmp("drsnoop.out"), tmp("drsnoop.err"), live::Stdout::terminal);
  bool ready = dr.wait_until([&] { return dr.out().find("Tracing") != std::string::npos; });
  if (!ready && !dr.running()) SKIP("drsnoop cannot trace on this kernel: " + last_line(dr.err()));
  REQUIRE(ready);
  json j = record_json(kPressure, "pressure");
  uint64_t reclaims = 0, reclaim_ns = 0;
  for (const auto& [mode, b] : j["slow_path"]["by_lock"].items()) {
    reclaims += b["reclaims"].get<uint64_t>();
    reclaim_ns += b["reclaim_ns"].get<uint64_t>();
  }
  // drsnoop prints each event as its perf buffer delivers it: wait until it has printed as many as holdscope counted
  // (the bound only ends a disagreement), then stop it and compare.
  dr.wait_until([&] { return dr_events(dr.out(), "ka_pressure").count >= static_cast<int64_t>(reclaims); },
                std::chrono::seconds(120));
  uint64_t dr_prog_ns = bpf_prog_run_ns(dr.pid());
  REQUIRE(dr.stop(SIGINT) == 0);
  DrEvents d = dr_events(dr.out(), "ka_pressure");
  INFO("holdscope: " << reclaims << " direct reclaims, " << reclaim_ns << " ns; drsnoop: " << d.count << ", "
                     << d.total_ns << " ns\n" << j["slow_path"].dump() << "\ndrsnoop:\n" << dr.out() << dr.err());
  std::cout << "drsnoop cross-check: holdscope " << reclaims << " direct reclaims, " << reclaim_ns / 1e6 << " ms; drsnoop "
            << d.count << ", " << d.total_ns / 1e6 << " ms; drsnoop's programs ran " << dr_prog_ns / 1e6 << " ms\n";
  REQUIRE(dr.err().find("lost") == std::string::npos);  // drsnoop's perf buffer lost events: no comparison then
  require_no_drops(j);
  CHECK(reclaims >= 1);
  CHECK(static_cast<int64_t>(reclaims) == d.count);
  // Both time each reclaim between the same two tracepoints, each from its own program, so a reclaim's two times
  // differ by the other tool's programs at either end, whichever runs second reading its clock that much later:
  // drsnoop's, measured (its two programs, end included, which sends the event to user space: all their run time
  // was spent on these reclaims); holdscope's begin program, which walks the kernel stack, up to about a millisecond
  // under TCG. Allowed: drsnoop's measured program time, 1 ms per reclaim, and 10% for interrupts between the two
  // programs; drsnoop prints microseconds.
  CHECK(std::abs(static_cast<double>(reclaim_ns) - d.total_ns) <=
        0.1 * d.total_ns + 1e6 * static_cast<double>(d.count) + static_cast<double>(dr_prog_ns));
}

TEST_CASE("cross-check: mmap_lock hold counts and times agree with BCC's klockstat, same run") {
  REQUIRE_LIVE();
  std::string klockstat = which("klockstat");
  if (klockstat.empty()) SKIP("klockstat is not installed (Debian libbpf-tools)");
  {
    live::Background probe({klockstat}, tmp("klock-probe.out"), tmp("klock-probe.err"), live::Stdout::terminal);
    bool ready = probe.wait_until([&] { return probe.out().find("Tracing") != std::string::npos; });
    if (!ready && !probe.running())
      SKIP("klockstat cannot trace on this kernel (it needs fentry or kprobes): " + last_line(probe.err()));
    REQUIRE(ready);
    REQUIRE(probe.stop(SIGINT) == 0);
  }
  // ka_locks flips a 16 MiB region's protection N times: N write holds of mmap_lock, each rewriting 4096 PTEs. The
  // shell that holdscope runs writes its pid and waits; klockstat then follows that process (-p), and the shell execs
  // ka_locks, so both tools see every hold on ka_locks' mm. Both are narrowed to the same holds: mprotect's, on
  // that mm's mmap_lock. holdscope lists every hold (--top) with the stack at its acquisition (--acquire-stacks);
  // klockstat's entries are per call stack, and those whose lock lies inside ka_locks' mm_struct (the mm of
  // holdscope's longest write holds) are its mmap_lock: the VMA locks mprotect also takes live elsewhere.
  constexpr int kFlips = 50;
  constexpr uint64_t kMmStructBound = 4096;  // sizeof(struct mm_struct) is 1-2 KiB on the supported kernels
  std::string ready = tmp("klock.ready"), go = tmp("klock.go"), j = tmp("klock.json"), r = tmp("klock.hsr");
  unlink(go.c_str());
  REQUIRE(mkfifo(go.c_str(), 0600) == 0);
  std::string script = "echo $$ > " + ready + ".tmp && mv " + ready + ".tmp " + ready + " && read go < " + go +
                       " && exec " + kLocks + " " + std::to_string(kFlips);
  live::Background hs({kHoldscope, "record", "-q", "-o", r, "--json", j, "--top", "100000", "--acquire-stacks", "--",
                       "/bin/sh", "-c", script},
                      tmp("klock.hs.out"), tmp("klock.hs.err"));
  REQUIRE(hs.wait_until([&] { return live::file_exists(ready); }));
  std::string pid = live::read_file(ready);
  pid = pid.substr(0, pid.find('\n'));
  live::Background kl({klockstat, "-p", pid, "-s", "8"}, tmp("klock.out"), tmp("klock.err"), live::Stdout::terminal);
  bool traced = kl.wait_until([&] { return kl.out().find("Tracing") != std::string::npos; });
  int fd = live::open_fifo_once_read(hs, go);
  if (fd >= 0) {
    CHECK(write(fd, "go\n", 3) == 3);
    close(fd);
  }
  int hs_status = hs.wait();
  INFO("holdscope: " << hs.err() << "\nklockstat: " << kl.err());
  REQUIRE(traced);
  REQUIRE(hs_status == 0);
  REQUIRE(kl.stop(SIGINT) == 0);
  json rep = json::parse(slurp(j));
  for (const auto& f : {j, r, ready, go}) unlink(f.c_str());
  require_no_drops(rep);
  uint64_t mm = busiest_mm(rep);
  int64_t hs_count = 0;
  double hs_ns = 0;
  for (const auto& h : rep["longest_holds"]) {
    if (h["mm"] != fmt_hex(mm) || h["mode"] != "write" || std::to_string(h["task"]["tid"].get<int64_t>()) != pid) continue;
    bool in_mprotect = false;
    for (const auto& fr : h["stack"]) in_mprotect |= fr.get<std::string>().find("mprotect") != std::string::npos;
    if (!in_mprotect) continue;
    hs_count++;
    hs_ns += h["duration_ns"].get<double>();
  }
  KlockHolds k = klock_holds(kl.out(), "mprotect", mm, mm + kMmStructBound);
  INFO("mprotect's holds of mmap_lock: holdscope " << hs_count << " (" << hs_ns / 1e6 << " ms), klockstat " << k.count
                                                   << " (" << k.total_ns / 1e6 << " ms)\nklockstat:\n" << kl.out());
  CHECK(hs_count >= kFlips);
  CHECK(k.count == hs_count);
  // klockstat's hold runs from its fexit of down_write_killable() to its fentry of up_write(), holdscope's from the
  // acquire_returned tracepoint (after down_write_killable() returned) to the released one (before up_write()): the
  // same hold seen from just outside, longer by the other tool's programs and any vCPU stall between them, against
  // holds of hundreds of microseconds. klockstat prints a total to one decimal in its unit. 10% covers both.
  CHECK(std::abs(hs_ns - k.total_ns) <= 0.1 * k.total_ns);
}

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
