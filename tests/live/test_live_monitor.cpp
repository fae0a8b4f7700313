// Live runs of holdscope monitor: its per-interval figures add up to what a recording of the same process counts, its
// slow-hold log catches a known long hold with its stack, memory cgroups are told apart, and a port it cannot listen
// on is one clear line.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "live_helpers.h"

namespace {

std::vector<json> json_lines(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(slurp(path));
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

bool ready(live::Background& b, const std::string& line) {
  return b.wait_until([&] { return b.err().find(line) != std::string::npos; });
}

// The memory controller's hierarchy: cgroup v1's memory mount, or the v2 one; empty when neither is mounted.
std::string memory_hierarchy() {
  std::ifstream in("/proc/self/mountinfo");
  std::string v2;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::vector<std::string> w;
    for (std::string x; f >> x;) w.push_back(x);
    size_t dash = 0;
    while (dash < w.size() && w[dash] != "-") dash++;
    if (dash + 3 >= w.size() || dash < 5) continue;
    const std::string &point = w[4], &fstype = w[dash + 1], &opts = w[dash + 3];
    if (fstype == "cgroup" && ("," + opts + ",").find(",memory,") != std::string::npos) return point;
    if (fstype == "cgroup2" && v2.empty()) v2 = point;
  }
  return v2;
}

}  // namespace

TEST_CASE("monitor -p: its intervals add up to what record -p counts of the same process, same run") {
  REQUIRE_LIVE();
  std::string fifo = tmp("mon.fifo"), rec = tmp("mon.hsr"), rj = tmp("mon-rec.json"), mj = tmp("mon.jsonl");
  unlink(fifo.c_str());
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  live::Background vmas({kVmas, "2000", "go", fifo}, tmp("mon.vmas.out"), tmp("mon.vmas.err"));
  std::string pid = std::to_string(vmas.pid());
  live::Background hs({kHoldscope, "record", "-p", pid, "-o", rec, "--json", rj}, tmp("mon.rec.out"), tmp("mon.rec.err"));
  live::Background mon({kHoldscope, "monitor", "-p", pid, "--interval", "1", "--json", mj}, tmp("mon.out"),
                       tmp("mon.err"));
  INFO(hs.err() << mon.err());
  REQUIRE(ready(hs, "holdscope: tracing process"));
  REQUIRE(ready(mon, "holdscope: monitoring process"));
  {
    std::ofstream go(fifo);
    go << 'x';
  }
  CHECK(vmas.wait() == 0);
  REQUIRE(hs.wait() == 0);   // both end by themselves when the process exits
  REQUIRE(mon.wait() == 0);
  json r = json::parse(slurp(rj));
  uint64_t holds[2] = {}, under_lock[2] = {}, waits[2] = {};
  int intervals = 0;
  for (const auto& j : json_lines(mj)) {
    if (j["type"] != "interval") continue;
    intervals++;
    int m = 0;
    for (const char* mode : {"read", "write"}) {
      holds[m] += j["total"]["holds"][mode]["count"].get<uint64_t>();
      waits[m] += j["total"]["waits"][mode]["count"].get<uint64_t>();
      const auto& u = j["total"]["under_lock"][mode];
      under_lock[m] += u["page_allocations"].get<uint64_t>() + u["slab_allocations"].get<uint64_t>() +
                   u["kmalloc_allocations"].get<uint64_t>();
      m++;
    }
  }
  INFO(r["holds"].dump() << " " << r["waits"].dump());
  CHECK(intervals >= 1);
  // The same tracepoints, the same process, the same holds: the counts agree exactly.
  CHECK(holds[0] == r["holds"]["read"]["count"].get<uint64_t>());
  CHECK(holds[1] == r["holds"]["write"]["count"].get<uint64_t>());
  CHECK(waits[0] == r["waits"]["read"]["count"].get<uint64_t>());
  CHECK(waits[1] == r["waits"]["write"]["count"].get<uint64_t>());
  auto under = [&](const char* mode) { return allocs(r, "page", mode, "") + allocs(r, "slab", mode, "") + allocs(r, "kmalloc", mode, ""); };
  // Allocations too, but for the tools' own: each makes its per-task state for the process at its first lock event,
  // an allocation the other one may see (one per mode was seen here).
  CHECK(std::llabs(static_cast<int64_t>(under_lock[0]) - static_cast<int64_t>(under("read"))) <= 2);
  CHECK(std::llabs(static_cast<int64_t>(under_lock[1]) - static_cast<int64_t>(under("write"))) <= 2);
  CHECK(under_lock[1] >= 2000);  // a vm_area_struct per VMA under the write lock
  CHECK(holds[1] >= 2 * 2000);  // ka_vmas 2000: an mmap and a munmap write hold per VMA
  unlink(fifo.c_str());
  unlink(rec.c_str());
  unlink(rj.c_str());
  unlink(mj.c_str());
}

TEST_CASE("monitor --threshold-ms logs mprotect's long write holds with their stack and task") {
  REQUIRE_LIVE();
  std::string mj = tmp("slow.jsonl");
  live::Background mon({kHoldscope, "monitor", "--interval", "0", "--threshold-ms", "0.1", "--duration", "900", "--json", mj},
                       tmp("slow.out"), tmp("slow.err"));
  INFO(mon.err());
  REQUIRE(ready(mon, "holdscope: monitoring the whole system"));
  Run c = run(kContend + " 128 20");
  REQUIRE(c.status == 0);
  REQUIRE(mon.stop(SIGINT) == 0);
  int found = 0;
  for (const auto& j : json_lines(mj)) {
    if (j["type"] != "slow_hold" || j["comm"] != "ka-holder" || j["mode"] != "write") continue;
    CHECK(j["held_ns"].get<uint64_t>() >= 100'000);
    for (const auto& f : j["stack"])
      if (f.get<std::string>().rfind("do_mprotect_pkey", 0) == 0) {
        found++;
        break;
      }
  }
  INFO(mon.out().substr(0, 3000));
  CHECK(found >= 1);
  CHECK(mon.out().find("slow hold: ") != std::string::npos);
  unlink(mj.c_str());
}

TEST_CASE("monitor tells memory cgroups apart: two workloads in two cgroups, each with its own figures") {
  REQUIRE_LIVE();
  std::string root = memory_hierarchy();
  if (root.empty()) SKIP("no memory cgroup hierarchy is mounted here");
  if (std::string ctl = slurp(root + "/cgroup.subtree_control"); exists(root + "/cgroup.subtree_control") &&
                                                                  ctl.find("memory") == std::string::npos)
    SKIP("cgroup v2 without the memory controller for child cgroups (" + root + "/cgroup.subtree_control)");
  // Cgroups of earlier runs killed before they could remove theirs: holdscope-live-PID-x with PID gone.
  if (DIR* d = opendir(root.c_str())) {
    while (struct dirent* e = readdir(d)) {
      int dead = 0;
      char which = 0;
      if (sscanf(e->d_name, "holdscope-live-%d-%c", &dead, &which) == 2 && kill(dead, 0) != 0 && errno == ESRCH)
        rmdir((root + "/" + e->d_name).c_str());
    }
    closedir(d);
  }
  std::string name[2] = {"holdscope-live-" + std::to_string(getpid()) + "-a", "holdscope-live-" + std::to_string(getpid()) + "-b"};
  for (const auto& n : name) REQUIRE((mkdir((root + "/" + n).c_str(), 0755) == 0 || errno == EEXIST));
  std::string mj = tmp("cg.jsonl");
  live::Background mon({kHoldscope, "monitor", "--interval", "0", "--duration", "900", "--json", mj}, tmp("cg.out"),
                       tmp("cg.err"));
  INFO(mon.err());
  REQUIRE(ready(mon, "holdscope: monitoring the whole system"));
  const int n[2] = {500, 1500};
  for (int i = 0; i < 2; i++) {
    Run w = run("sh -c 'echo $$ > " + root + "/" + name[i] + "/cgroup.procs && exec " + kVmas + " " +
                std::to_string(n[i]) + "'");
    CHECK(w.status == 0);
  }
  REQUIRE(mon.stop(SIGINT) == 0);
  for (const auto& nm : name) rmdir((root + "/" + nm).c_str());
  uint64_t writes[2] = {};
  for (const auto& j : json_lines(mj)) {
    if (j["type"] != "interval") continue;
    for (const auto& g : j["groups"])
      for (int i = 0; i < 2; i++)
        if (g["name"] == "/" + name[i]) writes[i] += g["holds"]["write"]["count"].get<uint64_t>();
  }
  INFO(slurp(mj).substr(0, 3000));
  // ka_vmas N: 2 write holds per VMA (mmap, munmap), and a few for exec and exit.
  CHECK(near(static_cast<int64_t>(writes[0]), 2 * n[0], 0.1));
  CHECK(near(static_cast<int64_t>(writes[1]), 2 * n[1], 0.1));
  unlink(mj.c_str());
}

TEST_CASE("monitor --prometheus: a port in use or a bad address is one clear line and exit 1", "[userspace]") {
  REQUIRE_LIVE();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  Run busy = run(kHoldscope + " monitor -d 1 --prometheus " + addr);
  close(fd);
  CHECK(busy.status == 1);
  CHECK(busy.err == "holdscope: --prometheus " + addr + ": cannot listen there: the port is in use\n");
  Run bad = run(kHoldscope + " monitor -d 1 --prometheus nonsense");
  CHECK(bad.status == 1);
  CHECK(bad.err == "holdscope: --prometheus nonsense: an ADDRESS:PORT is needed, e.g. 127.0.0.1:9808\n");
}
