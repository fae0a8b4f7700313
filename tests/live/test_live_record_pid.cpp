// record -p PID: a process that was already running when holdscope started gives the same known answers as the same
// program run by record -- CMD.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "live_helpers.h"

namespace {

// Starts ka_vmas N waiting on a FIFO, attaches record -p to it, lets it go once holdscope says it is tracing, and
// returns the report of that recording.
json record_running_vmas(int64_t n, const std::string& tag) {
  std::string fifo = tmp(tag + ".fifo"), rec = tmp(tag + ".hsr"), js = tmp(tag + ".json");
  unlink(fifo.c_str());
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  live::Background vmas({kVmas, std::to_string(n), "go", fifo}, tmp(tag + ".vmas.out"), tmp(tag + ".vmas.err"));
  // Until ka_vmas has exec'd, the child is a copy of this test, with this test's command line.
  int go = live::open_fifo_once_read(vmas, fifo);
  INFO(vmas.err());
  REQUIRE(go >= 0);
  live::Background hs({kHoldscope, "record", "-p", std::to_string(vmas.pid()), "-o", rec, "--json", js},
                      tmp(tag + ".hs.out"), tmp(tag + ".hs.err"));
  bool tracing = hs.wait_until([&] { return hs.err().find("holdscope: tracing process") != std::string::npos; });
  INFO(hs.err());
  REQUIRE(tracing);
  REQUIRE(write(go, "x", 1) == 1);
  close(go);
  CHECK(vmas.wait() == 0);
  int rc = hs.wait();  // it ends by itself when the process exits
  INFO(hs.err());
  REQUIRE(rc == 0);
  json out = json::parse(slurp(js));
  unlink(fifo.c_str());
  unlink(rec.c_str());
  unlink(js.c_str());
  return out;
}

}  // namespace

TEST_CASE("record -p PID: a running process gives the known answers record -- CMD gives") {
  REQUIRE_LIVE();
  const int64_t n1 = 300, n2 = 2300, dn = n2 - n1;
  json a = record_running_vmas(n1, "pid1");
  json b = record_running_vmas(n2, "pid2");
  auto d = [&](const std::string& kind, const std::string& mode, const std::string& cache) {
    return static_cast<int64_t>(allocs(b, kind, mode, cache)) - static_cast<int64_t>(allocs(a, kind, mode, cache));
  };
  // The same known answers as the record -- CMD test of ka_vmas (test_live.cpp).
  CHECK(near(d("slab", "write", "vm_area_struct"), dn, 0.02));
  CHECK(near(d("slab", "read", "anon_vma"), dn, 0.02));
  CHECK(near(d("slab", "read", "anon_vma_chain"), dn, 0.02));
  auto hd = [&](const char* what, const char* mode) {
    return b[what][mode]["count"].get<int64_t>() - a[what][mode]["count"].get<int64_t>();
  };
  CHECK(near(hd("holds", "write"), 2 * dn, 0.02));
  CHECK(near(hd("holds", "read"), 2 * dn, 0.02));
  CHECK(near(b["downgrades"].get<int64_t>() - a["downgrades"].get<int64_t>(), dn, 0.02));
  require_no_drops(a);
  require_no_drops(b);
  REQUIRE(b["processes"].size() == 1);
  CHECK(b["processes"][0]["comm"] == "ka_vmas");
  CHECK(b["scope"] == "process");
  REQUIRE(b["command"].size() == 4);
  CHECK(b["command"][0] == kVmas);
}

TEST_CASE("record -p: a PID that is no process, or a kernel thread, is one clear line and exit 1", "[userspace]") {
  REQUIRE_LIVE();
  Run none = run(kHoldscope + " record -q -o " + tmp("nopid.hsr") + " -p 2147483646");
  CHECK(none.status == 1);
  CHECK(none.err == "holdscope: -p 2147483646: no such process\n");
  Run kthread = run(kHoldscope + " record -q -o " + tmp("kthread.hsr") + " -p 2");  // kthreadd
  CHECK(kthread.status == 1);
  CHECK(kthread.err.find("is a kernel thread") != std::string::npos);
  CHECK(!exists(tmp("nopid.hsr")));
  CHECK(!exists(tmp("kthread.hsr")));
  Run both = run(kHoldscope + " record -q -p 1 -- true");
  CHECK(both.status != 0);
}
