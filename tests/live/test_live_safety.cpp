// Live tests of holdscope as a root tool on a shared host: hostile names, the files it writes, what it leaves behind
// when it or its workload is killed.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "live_helpers.h"

namespace {

std::string single_quoted(const std::string& s) { return "'" + s + "'"; }

mode_t mode_of(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

// Names in a directory that start with prefix.
std::vector<std::string> entries(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d))
      if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t dead_pid() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  return p;
}

void one_line_error(const Run& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.status != 0);
  CHECK(r.err.rfind("holdscope: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(needle) != std::string::npos);
}

const std::string kKnobs = "/sys/kernel/mm/transparent_hugepage/khugepaged/";

}  // namespace

TEST_CASE("hostile process names (not UTF-8, a terminal escape) are recorded and reported, escaped") {
  REQUIRE_LIVE();
  std::string dir = tmp("names");
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  // A task's name is the base name of what it executed: symlinks to the fixture give it these names.
  std::string latin1 = dir + "/workload_v2_xr\xe9glage", escape = dir + "/esc\x1b[2Jx";
  REQUIRE(symlink(kVmas.c_str(), latin1.c_str()) == 0);
  REQUIRE(symlink(kVmas.c_str(), escape.c_str()) == 0);
  std::string rec = tmp("names.hsr"), js = tmp("names.json");
  live::Background hs({kHoldscope, "record", "-q", "-o", rec, "--json", js, "--", "/bin/sh", "-c",
                       single_quoted(latin1) + " 20 && " + single_quoted(escape) + " 20"},
                      tmp("names.out"), tmp("names.err"));
  int status = hs.wait();
  INFO(hs.err());
  REQUIRE(status == 0);
  json j = json::parse(slurp(js));
  std::set<std::string> comms;
  for (const auto& p : j["processes"]) comms.insert(p["comm"].get<std::string>());
  INFO(j["processes"].dump());
  CHECK(comms.count("workload_v2_xr\\xe9") == 1);  // comm keeps 15 bytes: the invalid one, escaped
  CHECK(comms.count("esc\\x1b[2Jx") == 1);
  Run text = run(kHoldscope + " report " + rec);
  REQUIRE(text.status == 0);
  CHECK(text.out.find('\x1b') == std::string::npos);
  CHECK(text.out.find('\xe9') == std::string::npos);
  CHECK(text.out.find("workload_v2_xr\\xe9") != std::string::npos);
  for (const auto& p : {latin1, escape, rec, js}) unlink(p.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("-o: a failed record leaves what -o names untouched; refused non-regular targets; outputs are 0600") {
  REQUIRE_LIVE();
  std::string dir = tmp("outputs");
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  std::string keep = dir + "/keep.hsr";
  std::ofstream(keep) << "precious";

  SECTION("an existing file, when the command cannot run") {
    Run r = run(kHoldscope + " record -q -o " + keep + " -- /nonexistent/cmd");
    one_line_error(r, "cannot run /nonexistent/cmd");
    CHECK(slurp(keep) == "precious");
  }
  SECTION("an existing file, when a forced attach mode cannot attach") {
    std::string why = direct_skip_reason({"lru_drain"});
    if (why.empty()) SKIP("fentry attaches here, so a forced direct mode does not fail");
    Run r = run(kHoldscope + " record -q -o " + keep + " --mode direct -- true");
    CHECK(r.status != 0);
    CHECK(slurp(keep) == "precious");
  }
  SECTION("a device node") {
    std::string dev = dir + "/null-device";
    REQUIRE(mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
    one_line_error(run(kHoldscope + " record -q -o " + dev + " -- true"), "not a regular file");
    CHECK(S_ISCHR(mode_of(dev)));
    unlink(dev.c_str());
  }
  SECTION("a symlink: neither followed nor replaced") {
    std::string link = dir + "/link.hsr";
    REQUIRE(symlink(keep.c_str(), link.c_str()) == 0);
    one_line_error(run(kHoldscope + " record -q -o " + link + " -- true"), "not a regular file");
    CHECK(S_ISLNK(mode_of(link)));
    CHECK(slurp(keep) == "precious");
    one_line_error(run(kHoldscope + " record -q -o " + dir + "/ok.hsr --json " + link + " -- true"), "not a regular file");
    CHECK(slurp(keep) == "precious");
    unlink(link.c_str());
  }
  SECTION("a successful record replaces the file; the recording and the JSON are 0600") {
    std::string js = dir + "/r.json";
    Run r = run(kHoldscope + " record -q -o " + keep + " --json " + js + " -- " + kVmas + " 5");
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(slurp(keep).rfind("HOLDSCOP", 0) == 0);
    CHECK((mode_of(keep) & 0777) == 0600);
    CHECK((mode_of(js) & 0777) == 0600);
    unlink(js.c_str());
  }
  CHECK(entries(dir, ".keep.hsr.holdscope-").empty());  // no temporary file left behind
  unlink(keep.c_str());
  unlink((dir + "/ok.hsr").c_str());
  rmdir(dir.c_str());
}

TEST_CASE("SIGKILL mid-record: no BPF program stays, -o is untouched, the partial file is named, refused, then removed") {
  REQUIRE_LIVE();
  std::string dir = tmp("killed");
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  std::string out = dir + "/rec.hsr";
  std::ofstream(out) << "previous";
  live::Background hs({kHoldscope, "record", "-o", out, "--duration", "900"}, tmp("killed.out"), tmp("killed.err"));
  REQUIRE(hs.wait_until([&] { return hs.err().find("tracing the whole system") != std::string::npos; }));
  REQUIRE(run(kVmas + " 50").status == 0);
  std::vector<uint32_t> ours;
  std::istringstream fds(run("cat /proc/" + std::to_string(hs.pid()) + "/fdinfo/* 2>/dev/null").out);
  for (std::string line; std::getline(fds, line);)
    if (line.rfind("prog_id:", 0) == 0) ours.push_back(static_cast<uint32_t>(std::stoul(line.substr(8))));
  REQUIRE(ours.size() >= 10);
  CHECK(hs.stop(SIGKILL) == 128 + SIGKILL);
  for (uint32_t id : ours) {
    int fd = bpf_prog_get_fd_by_id(id);
    CHECK(fd < 0);
    if (fd >= 0) close(fd);
  }
  CHECK(slurp(out) == "previous");
  auto partial = entries(dir, ".rec.hsr.holdscope-");
  REQUIRE(partial.size() == 1);
  Run rep = run(kHoldscope + " report " + dir + "/" + partial[0]);
  one_line_error(rep, "truncated");
  // The next record to the same file removes what the killed one left.
  REQUIRE(run(kHoldscope + " record -q -o " + out + " -- true").status == 0);
  CHECK(entries(dir, ".rec.hsr.holdscope-").empty());
  unlink(out.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("out-of-range options are one clear line, never a crash or a wrapped value") {
  REQUIRE_LIVE();
  std::string rec = tmp("range.hsr");
  for (const char* bad : {"--top 0", "--top -1", "--stack-min-hold-us -5", "--duration inf", "--duration 1e300",
                          "--duration nan", "--ringbuf-mb 4096", "--ringbuf-mb 3"}) {
    INFO(bad);
    one_line_error(run(kHoldscope + " record -q -o " + rec + " " + bad + " -- true"), "(see --help)");
  }
  CHECK_FALSE(exists(rec));
  // The main job refuses before it creates its temporary recording.
  auto before = entries("/tmp", "holdscope-");
  one_line_error(run(kHoldscope + " --top 0"), "not in range");
  CHECK(entries("/tmp", "holdscope-") == before);
}

TEST_CASE("scenario: its files live in a private directory, none is left, and a killed run's directory is removed") {
  REQUIRE_LIVE();
  // What a killed run left: its directory, named with its (now unused) pid.
  std::string stale = "/tmp/holdscope-scenario-" + std::to_string(dead_pid()) + "-XXXXXX";
  REQUIRE(mkdtemp(stale.data()));
  std::ofstream(stale + "/migrate-prep.hsr") << "left over";
  std::string js = tmp("scenario.json");
  Run r = run(kHoldscope + " scenario migrate-prep --quick --json " + js);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_FALSE(exists(stale));
  // None of this run's: no directory named with a pid that is gone.
  for (const auto& name : entries("/tmp", "holdscope-scenario-")) {
    pid_t pid = static_cast<pid_t>(std::stol(name.substr(std::string("holdscope-scenario-").size())));
    INFO(name);
    CHECK(kill(pid, 0) == 0);
  }
  CHECK((mode_of(js) & 0777) == 0600);
  unlink(js.c_str());
}

TEST_CASE("a killed workload's system changes are undone: when it dies, and at the next start if holdscope died too") {
  REQUIRE_LIVE();
  if (!exists(kKnobs + "scan_sleep_millisecs")) SKIP("no khugepaged knobs here (no transparent huge pages)");
  const std::vector<std::string> names = {"scan_sleep_millisecs", "alloc_sleep_millisecs", "pages_to_scan"};
  auto knobs = [&] {
    std::vector<std::string> v;
    for (const auto& n : names) v.push_back(slurp(kKnobs + n));
    return v;
  };
  const auto original = knobs();
  REQUIRE(original[0] != "10\n");  // the workload's fast value: a machine already set so would prove nothing
  auto workload_pid = [&]() -> pid_t {
    auto j = entries("/run/holdscope/undo", "");
    for (const auto& n : j)
      if (n != "." && n != ".." && kill(std::stoi(n), 0) == 0) return std::stoi(n);
    return 0;
  };
  // The workload journals each knob, then sets it: all three journaled and the second set means it is under way.
  auto all_changed = [&](pid_t wl) {
    std::string j = wl ? slurp("/run/holdscope/undo/" + std::to_string(wl)) : "";
    return std::count(j.begin(), j.end(), '\n') == 3 && slurp(kKnobs + "alloc_sleep_millisecs") == "10\n";
  };
  const std::vector<std::string> cmd = {kHoldscope, "record", "-q", "-o", tmp("undo.hsr"), "--", kKhugepaged,
                                        "--mode", "khugepaged", "--regions", "2", "--timeout", "900"};

  // 1. The workload is killed; holdscope, still running, undoes its changes as the workload ends.
  {
    live::Background hs(cmd, tmp("undo1.out"), tmp("undo1.err"));
    pid_t wl = 0;
    REQUIRE(hs.wait_until([&] { return all_changed(wl = workload_pid()); }));
    REQUIRE(kill(wl, SIGKILL) == 0);
    INFO(hs.err());
    CHECK(hs.wait() == 0);
    CHECK(knobs() == original);
    CHECK_FALSE(exists("/run/holdscope/undo/" + std::to_string(wl)));
  }
  // 2. holdscope itself is killed: its workload dies with it (PR_SET_PDEATHSIG), nobody is left to undo, and the
  // next holdscope to start does it.
  {
    live::Background hs(cmd, tmp("undo2.out"), tmp("undo2.err"));
    pid_t wl = 0;
    REQUIRE(hs.wait_until([&] { return all_changed(wl = workload_pid()); }));
    hs.stop(SIGKILL);
    REQUIRE(live::wait_for([&] { return kill(wl, 0) != 0; }));  // the workload is gone
    CHECK(slurp(kKnobs + "scan_sleep_millisecs") == "10\n");  // and what it changed is still changed
    Run next = run(kHoldscope + " record -q -o " + tmp("undo3.hsr") + " -- true");
    INFO(next.err);
    CHECK(next.status == 0);
    CHECK(next.err.find("left by workload " + std::to_string(wl)) != std::string::npos);
    CHECK(knobs() == original);
  }
  // Whatever happened above, the machine is left as it was.
  for (size_t i = 0; i < names.size(); i++) std::ofstream(kKnobs + names[i]) << original[i];
  for (const char* f : {"undo.hsr", "undo3.hsr"}) unlink(tmp(f).c_str());
}
