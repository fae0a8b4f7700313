// Live tests: real BPF on the running kernel, through the holdscope binary exactly as a user runs it.
// Each test says why it skips when the machine lacks what it needs (root, BTF, the mmap_lock tracepoints).
#include <bpf/bpf.h>
#include <sched.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <map>
#include <set>
#include <thread>


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

TEST_CASE("a wait behind mprotect's write hold names the holder, and the hold's stack is mprotect's") {
  REQUIRE_LIVE();
  // --top 50: in a slow emulated guest other holds and waits can crowd a top-10 list.
  // Over all waits, not a top-N list: ka-waiter's mmap()s wait behind ka-holder's write holds. Each flip walks 32768
  // 4K PTEs under the write lock while ka-waiter, on the other CPU, asks for the lock without pause: 20 such holds.
  json j = record_json(kContend + " 128 20", "contend", "--top 50");
  bool waited_behind_holder = false;
  for (const auto& b : j["waits_blocked_by"])
    if (b["waiter"] == "ka-waiter" && b["holder"] == "ka-holder" && b["holder_mode"] == "write" && b["count"] >= 1)
      waited_behind_holder = true;
  INFO(j["waits_blocked_by"].dump(1));
  CHECK(waited_behind_holder);
  bool mprotect_hold = false;
  for (const auto& h : j["longest_holds"]) {
    if (h["task"]["comm"] != "ka-holder" || h["mode"] != "write") continue;
    for (const auto& f : h["stack"])
      if (f.get<std::string>().rfind("do_mprotect_pkey", 0) == 0) mprotect_hold = true;
  }
  CHECK(mprotect_hold);
  CHECK(j["waits"]["write"]["max_ns"].get<uint64_t>() > 100'000);  // a 128 MiB PTE walk takes far more than 100 us
  require_no_drops(j);
}

TEST_CASE("a hold still open when the trace ends is reported open, though its acquisition was never written") {
  REQUIRE_LIVE();
  // Three processes flip the protection of their own 64 MiB of 4K pages without pause, each mprotect() a write hold
  // that writes nothing while it lasts (its allocations, if any, are counted in the kernel): the acquisition of a hold
  // open at the end must come from the end-of-trace task iterator, or the hold is lost. The trace is ended (Ctrl-C)
  // only once the fixture says every process has flipped once, so the flips are under way; a hold is then open unless
  // all three processes are between two flips at the same instant.
  std::string rec = tmp("open-hold.hsr"), js = tmp("open-hold.json"), ready = tmp("open-hold.ready");
  unlink(ready.c_str());
  live::Background hs({kHoldscope, "record", "-q", "-o", rec, "--json", js, "--", kHoldOpen, "64", "3", ready},
                      tmp("open-hold.out"), tmp("open-hold.err"));
  bool flipping = hs.wait_until([&] { return live::file_exists(ready); });
  INFO(hs.err());
  REQUIRE(flipping);
  REQUIRE(hs.stop(SIGINT) == 0);
  json j = json::parse(slurp(js));
  for (const auto& p : {rec, js, ready}) unlink(p.c_str());
  INFO(j["holds"].dump());
  CHECK(j["holds_open_at_end"].get<uint64_t>() >= 1);
  CHECK(j["holds"]["write"]["count"].get<uint64_t>() >= 3);  // each process's first flip, closed before the end
  CHECK(j["drops"]["out_of_order"] == 0);
  require_no_drops(j);
}

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

TEST_CASE("bad input and missing capabilities: one clear line and a non-zero exit", "[userspace]") {
  REQUIRE_LIVE();  // needs a real recording to corrupt, and root to drop privileges from
  auto one_line_error = [](const Run& r, const std::string& needle) {
    INFO("stderr: " << r.err);
    CHECK(r.status != 0);
    CHECK(r.err.rfind("holdscope: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(needle) != std::string::npos);
  };
  std::string rec = tmp("bad.hsr");
  REQUIRE(run(kHoldscope + " record -q -o " + rec + " -- " + kVmas + " 10").status == 0);
  std::string good = slurp(rec);

  SECTION("not root") {
    one_line_error(run_unprivileged({kHoldscope, "record", "-o", "/tmp/x.hsr", "--", "true"}), "must run as root");
  }
  SECTION("no tracefs") {
    one_line_error(run("HOLDSCOPE_TRACEFS=/nonexistent " + kHoldscope + " record -q -o " + rec + " -- true"),
                   "no tracefs");
  }
  SECTION("no BTF") {
    one_line_error(run("HOLDSCOPE_BTF=/nonexistent/vmlinux " + kHoldscope + " record -q -o " + rec + " -- true"),
                   "kernel BTF not found");
  }
  SECTION("a truncated recording") {
    std::ofstream(rec, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() * 2 / 3);
    one_line_error(run(kHoldscope + " report " + rec), "truncated");
  }
  SECTION("a corrupted recording") {
    std::string bad = good;
    bad[200] ^= 0x40;
    std::ofstream(rec, std::ios::binary | std::ios::trunc) << bad;
    one_line_error(run(kHoldscope + " report " + rec), "corrupt");
  }
  SECTION("not a recording") {
    std::ofstream(rec, std::ios::binary | std::ios::trunc) << "hello\n";
    one_line_error(run(kHoldscope + " report " + rec), "not a holdscope recording");
  }
  SECTION("a command that cannot run") {
    one_line_error(run(kHoldscope + " record -q -o " + rec + " -- /nonexistent/cmd"), "cannot run /nonexistent/cmd");
  }
  unlink(rec.c_str());
}

TEST_CASE("sleeping work: memcg reclaim under the read lock while MAP_POPULATE faults anonymous pages in") {
  REQUIRE_LIVE();
  if (!exists("/sys/fs/cgroup/cgroup.controllers") && !exists("/sys/fs/cgroup/memory"))
    SKIP("no memory cgroup controller (neither cgroup v2 nor v1's memory hierarchy)");
  struct statfs fs;
  if (statfs("/var/tmp", &fs) != 0 || fs.f_type == RAMFS_MAGIC || fs.f_type == TMPFS_MAGIC)
    SKIP("/var/tmp is not disk-backed, so its page cache cannot be reclaimed (needs a real filesystem, no swap here)");
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

TEST_CASE("record -- CMD also traces other tasks locking CMD's mm, and nothing unrelated") {
  REQUIRE_LIVE();
  std::string j = tmp("bymm.json"), r = tmp("bymm.hsr");
  // `cat /proc/PID/smaps_rollup` runs outside CMD's process tree but takes CMD's mmap_lock for read (maps itself is
  // read under per-VMA locks since 6.17): in scope by mm.
  // ka_vmas, run beside it on its own mm, is out of scope.
  // CMD writes its pid, then execs a `head` that waits on a FIFO: the reads happen once CMD is that process (its
  // comm says so), and CMD ends when the test writes to the FIFO.
  std::string pidfile = tmp("bymm.pid"), fifo = tmp("bymm.fifo");
  unlink(pidfile.c_str());
  unlink(fifo.c_str());
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  live::Background hs({kHoldscope, "record", "-q", "-o", r, "--json", j, "--", "/bin/sh", "-c",
                       "echo $$ > " + pidfile + ".tmp && mv " + pidfile + ".tmp " + pidfile + " && exec head -c1 " + fifo},
                      tmp("bymm.out"), tmp("bymm.err"));
  std::string cmd_pid;
  REQUIRE(hs.wait_until([&] {
    if (cmd_pid.empty() && live::file_exists(pidfile)) cmd_pid = std::to_string(std::stoi(slurp(pidfile)));
    return !cmd_pid.empty() && slurp("/proc/" + cmd_pid + "/comm") == "head\n";
  }));
  REQUIRE(run("for i in $(seq 20); do cat /proc/" + cmd_pid + "/smaps_rollup >/dev/null; done").status == 0);
  REQUIRE(run(kVmas + " 200").status == 0);
  std::ofstream(fifo) << "x";
  int status = hs.wait();
  for (const auto& p : {pidfile, fifo}) unlink(p.c_str());
  INFO(hs.err());
  REQUIRE(status == 0);
  json rep = json::parse(slurp(j));
  unlink(j.c_str());
  unlink(r.c_str());
  uint64_t cat_reads = 0;
  for (const auto& p : rep["processes"]) {
    INFO(p["comm"]);
    CHECK(p["comm"] != "ka_vmas");
    if (p["comm"] == "cat") cat_reads += p["holds"]["read"]["count"].get<uint64_t>();
  }
  CHECK(cat_reads >= 20);
}

TEST_CASE("doctor: the diagnosis matches the probes, and it fails naming what is missing") {
  REQUIRE_LIVE();
  std::string j = tmp("doctor.json");
  Run r = run(kHoldscope + " doctor --json " + j);
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("holdscope can run here.") != std::string::npos);
  json d = json::parse(slurp(j));
  unlink(j.c_str());
  CHECK(d["ok"] == true);
  CHECK(d["btf"]["present"] == true);
  for (const auto& t : d["tracepoints"])
    if (t["required"] == true) CHECK(t["available"] == true);
  std::set<std::string> names;
  for (const auto& a : d["attach_points"]) {
    names.insert(a["name"].get<std::string>());
    bool any_fentry = false;
    for (const auto& f : a["functions"]) {
      any_fentry |= f["fentry"].get<bool>();
      if (f["fentry"] == false) CHECK_FALSE(f["why"].get<std::string>().empty());  // every refusal says why
    }
    INFO(a.dump());
    CHECK(a["mode"] == (any_fentry ? "direct" : "inferred"));
  }
  CHECK(names == std::set<std::string>{"lru_drain", "khugepaged", "anon_vma_clone", "alloc_slowpath"});
  // It loaded and attached the object record uses, and says so: a pass here is a prediction of record's.
  CHECK(d["trial"]["ok"] == true);
  CHECK(r.out.find("the BPF object loads and attaches as record would") != std::string::npos);

  Run unpriv = run_unprivileged({kHoldscope, "doctor"});
  INFO(unpriv.err);
  CHECK(unpriv.status != 0);
  CHECK(unpriv.err.find("cannot run here: missing root") != std::string::npos);
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

namespace {

// The process's own memory (RssAnon): VmRSS also counts the ring buffer's pages (mapped twice by libbpf), which
// appear as they are first written, up to 2x the ring's size, and say nothing about leaks.
uint64_t anon_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8));
  return 0;
}

}  // namespace

TEST_CASE("a long run keeps memory bounded: per-task state is freed as thousands of tasks come and go") {
  REQUIRE_LIVE();
  // The analyzer: 3000 short-lived children, each taking its own mm's lock, leave almost nothing tracked.
  json j = record_json(kFork + " 0 3000", "churn");
  INFO(j["analyzer_state"].dump());
  CHECK(j["holds"]["write"]["count"].get<uint64_t>() >= 3000);
  CHECK(j["analyzer_state"]["tracked_tasks_end"].get<uint64_t>() <= 2);
  CHECK(j["analyzer_state"]["tracked_tasks_peak"].get<uint64_t>() < 100);
  require_no_drops(j);

  // The recorder, tracing the whole system through process churn: its RSS is flat after start-up. RSS is read after
  // a quarter of the churn and again after all of it, each once that work is done.
  std::string rec = tmp("churn-long.hsr");
  live::Background hs({kHoldscope, "record", "-o", rec, "--duration", "900"}, tmp("churn.out"), tmp("churn.err"));
  REQUIRE(hs.wait_until([&] { return hs.err().find("tracing the whole system") != std::string::npos; }));
  auto churn = [&](int rounds) {
    return run("for i in $(seq " + std::to_string(rounds) + "); do " + kFork + " 0 200 || exit 1; done >/dev/null 2>&1");
  };
  REQUIRE(churn(15).status == 0);
  uint64_t early = anon_rss_kb(hs.pid());
  REQUIRE(churn(45).status == 0);
  uint64_t late = anon_rss_kb(hs.pid());
  REQUIRE(hs.stop(SIGINT) == 0);
  INFO("recorder RssAnon " << early << " kB after 3000 processes, " << late << " kB after 12000");
  CHECK(early > 0);
  CHECK(late <= early + 4 * 1024);
  std::string js = tmp("churn-long.json");
  REQUIRE(run(kHoldscope + " report " + rec + " --json " + js).status == 0);
  json r = json::parse(slurp(js));
  unlink(js.c_str());
  unlink(rec.c_str());
  CHECK(r["analyzer_state"]["tracked_tasks_peak"].get<uint64_t>() < 1000);
  CHECK(r["drops"]["ringbuf"] == 0);
}

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

TEST_CASE("direct and inferred modes agree on LRU drain calls and anon_vma_chain allocations") {
  REQUIRE_LIVE();
  std::string why = direct_skip_reason({"lru_drain", "anon_vma_clone"});
  if (!why.empty()) SKIP(why);
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) SKIP("needs 2 CPUs: a drain is only queued to another CPU");
  const std::string direct = "--mode lru_drain=direct,anon_vma_clone=direct", inferred = "--mode inferred";
  // --lockstep: before each call the caller and the helpers fault one fresh page each, so a drain call queues work
  // (inference sees only calls that queue), the caller's CPU first.
  const std::string drains = kMigratePrep + " --rounds 10 --lockstep";
  json d = record_json(drains, "agree-direct", direct);
  json i = record_json(drains, "agree-inferred", inferred);
  const json &dl = attach_point(d, "lru_drain"), &il = attach_point(i, "lru_drain");
  INFO(dl.dump() << "\n" << il.dump());
  REQUIRE(dl["mode"] == "direct");
  REQUIRE(il["mode"] == "inferred");
  CHECK(dl["calls"].get<uint64_t>() >= 30);  // 10 rounds of mbind, migrate_pages, move_pages
  // The inference rules against the brackets, on the same events: each bracketed call that queued work is one
  // inferred call. (Across two runs the counts may differ: another task's drain can empty a CPU's batch just before
  // a call, which then queues nothing and is invisible to inference.)
  INFO(d["lru_drains"].dump() << "\n" << i["lru_drains"].dump());
  CHECK(d["lru_drains"]["queued_calls"].get<uint64_t>() >= 1);
  CHECK(d["lru_drains"]["inferred_calls"] == d["lru_drains"]["queued_calls"]);
  CHECK(il["calls"].get<uint64_t>() >= 1);
  CHECK(il["calls"].get<uint64_t>() <= dl["calls"].get<uint64_t>());
  CHECK(i["lru_drains"]["inferred_calls"] == il["calls"]);
  bool timed = false;
  for (const auto& f : dl["functions"]) timed |= f["time_inside"]["count"].get<uint64_t>() > 0;
  CHECK(timed);
  // The chains on their own, from the fork fixture alone: with migrate-prep and a shell in the same recording the
  // count varied by one chain between runs (about 1 run in 20), which an exact comparison cannot tell from a loss.
  const std::string forks = kFork + " 200 4";
  json dc = record_json(forks, "agree-direct-fork", direct);
  json ic = record_json(forks, "agree-inferred-fork", inferred);
  INFO(dc["anon_vma_clone"].dump() << "\n" << ic["anon_vma_clone"].dump());
  CHECK(attach_point(dc, "anon_vma_clone")["mode"] == "direct");
  CHECK(clone_chain_allocs(dc) >= 800);  // 200 chains per fork, 4 forks
  CHECK(clone_chain_allocs(dc) == clone_chain_allocs(ic));
  for (const json* r : {&d, &i, &dc, &ic}) require_no_drops(*r);
}

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
