// Live scope of record -- CMD: CMD's process tree and every other task that locks CMD's mm, nothing unrelated.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <fstream>
#include <string>

#include "live_helpers.h"

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
