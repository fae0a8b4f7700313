#include "tool/monitor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "analyzers/monitor_stats.h"
#include "analyzers/tracing_frames.h"
#include "analyzers/untrusted_text.h"
#include "tool/cgroup_names.h"
#include "tool/monitor_bpf.h"
#include "tool/running_process.h"
#include "tool/system_info.h"
#ifdef HOLDSCOPE_HAVE_PROMETHEUS
#include "tool/prometheus_exporter.h"
#endif

namespace holdscope {

namespace {

// The kernel's tables are read this often: the Prometheus figures are at most this old, and an interval ends within
// this of its due time.
constexpr uint64_t kTickNs = 1'000'000'000;
constexpr int kPollMs = 100;
// A group idle this many ticks leaves the kernel's tables (and the Prometheus labels): tables hold the groups active
// lately, however many come and go over a long run.
constexpr int kIdleTicks = 60;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void install_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string process_name(uint32_t tgid) {
  std::ifstream in("/proc/" + std::to_string(tgid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return "pid " + std::to_string(tgid) + (comm.empty() ? "" : " (" + escape_untrusted(comm) + ")");
}

// The JSON-lines log (--json): each line is written whole and flushed, so a reader tailing it sees whole objects; a
// write that fails (a full disk) ends the monitor with one line.
class JsonLines {
 public:
  explicit JsonLines(const std::string& path) : path_(path) {
    if (path.empty()) return;
    out_.open(path, std::ios::out | std::ios::trunc);
    if (!out_) throw ToolError("cannot write " + path + ": " + strerror(errno));
  }
  void write(const nlohmann::json& j) {
    if (path_.empty()) return;
    errno = 0;
    out_ << j.dump() << "\n";
    out_.flush();
    if (!out_) throw ToolError("cannot write " + path_ + ": " + strerror(errno ? errno : EIO));
  }

 private:
  std::string path_;
  std::ofstream out_;
};

// The run time the kernel has counted for the monitor's programs (only while kernel.bpf_stats_enabled is 1).
uint64_t programs_run_ns(const std::vector<int>& fds) {
  uint64_t ns = 0;
  for (int fd : fds) {
    struct bpf_prog_info info = {};
    uint32_t len = sizeof info;
    if (bpf_prog_get_info_by_fd(fd, &info, &len) == 0) ns += info.run_time_ns;
  }
  return ns;
}

bool bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int v = 0;
  return (in >> v) && v == 1;
}

}  // namespace

int run_monitor(const MonitorOptions& o) {
  require_root();
#ifndef HOLDSCOPE_HAVE_PROMETHEUS
  if (!o.prometheus.empty()) throw ToolError("--prometheus: this build of holdscope has no Prometheus exporter (a static build)");
#endif
  std::optional<RunningProcess> process;
  if (o.pid) process.emplace(o.pid);
  CgroupNames cgroups;
  MonitorBpfOptions bo;
  bo.pid = process ? process->pid() : 0;
  bo.cgroup = o.cgroup.empty() ? 0 : cgroups.id_of(o.cgroup);
  bo.per_process = o.per_process;
  bo.threshold_ns = static_cast<uint64_t>(o.threshold_ms * 1e6);
  bo.verbose = o.verbose;
  std::string tracefs = tracefs_root();
  SymbolTable kallsyms = read_kallsyms();
  if (const Symbol* s = kallsyms.by_name("lru_add_drain_per_cpu")) bo.lru_drain_fn = s->addr;
  bo.gfp_direct_reclaim = read_gfp_table(tracefs).value_of("__GFP_DIRECT_RECLAIM");

  JsonLines json(o.json_path);
  GroupNamer name = [&](const GroupKey& k) {
    std::string c = cgroups.name(k.cgroup);
    return k.tgid ? process_name(k.tgid) + " in " + c : c;
  };
  auto cgroup_name = [&](const GroupKey& k) { return cgroups.name(k.cgroup); };

#ifdef HOLDSCOPE_HAVE_PROMETHEUS
  std::unique_ptr<PrometheusExporter> exporter;
  if (!o.prometheus.empty()) exporter = std::make_unique<PrometheusExporter>(o.prometheus);
#endif

  install_handlers();
  MonitorBpf bpf(bo);
  bpf.start([&](const hs_mon_slow_hold& r) {
    GroupKey k{r.cgroup, o.per_process ? r.tgid : 0};
    std::string comm = escape_untrusted(std::string(r.comm, strnlen(r.comm, sizeof r.comm)));
    WorkCounts w = work_from_kernel(r.work);
    std::vector<std::string> frames;
    for (uint64_t a : bpf.stack(r.stack_id)) {
      std::string f = kallsyms.resolve(a);
      if (frames.empty() && is_tracing_frame(f)) continue;
      frames.push_back(f);
    }
    std::cout << fmt::format("slow hold: {:.3f} ms {} by {}[{}/{}] in {}, mm 0x{:x}: {} allocations ({} may sleep), "
                             "{} direct reclaims ({:.3f} ms), {} compactions, {} LRU drains\n",
                             r.held_ns / 1e6, r.write ? "write" : "read", comm, r.tgid, r.tid, cgroups.name(r.cgroup),
                             r.mm, w.allocations(), w.may_sleep, w.reclaims, w.reclaim_ns / 1e6, w.compactions,
                             w.lru_drains);
    if (frames.empty()) std::cout << "    [no stack]\n";
    for (const auto& f : frames) std::cout << "    " << f << "\n";
    std::cout.flush();
    json.write({{"type", "slow_hold"},
                {"end_ns", r.end_ts},
                {"held_ns", r.held_ns},
                {"mode", r.write ? "write" : "read"},
                {"comm", comm},
                {"pid", r.tgid},
                {"tid", r.tid},
                {"mm", fmt::format("0x{:x}", r.mm)},
                {"cgroup", name(k)},
                {"under_lock",
                 {{"page_allocations", w.pages},
                  {"slab_allocations", w.slabs},
                  {"kmalloc_allocations", w.kmallocs},
                  {"may_sleep_allocations", w.may_sleep},
                  {"direct_reclaims", w.reclaims},
                  {"direct_reclaim_ns", w.reclaim_ns},
                  {"compactions", w.compactions},
                  {"lru_drains", w.lru_drains}}},
                {"stack", frames}});
  });

  const std::vector<int> prog_fds = bpf.program_fds();
  std::cerr << "holdscope: monitoring " << (process ? "process " + std::to_string(process->pid()) : std::string("the whole system"))
            << (o.cgroup.empty() ? "" : ", memory cgroup " + o.cgroup) << " (memory cgroups under " << cgroups.root()
            << (cgroups.v2() ? ", cgroup v2" : ", cgroup v1") << ")";
  if (o.interval_s > 0) std::cerr << ", a table every " << o.interval_s << " s";
  if (bo.threshold_ns) std::cerr << ", holds of " << o.threshold_ms << " ms or more logged";
#ifdef HOLDSCOPE_HAVE_PROMETHEUS
  if (exporter) std::cerr << ", metrics at http://" << exporter->address() << "/metrics";
#endif
  std::cerr << "; Ctrl-C to stop\n";

  const uint64_t start = monotonic_ns();
  const uint64_t interval_ns = static_cast<uint64_t>(o.interval_s * 1e9);
  const uint64_t deadline = o.duration_s > 0 ? start + static_cast<uint64_t>(o.duration_s * 1e9) : UINT64_MAX;
  MonitorReading previous;
  IntervalReport interval;
  interval.start_ns = start;
  MonitorLosses losses_at_interval;
  LabelBudget labels(o.prometheus_cgroups, kIdleTicks);
  std::map<GroupKey, int> idle;
  uint64_t next_tick = start + kTickNs;

  auto tick = [&](uint64_t now, bool last) {
    MonitorReading reading = bpf.read();
    auto delta = reading_delta(reading, previous);
    for (const auto& [k, g] : delta) interval.groups[k] += g;
    // Idle groups leave the kernel's tables; their figures so far are already counted.
    std::vector<GroupKey> gone;
    for (const auto& [k, g] : reading.groups) {
      int& n = idle[k];
      n = delta.count(k) ? 0 : n + 1;
      if (n >= kIdleTicks) gone.push_back(k);
    }
    if (!gone.empty()) {
      bpf.forget(gone);
      for (const auto& k : gone) {
        reading.groups.erase(k);
        idle.erase(k);
      }
    }
#ifdef HOLDSCOPE_HAVE_PROMETHEUS
    if (exporter) {
      labels.add(delta, cgroup_name);
      ExportedState s;
      s.cgroups = labels.labelled();
      s.cgroups[LabelBudget::kOther] = labels.other();
      s.losses = reading.losses;
      s.bpf_stats_enabled = bpf_stats_enabled();
      s.bpf_run_ns = programs_run_ns(prog_fds);
      exporter->update(std::move(s));
    }
#endif
    previous = std::move(reading);
    if ((interval_ns && now - interval.start_ns >= interval_ns) || last) {
      interval.end_ns = now;
      interval.losses = previous.losses.since(losses_at_interval);
      losses_at_interval = previous.losses;
      render_interval(interval, name, o.top, std::cout);
      std::cout.flush();
      json.write(interval_to_json(interval, name, o.top));
      interval = IntervalReport{};
      interval.start_ns = now;
    }
  };

  std::string why = "stopped";
  while (!g_stop) {
    bpf.poll(kPollMs);
    uint64_t now = monotonic_ns();
    if (process && process->exited()) {
      why = "process " + std::to_string(process->pid()) + " exited";
      break;
    }
    if (now >= deadline) {
      why = "duration reached";
      break;
    }
    if (now >= next_tick) {
      tick(now, false);
      next_tick += kTickNs * ((now - next_tick) / kTickNs + 1);
    }
  }
  bpf.stop();
  bpf.poll(0);
  tick(monotonic_ns(), true);
  std::cerr << "holdscope: monitor " << why << "\n";
  return 0;
}

}  // namespace holdscope
