// The live tests' shared helpers (declared, with what each does, in live_helpers.h).
#include "live_helpers.h"

#include <bpf/bpf.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

std::string slurp(const std::string& path) { return live::read_file(path); }

std::string tmp(const std::string& name) { return "/tmp/holdscope-live-" + std::to_string(getpid()) + "-" + name; }

Run run(const std::string& cmd) {
  std::string o = tmp("stdout"), e = tmp("stderr");
  int st = system(("{ " + cmd + "; } >" + o + " 2>" + e).c_str());
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp(o), slurp(e)};
  unlink(o.c_str());
  unlink(e.c_str());
  return r;
}

Run run_unprivileged(const std::vector<std::string>& args) {
  std::string e = tmp("stderr-unpriv");
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = freopen(e.c_str(), "w", stderr);
    (void)f;
    dup2(fileno(stderr), fileno(stdout));
    if (setgroups(0, nullptr) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) _exit(126);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  Run r{WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), "", slurp(e)};
  unlink(e.c_str());
  return r;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::string live_skip_reason() {
  if (geteuid() != 0) return "live BPF tests need root (CI runs them as root)";
  if (!exists("/sys/kernel/btf/vmlinux")) return "kernel BTF (/sys/kernel/btf/vmlinux) is missing";
  if (!exists("/sys/kernel/tracing/events") && system("mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null") != 0)
    return "tracefs is not available";
  if (!exists("/sys/kernel/tracing/events/mmap_lock/mmap_lock_start_locking"))
    return "the kernel has no mmap_lock tracepoints";
  return "";
}

const std::string kHoldscope = HOLDSCOPE_BIN;
const std::string kVmas = KA_VMAS_BIN;
const std::string kContend = KA_CONTEND_BIN;
const std::string kReclaim = KA_RECLAIM_BIN;
const std::string kMigratePrep = MIGRATE_PREP_BIN;
const std::string kFork = KA_FORK_BIN;
const std::string kPopulateCpus = KA_POPULATE_CPUS_BIN;
const std::string kKhugepaged = KHUGEPAGED_COLLAPSE_BIN;
const std::string kHoldOpen = KA_HOLD_OPEN_BIN;
const std::string kSettings = KA_SETTINGS_BIN;
const std::string kLocks = KA_LOCKS_BIN;
const std::string kPressure = KA_PRESSURE_BIN;

json record_json(const std::string& cmd_and_args, const std::string& tag, const std::string& opts) {
  std::string j = tmp(tag + ".json"), r = tmp(tag + ".hsr");
  Run res = run(kHoldscope + " record -q -o " + r + " --json " + j + " " + opts + " -- " + cmd_and_args);
  INFO(res.err);
  REQUIRE(res.status == 0);
  json out = json::parse(slurp(j));
  unlink(j.c_str());
  unlink(r.c_str());
  return out;
}

uint64_t allocs(const json& j, const std::string& kind, const std::string& mode, const std::string& cache) {
  uint64_t n = 0;
  for (const auto& a : j["allocations_under_lock"])
    if (a["kind"] == kind && (mode.empty() || a["mode"] == mode) && (cache.empty() || a.value("cache", "") == cache))
      n += a["count"].get<uint64_t>();
  return n;
}

void require_no_drops(const json& j) {
  INFO(j["drops"].dump());
  CHECK(j["drops"]["ringbuf"] == 0);
  CHECK(j["drops"]["map_full"] == 0);
  CHECK(j["drops"]["stack"] == 0);
  CHECK(j["drops"]["unmatched"] == 0);
}

void one_line_error(const Run& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.status != 0);
  CHECK(r.err.rfind("holdscope: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(needle) != std::string::npos);
}

std::string memcg_reclaim_skip_reason() {
  if (!exists("/sys/fs/cgroup/cgroup.controllers") && !exists("/sys/fs/cgroup/memory"))
    return "no memory cgroup controller (neither cgroup v2 nor v1's memory hierarchy)";
  struct statfs fs;
  if (statfs("/var/tmp", &fs) != 0 || fs.f_type == RAMFS_MAGIC || fs.f_type == TMPFS_MAGIC)
    return "/var/tmp is not disk-backed, so its page cache cannot be reclaimed (needs a real filesystem, no swap here)";
  return "";
}

std::string direct_skip_reason(const std::vector<std::string>& points) {
  std::string f = tmp("doctor.json");
  run(kHoldscope + " doctor --json " + f);
  json d = json::parse(slurp(f), nullptr, false);
  unlink(f.c_str());
  if (d.is_discarded()) return "holdscope doctor wrote no diagnosis";
  for (const auto& a : d["attach_points"])
    for (const auto& p : points)
      if (a["name"] == p && a["mode"] != "direct")
        return "fentry cannot attach for " + p + " on this kernel (" + a["why"].get<std::string>() +
               "); direct mode runs in the Debian 6.1 and 6.12 guests";
  return "";
}

const json& attach_point(const json& report, const std::string& name) {
  for (const auto& a : report["attach_points"])
    if (a["name"] == name) return a;
  FAIL("no attach point " << name << " in the report");
  return report;
}

std::vector<uint32_t> prog_ids_of(pid_t pid) {
  std::vector<uint32_t> ids;
  std::istringstream fds(run("cat /proc/" + std::to_string(pid) + "/fdinfo/* 2>/dev/null").out);
  for (std::string line; std::getline(fds, line);)
    if (line.rfind("prog_id:", 0) == 0) ids.push_back(static_cast<uint32_t>(std::stoul(line.substr(8))));
  return ids;
}

bool progs_unloaded(const std::vector<uint32_t>& ids) {
  for (uint32_t id : ids) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd >= 0) {
      close(fd);
      return false;
    }
  }
  return true;
}

uint64_t clone_chain_allocs(const json& r) {
  const auto& a = r["anon_vma_clone"];
  return a["nowait_attempts"].get<uint64_t>() + a["gfp_kernel_retries"].get<uint64_t>() +
         a["may_sleep_under_anon_vma_lock"].get<uint64_t>();
}

bool near(int64_t actual, int64_t expected, double fraction) {
  return std::llabs(actual - expected) <= static_cast<int64_t>(expected * fraction);
}
