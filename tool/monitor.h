// holdscope monitor: runs until Ctrl-C/SIGTERM (or --duration, or -p's process exiting) with everything aggregated in
// the kernel (bpf/monitor.bpf.c); prints a table per interval, logs holds longer than --threshold-ms with their stack
// and what was done inside them, and serves Prometheus metrics.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace holdscope {

struct MonitorOptions {
  double interval_s = 10;  // 0: no tables
  double duration_s = 0;   // 0: until stopped
  pid_t pid = 0;
  std::string cgroup;      // a memory cgroup's path
  bool per_process = false;
  double threshold_ms = 0;  // 0: no slow-hold log
  std::string prometheus;   // ADDR:PORT, empty: none
  size_t prometheus_cgroups = 20;  // cgroups with their own label; the rest are "other"
  std::string json_path;    // JSON lines: one object per interval and per slow hold
  size_t top = 10;
  bool verbose = false;
};

int run_monitor(const MonitorOptions& o);

}  // namespace holdscope
