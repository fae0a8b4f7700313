// The four attach points (LRU drains, khugepaged collapses, anon_vma_clone, the allocator slow path), from fentry/fexit
// brackets where the trace ran them direct and from tracepoint inference where not. The analyzer owns the mmap_lock
// state machine and hands this tracker each event together with the task's lock mode, and each completed hold and
// wait; the tracker fills the attach-point, khugepaged and slow-path sections of the report.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/attach_points.h"
#include "analyzers/context.h"
#include "analyzers/report.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

// anon_vma_clone's allocations, told by the function they are made from, or by their cache where SLUB did not merge it.
inline constexpr const char* kCloneFunction = "anon_vma_clone";
inline constexpr const char* kChainCacheName = "anon_vma_chain";

struct TrackerHooks {
  std::function<std::vector<std::string>(int32_t)> stack;  // stack id -> frames
  std::function<std::string(int32_t)> syscall;              // stack id -> system call that entered the kernel
  std::function<std::string(uint32_t)> comm;                // tid -> name
  // direct mode: an LRU drain call under mmap_lock (mode 1 read, 2 write) took ns; stack: its first work's
  std::function<void(int mode, int32_t stack, uint64_t ns)> drain_timed;
};

class AttachTracker {
 public:
  AttachTracker(const TraceContext& ctx, Report& r, TrackerHooks hooks);
  ~AttachTracker();
  bool direct(AttachPoint p) const;
  // Every event, with the analyzer's mmap_lock mode of its task (0 none, 1 read, 2 write) before the event applies.
  void on_event(const hs_event& e, int mode);
  void on_hold(uint32_t tid, uint64_t mm, bool write, uint64_t start, uint64_t end);
  void on_wait(uint32_t tid, uint64_t mm, bool write, uint64_t start, uint64_t end);
  void finish();
  size_t tracked() const;  // per-task entries held (for bounded-memory tests)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace holdscope
