// Live runs of holdscope monitor: its per-interval figures add up to what a recording of the same process counts, its
// slow-hold log catches a known long hold with its stack, memory cgroups are told apart, and a port it cannot listen
// on is one clear line.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
  // Both attach once ka_vmas has exec'd: before, the child is a copy of this test.
  int go = live::open_fifo_once_read(vmas, fifo);
  REQUIRE(go >= 0);
  std::string pid = std::to_string(vmas.pid());
  live::Background hs({kHoldscope, "record", "-p", pid, "-o", rec, "--json", rj}, tmp("mon.rec.out"), tmp("mon.rec.err"));
  live::Background mon({kHoldscope, "monitor", "-p", pid, "--interval", "1", "--json", mj}, tmp("mon.out"),
                       tmp("mon.err"));
  INFO(hs.err() << mon.err());
  REQUIRE(ready(hs, "holdscope: tracing process"));
  REQUIRE(ready(mon, "holdscope: monitoring process"));
  REQUIRE(write(go, "x", 1) == 1);
  close(go);
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

// Two memory cgroups of this test run, made under the memory hierarchy and removed by the destructor; cgroups of
// earlier runs killed before they could remove theirs (holdscope-live-PID-x with PID gone) are removed first.
struct TwoCgroups {
  std::string root;
  std::string name[2];
  std::string skip_reason;  // why the test cannot run here; empty when it can
  TwoCgroups() {
    root = memory_hierarchy();
    if (root.empty()) {
      skip_reason = "no memory cgroup hierarchy is mounted here";
      return;
    }
    if (std::string ctl = slurp(root + "/cgroup.subtree_control");
        exists(root + "/cgroup.subtree_control") && ctl.find("memory") == std::string::npos) {
      skip_reason = "cgroup v2 without the memory controller for child cgroups (" + root + "/cgroup.subtree_control)";
      return;
    }
    if (DIR* d = opendir(root.c_str())) {
      while (struct dirent* e = readdir(d)) {
        int dead = 0;
        char which = 0;
        if (sscanf(e->d_name, "holdscope-live-%d-%c", &dead, &which) == 2 && kill(dead, 0) != 0 && errno == ESRCH)
          rmdir((root + "/" + e->d_name).c_str());
      }
      closedir(d);
    }
    for (int i = 0; i < 2; i++) {
      name[i] = "holdscope-live-" + std::to_string(getpid()) + "-" + std::string(1, static_cast<char>('a' + i));
      if (mkdir((root + "/" + name[i]).c_str(), 0755) != 0 && errno != EEXIST) skip_reason = "cannot make a cgroup";
    }
  }
  ~TwoCgroups() {
    for (const auto& n : name)
      if (!n.empty()) rmdir((root + "/" + n).c_str());
  }
  // Runs ka_vmas N in cgroup i from its first instruction: the child moves itself, then execs, so every mmap_lock
  // event of the workload (its exec's too) is the cgroup's. Returns its exit status.
  int run_vmas_in(int i, int n) const {
    std::string procs = root + "/" + name[i] + "/cgroup.procs", arg = std::to_string(n);
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(procs.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(126);
      close(fd);
      execl(kVmas.c_str(), kVmas.c_str(), arg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

TEST_CASE("monitor tells memory cgroups apart: two workloads in two cgroups, each with its own figures") {
  REQUIRE_LIVE();
  TwoCgroups cg;
  if (!cg.skip_reason.empty()) SKIP(cg.skip_reason);
  std::string mj = tmp("cg.jsonl");
  live::Background mon({kHoldscope, "monitor", "--interval", "0", "--duration", "900", "--json", mj}, tmp("cg.out"),
                       tmp("cg.err"));
  INFO(mon.err());
  REQUIRE(ready(mon, "holdscope: monitoring the whole system"));
  const int n[2] = {500, 1500};
  for (int i = 0; i < 2; i++) CHECK(cg.run_vmas_in(i, n[i]) == 0);
  REQUIRE(mon.stop(SIGINT) == 0);
  uint64_t writes[2] = {};
  for (const auto& j : json_lines(mj)) {
    if (j["type"] != "interval") continue;
    for (const auto& g : j["groups"])
      for (int i = 0; i < 2; i++)
        if (g["name"] == "/" + cg.name[i]) writes[i] += g["holds"]["write"]["count"].get<uint64_t>();
  }
  INFO(slurp(mj).substr(0, 3000));
  // ka_vmas N: 2 write holds per VMA (mmap, munmap), and a few for exec and exit.
  CHECK(near(static_cast<int64_t>(writes[0]), 2 * n[0], 0.1));
  CHECK(near(static_cast<int64_t>(writes[1]), 2 * n[1], 0.1));
  unlink(mj.c_str());
}

TEST_CASE("a cgroup, whole-system: monitor's intervals add up to record --cgroup's run; record's by-cgroup table and "
          "report --cgroup agree") {
  REQUIRE_LIVE();
  TwoCgroups cg;
  if (!cg.skip_reason.empty()) SKIP(cg.skip_reason);
  std::string all = tmp("cgw-all.hsr"), one = tmp("cgw-one.hsr"), mj = tmp("cgw.jsonl");
  std::string path_a = "/" + cg.name[0], path_b = "/" + cg.name[1];
  live::Background rec_all({kHoldscope, "record", "-d", "900", "-o", all}, tmp("cgw-all.out"), tmp("cgw-all.err"));
  live::Background rec_one({kHoldscope, "record", "--cgroup", path_a, "-d", "900", "-o", one}, tmp("cgw-one.out"),
                           tmp("cgw-one.err"));
  live::Background mon({kHoldscope, "monitor", "--cgroup", path_a, "--interval", "1", "--duration", "900", "--json", mj},
                       tmp("cgw.out"), tmp("cgw.err"));
  INFO(rec_all.err() << rec_one.err() << mon.err());
  REQUIRE(ready(rec_all, "holdscope: tracing the whole system"));
  REQUIRE(ready(rec_one, "holdscope: tracing the whole system"));
  REQUIRE(ready(mon, "holdscope: monitoring the whole system"));
  CHECK(cg.run_vmas_in(0, 500) == 0);
  CHECK(cg.run_vmas_in(1, 1500) == 0);
  REQUIRE(mon.stop(SIGINT) == 0);
  REQUIRE(rec_one.stop(SIGINT) == 0);
  REQUIRE(rec_all.stop(SIGINT) == 0);

  uint64_t holds[2] = {}, waits[2] = {};
  for (const auto& j : json_lines(mj)) {
    if (j["type"] != "interval") continue;
    int m = 0;
    for (const char* mode : {"read", "write"}) {
      holds[m] += j["total"]["holds"][mode]["count"].get<uint64_t>();
      waits[m] += j["total"]["waits"][mode]["count"].get<uint64_t>();
      m++;
    }
  }
  Run ro = run(kHoldscope + " report " + one + " --json " + tmp("cgw-one.json") + " >/dev/null");
  REQUIRE(ro.status == 0);
  json r1 = json::parse(slurp(tmp("cgw-one.json")));
  INFO(r1["holds"].dump() << " " << r1["cgroups"].dump());
  CHECK(r1["cgroup_filter"] == path_a);
  // The same tracepoints, the same cgroup, decided at each event by both: the same holds and waits, exactly.
  CHECK(holds[0] == r1["holds"]["read"]["count"].get<uint64_t>());
  CHECK(holds[1] == r1["holds"]["write"]["count"].get<uint64_t>());
  CHECK(waits[0] == r1["waits"]["read"]["count"].get<uint64_t>());
  CHECK(waits[1] == r1["waits"]["write"]["count"].get<uint64_t>());
  CHECK(holds[1] >= 2 * 500);
  for (const auto& c : r1["cgroups"]) CHECK(c["path"] == path_a);

  Run ra = run(kHoldscope + " report " + all + " --json " + tmp("cgw-all.json"));
  REQUIRE(ra.status == 0);
  CHECK(ra.out.find("holds per memory cgroup") != std::string::npos);
  json r = json::parse(slurp(tmp("cgw-all.json")));
  uint64_t table_writes[2] = {};
  for (const auto& c : r["cgroups"])
    for (int i = 0; i < 2; i++)
      if (c["path"] == "/" + cg.name[i]) table_writes[i] = c["holds"]["write"]["count"].get<uint64_t>();
  INFO(r["cgroups"].dump());
  CHECK(near(static_cast<int64_t>(table_writes[0]), 2 * 500, 0.1));
  CHECK(near(static_cast<int64_t>(table_writes[1]), 2 * 1500, 0.1));
  Run rf = run(kHoldscope + " report " + all + " --cgroup " + path_b + " --json " + tmp("cgw-b.json") + " >/dev/null");
  REQUIRE(rf.status == 0);
  json rb = json::parse(slurp(tmp("cgw-b.json")));
  CHECK(rb["holds"]["write"]["count"].get<uint64_t>() == table_writes[1]);
  // A recording's task keeps the cgroup it had at its first lock event until its next rename (exec): the whole-system
  // recording may give an exec's first holds to the cgroup the task came from, where the filters decide per event.
  CHECK(near(static_cast<int64_t>(table_writes[0]), static_cast<int64_t>(holds[1]), 0.02));
  Run bad = run(kHoldscope + " report " + all + " --cgroup /holdscope-no-such-cgroup");
  CHECK(bad.status != 0);
  CHECK(bad.err.find("no memory cgroup /holdscope-no-such-cgroup in this recording") != std::string::npos);
  for (const auto& f : {all, one, mj, tmp("cgw-one.json"), tmp("cgw-all.json"), tmp("cgw-b.json")}) unlink(f.c_str());
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
