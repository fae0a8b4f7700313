// holdscope monitor's /metrics (prometheus-cpp): hold and wait time histograms in seconds and the work done under the
// lock as counters, labelled by mode and memory cgroup (a bounded set, the rest summed as cgroup="other"), and
// holdscope's own health: what it lost, its BPF programs' run time, its own CPU time.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "analyzers/monitor_stats.h"

namespace holdscope {

// What /metrics shows, updated by the monitor at each tick and read by the HTTP server's threads.
struct ExportedState {
  std::map<std::string, GroupStats> cgroups;  // labelled ones, and LabelBudget::kOther
  MonitorLosses losses;
  uint64_t bpf_run_ns = 0;
  bool bpf_stats_enabled = false;
};

class PrometheusExporter {
 public:
  // Listens on ADDR:PORT (an IPv4 address, [IPv6] or a host name); throws ToolError in one line when it cannot (a
  // port in use, a bad address).
  explicit PrometheusExporter(const std::string& address);
  ~PrometheusExporter();
  void update(ExportedState s);
  const std::string& address() const { return address_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

// The exposition's metric families for a state: the same text /metrics serves (for tests and --prometheus-dump).
std::string metrics_text(const ExportedState& s);

}  // namespace holdscope
