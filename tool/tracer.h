// Loads, attaches and reads the holdscope BPF object. Owns every libbpf object through RAII, so any exit path
// (error, signal, normal end) detaches all programs and frees all maps.
#pragma once
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "analyzers/context.h"
#include "analyzers/symbols.h"
#include "bpf/holdscope_events.h"
#include "tool/attach_plan.h"
#include "tool/libbpf_support.h"
#include "tool/probes.h"

struct holdscope_bpf;
struct ring_buffer;

namespace holdscope {

struct TracerOptions {
  bool filter_targets = false;  // trace only target processes, their children and their mms
  uint64_t filter_cgroup = 0;   // trace only the tasks of this memory cgroup (its id); 0: any
  ModeRequests modes;  // per attach point
  const SymbolTable* kallsyms = nullptr;     // for the names of renamed functions in the attach plan
  int lock_stacks = 2;  // 0 none, 1 every acquisition, 2 at the release of holds >= stack_min_hold_us
  uint64_t stack_min_hold_us = 100;
  int alloc_stacks = 1;  // 0 none, 1 per page allocation and per slab call site and mode, 2 per allocation
  bool stream_allocs = false;  // stream every allocation under the lock (timestamps for a timeline), count none
  uint32_t ringbuf_mb = 16;
  uint64_t lru_drain_fn = 0;
  uint64_t gfp_direct_reclaim = 0;  // __GFP_DIRECT_RECLAIM's value here (0: unknown, stream every clone allocation)
  bool verbose = false;
};

class Tracer {
 public:
  using EventFn = std::function<void(const hs_event&)>;

  explicit Tracer(TracerOptions opts);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  const std::vector<ProbePlan>& plan() const { return plan_; }
  const std::vector<AttachChoice>& attach_choices() const { return attach_; }
  // Kernel function bracketed by each fentry/fexit slot, in slot order.
  const std::vector<std::string>& slot_functions() const { return slots_; }
  void add_target(pid_t tgid);
  // Attaches everything, then opens the gate in one step so all tracepoints start together.
  void start(EventFn fn);
  int poll(int timeout_ms);
  void flush_batches();
  void stop();  // closes the gate and drains what is already in the ring buffer

  KernelCounters counters() const;
  // Stacks, caches and comms seen, for the recording. Call after stop().
  void fill_context(TraceContext& ctx) const;
  const std::unordered_set<int32_t>& stack_ids() const { return stack_ids_; }
  const std::unordered_set<uint64_t>& call_sites() const { return call_sites_; }

 private:
  static int on_sample(void* ctx, void* data, size_t len);
  void plan_direct_programs(const struct btf* vmlinux);
  void fold_tallies();
  uint64_t unflushed_records() const;
  static constexpr int kEndFlushTries = 10000;
  struct SkelDeleter {
    void operator()(holdscope_bpf* s) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  TracerOptions opts_;
  std::unique_ptr<holdscope_bpf, SkelDeleter> skel_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  std::vector<ProbePlan> plan_;
  std::vector<AttachChoice> attach_;
  std::vector<std::string> slots_;
  EventFn fn_;
  std::unordered_set<int32_t> stack_ids_;
  std::unordered_set<uint64_t> call_sites_;
  uint64_t lost_at_end_ = 0;  // records left in a batch that never became idle at the end
};


}  // namespace holdscope
