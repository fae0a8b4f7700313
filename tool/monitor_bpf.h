// Loads, attaches and reads the monitor's BPF object (bpf/monitor.bpf.c). RAII: every exit path detaches and frees.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/monitor_stats.h"
#include "bpf/monitor_maps.h"
#include "tool/tracer.h"

struct monitor_bpf;
struct ring_buffer;

namespace holdscope {

struct MonitorBpfOptions {
  pid_t pid = 0;           // -p: only this process (0: all)
  uint64_t cgroup = 0;     // --cgroup: only this memory cgroup's id (0: all)
  bool per_process = false;
  uint64_t threshold_ns = 0;  // slow-hold records (0: none)
  uint64_t lru_drain_fn = 0;
  uint64_t gfp_direct_reclaim = 0;
  bool verbose = false;
};

class MonitorBpf {
 public:
  using SlowHoldFn = std::function<void(const hs_mon_slow_hold&)>;

  explicit MonitorBpf(const MonitorBpfOptions& o);
  ~MonitorBpf();
  MonitorBpf(const MonitorBpf&) = delete;
  MonitorBpf& operator=(const MonitorBpf&) = delete;

  const std::vector<ProbePlan>& plan() const { return plan_; }
  void start(SlowHoldFn fn);
  // Waits up to timeout_ms for slow-hold records and hands each to the callback (stack() works inside it); their
  // stacks are freed after, so the stack table holds only what is still to be read.
  void poll(int timeout_ms);
  // The kernel's cumulative tables, and starts a new period for the histograms' maxima.
  MonitorReading read();
  // Deletes these groups' kernel entries (idle ones), so that the tables hold the groups active lately.
  void forget(const std::vector<GroupKey>& groups);
  std::vector<uint64_t> stack(int32_t id) const;
  // The loaded programs, for their run time (bpf_prog_info).
  std::vector<int> program_fds() const;
  void stop();

 private:
  static int on_sample(void* ctx, void* data, size_t len);
  struct SkelDeleter {
    void operator()(monitor_bpf* s) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  MonitorBpfOptions opts_;
  std::unique_ptr<monitor_bpf, SkelDeleter> skel_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  std::vector<ProbePlan> plan_;
  SlowHoldFn fn_;
  std::vector<int32_t> read_stacks_;
};

}  // namespace holdscope
