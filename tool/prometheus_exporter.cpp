#include "tool/prometheus_exporter.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "tool/system_info.h"
#include "tool/unique_fd.h"

namespace holdscope {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Histogram bounds: every other power of two of nanoseconds, from 2^10 ns (about 1 us) to 2^36 ns (about 69 s), so
// each bound is the edge of a kernel bucket and the cumulative counts are exact.
constexpr int kFirstBoundLog2 = 10, kLastBoundLog2 = 36, kBoundStepLog2 = 2;
constexpr double kNsPerSecond = 1e9;

ClientMetric::Histogram histogram(const LockHistogram& h) {
  ClientMetric::Histogram out;
  out.sample_count = h.count;
  out.sample_sum = static_cast<double>(h.sum_ns) / kNsPerSecond;
  uint64_t below = 0;
  int next = 0;
  for (int bound = kFirstBoundLog2; bound <= kLastBoundLog2; bound += kBoundStepLog2) {
    for (; next < bound && next < HS_MON_BUCKETS; next++) below += h.buckets[next];
    out.bucket.push_back({below, static_cast<double>(uint64_t(1) << bound) / kNsPerSecond});
  }
  return out;
}

ClientMetric metric(std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  return m;
}

MetricFamily family(const std::string& name, const std::string& help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

std::vector<MetricFamily> families(const ExportedState& s) {
  auto hold = family("holdscope_mmap_lock_hold_seconds", "mmap_lock hold time, by mode and memory cgroup of the holder",
                     MetricType::Histogram);
  auto wait = family("holdscope_mmap_lock_wait_seconds", "time waiting to take mmap_lock, by mode and memory cgroup",
                     MetricType::Histogram);
  auto allocs = family("holdscope_mmap_lock_allocations_total",
                       "memory allocations made while holding mmap_lock, by kind (page, slab, kmalloc) and mode",
                       MetricType::Counter);
  auto may_sleep = family("holdscope_mmap_lock_may_sleep_allocations_total",
                          "allocations under mmap_lock whose gfp flags allow direct reclaim", MetricType::Counter);
  auto reclaims = family("holdscope_mmap_lock_direct_reclaims_total", "direct reclaim runs under mmap_lock",
                         MetricType::Counter);
  auto reclaim_s = family("holdscope_mmap_lock_direct_reclaim_seconds_total", "time in direct reclaim under mmap_lock",
                          MetricType::Counter);
  auto compactions = family("holdscope_mmap_lock_compactions_total", "direct compaction runs under mmap_lock",
                            MetricType::Counter);
  auto drains = family("holdscope_mmap_lock_lru_drains_total",
                       "LRU drain works queued on other CPUs (lru_add_drain_all) under mmap_lock", MetricType::Counter);
  for (const auto& [cgroup, g] : s.cgroups) {
    for (int m = 0; m < kHeldModes; m++) {
      std::vector<ClientMetric::Label> l = {{"cgroup", cgroup}, {"mode", to_string(static_cast<HeldMode>(m))}};
      auto hm = metric(l);
      hm.histogram = histogram(g.hold[m]);
      hold.metric.push_back(hm);
      auto wm = metric(l);
      wm.histogram = histogram(g.wait[m]);
      wait.metric.push_back(wm);
      const WorkCounts& w = g.work[m];
      for (auto [kind, n] : {std::pair<const char*, uint64_t>{"page", w.pages}, {"slab", w.slabs}, {"kmalloc", w.kmallocs}}) {
        auto am = metric({{"cgroup", cgroup}, {"kind", kind}, {"mode", to_string(static_cast<HeldMode>(m))}});
        am.counter.value = static_cast<double>(n);
        allocs.metric.push_back(am);
      }
      auto counter = [&](MetricFamily& f, double v) {
        auto c = metric(l);
        c.counter.value = v;
        f.metric.push_back(c);
      };
      counter(may_sleep, static_cast<double>(w.may_sleep));
      counter(reclaims, static_cast<double>(w.reclaims));
      counter(reclaim_s, static_cast<double>(w.reclaim_ns) / kNsPerSecond);
      counter(compactions, static_cast<double>(w.compactions));
      counter(drains, static_cast<double>(w.lru_drains));
    }
  }
  auto lost = family("holdscope_events_lost_total", "what holdscope could not count, by reason", MetricType::Counter);
  for (auto [reason, n] : {std::pair<const char*, uint64_t>{"table_full", s.losses.table_full},
                           {"slow_hold_records", s.losses.slow_holds_lost},
                           {"stacks", s.losses.stacks},
                           {"task_storage", s.losses.task_storage},
                           {"held_table", s.losses.held_overflow},
                           {"scope_table", s.losses.scope_full}}) {
    auto m = metric({{"reason", reason}});
    m.counter.value = static_cast<double>(n);
    lost.metric.push_back(m);
  }
  auto run = family("holdscope_bpf_run_seconds_total",
                    "run time of holdscope's BPF programs (counted only while kernel.bpf_stats_enabled is 1)",
                    MetricType::Counter);
  auto rm = metric({});
  rm.counter.value = static_cast<double>(s.bpf_run_ns) / kNsPerSecond;
  run.metric.push_back(rm);
  auto stats = family("holdscope_bpf_stats_enabled", "1 when kernel.bpf_stats_enabled is on, so that "
                      "holdscope_bpf_run_seconds_total counts", MetricType::Gauge);
  auto sm = metric({});
  sm.gauge.value = s.bpf_stats_enabled ? 1 : 0;
  stats.metric.push_back(sm);
  auto cpu = family("holdscope_process_cpu_seconds_total", "CPU time of the holdscope process itself (user + system)",
                    MetricType::Counter);
  struct rusage ru = {};
  getrusage(RUSAGE_SELF, &ru);
  auto cm = metric({});
  cm.counter.value = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  cpu.metric.push_back(cm);
  return {hold, wait, allocs, may_sleep, reclaims, reclaim_s, compactions, drains, lost, run, stats, cpu};
}

class StateCollectable : public prometheus::Collectable {
 public:
  std::vector<MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> g(mutex_);
    return families(state_);
  }
  void set(ExportedState s) {
    std::lock_guard<std::mutex> g(mutex_);
    state_ = std::move(s);
  }

 private:
  mutable std::mutex mutex_;
  ExportedState state_;
};

// Binds ADDR:PORT once, so that a busy port or a bad address is one clear line before the HTTP server starts (its own
// failure says only "null context").
void check_listen_address(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    throw ToolError("--prometheus " + address + ": an ADDRESS:PORT is needed, e.g. 127.0.0.1:9808");
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (int e = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); e != 0 || !res)
    throw ToolError("--prometheus " + address + ": bad address (" + gai_strerror(e) + ")");
  std::unique_ptr<struct addrinfo, void (*)(struct addrinfo*)> owner(res, freeaddrinfo);
  UniqueFd fd(socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol));
  if (!fd.valid()) throw ToolError("--prometheus " + address + ": " + strerror(errno));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0)
    throw ToolError("--prometheus " + address + ": cannot listen there: " +
                    (errno == EADDRINUSE ? std::string("the port is in use") : std::string(strerror(errno))));
}

}  // namespace

struct PrometheusExporter::Impl {
  std::unique_ptr<prometheus::Exposer> exposer;
  std::shared_ptr<StateCollectable> state = std::make_shared<StateCollectable>();
};

PrometheusExporter::PrometheusExporter(const std::string& address) : impl_(std::make_unique<Impl>()), address_(address) {
  check_listen_address(address);
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    throw ToolError("--prometheus " + address + ": cannot listen there (" + e.what() + ")");
  }
  impl_->exposer->RegisterCollectable(impl_->state);
}

PrometheusExporter::~PrometheusExporter() = default;

void PrometheusExporter::update(ExportedState s) { impl_->state->set(std::move(s)); }

std::string metrics_text(const ExportedState& s) { return prometheus::TextSerializer().Serialize(families(s)); }

}  // namespace holdscope
