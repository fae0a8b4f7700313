// Everything a report needs besides the event stream: what the kernel was, what was traced, and the tables that
// turn raw values (stack ids, cache pointers, gfp bits, tids) into names.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzers/attach_points.h"
#include "analyzers/gfp.h"
#include "analyzers/symbols.h"

namespace holdscope {

struct CacheInfo {
  std::string name;
  uint32_t size = 0;
};

struct TaskName {
  std::string comm;
  uint32_t tgid = 0;
  uint64_t cgroup = 0;  // its memory cgroup's id when the name was cached; 0: unknown (older recordings)
};

// Losses counted in the kernel. Every field is printed in every report.
struct KernelCounters {
  uint64_t ringbuf = 0;
  uint64_t task_map_full = 0;
  uint64_t stack = 0;
  uint64_t held_overflow = 0;
  uint64_t scope_map_full = 0;
  uint64_t alloc_map_full = 0;  // allocations under the lock lost: the in-kernel count map was full
  uint64_t events = 0;
};

// Allocations under mmap_lock counted in the kernel rather than streamed (see hs_alloc_key).
struct AllocCount {
  int kind = 0;     // HS_ALLOC_PAGE, HS_ALLOC_SLAB, HS_ALLOC_KMALLOC
  int mode = 1;     // 1 read, 2 write
  uint64_t site = 0;
  uint64_t what = 0;  // order, cache pointer or bytes
  uint64_t gfp = 0;
  int32_t stack_id = -1;
  uint64_t count = 0;
  uint64_t failed = 0;
  uint64_t cgroup = 0;  // the allocating task's memory cgroup; 0: unknown
};

// How one attach point was observed in this trace.
struct AttachPointInfo {
  std::string name;
  AttachMode mode = AttachMode::unavailable;
  std::string why;
  std::vector<std::string> functions;  // direct: bracketed by fentry/fexit
};

struct TraceContext {
  std::string kernel;
  std::string hostname;
  uint64_t page_size = 4096;
  uint64_t start_ns = 0;  // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
  uint64_t end_ns = 0;
  std::string scope = "system";  // "system" or "command"
  std::vector<std::string> command;
  int command_exit = 0;
  KernelCounters counters;
  GfpTable gfp;
  SymbolTable symbols;
  std::unordered_map<int32_t, std::vector<uint64_t>> stacks;
  std::unordered_map<uint64_t, CacheInfo> caches;
  std::unordered_map<uint32_t, TaskName> comms;
  std::map<uint64_t, std::string> cgroups;  // memory cgroup id -> its path in the hierarchy, as named at the trace's end
  std::string cgroup_filter;                // record --cgroup: the memory cgroup the trace was limited to
  std::vector<AllocCount> alloc_counts;
  uint64_t lru_drain_fn = 0;
  std::vector<AttachPointInfo> attach_points;
  std::vector<std::string> fn_slots;             // HS_EV_FN_* arg -> kernel function
  std::map<int64_t, std::string> collapse_status;  // khugepaged scan result names, from the kernel's print format
};

}  // namespace holdscope
