// What holdscope attaches to: the tracepoints of the core trace, and the kernel functions of the four attach points
// that can be observed directly (fentry/fexit) where the kernel allows it, or inferred from tracepoints where not.
#pragma once
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "analyzers/attach_points.h"

struct btf;
struct bpf_object;

namespace holdscope {

struct TracepointSpec {
  const char* program;  // in holdscope.bpf.c
  const char* category;
  const char* name;
  const char* how;  // "tracepoint" | "raw_tracepoint"
  bool required;
  // raw_tracepoint only: the arguments the BPF program reads them as (checked against the kernel's BTF), and whether
  // the kernel may pass one more, mmap_lock's memcg_path before `write` (up to 6.13).
  int raw_args = 0;
  bool memcg_path_variant = false;
};

// mmap_lock events are the point of the tool; the others enrich the report and may be compiled out of a kernel.
inline constexpr TracepointSpec kTracepoints[] = {
    {"hs_lock_start", "mmap_lock", "mmap_lock_start_locking", "raw_tracepoint", true, 2, true},
    {"hs_lock_acquired", "mmap_lock", "mmap_lock_acquire_returned", "raw_tracepoint", true, 3, true},
    {"hs_lock_released", "mmap_lock", "mmap_lock_released", "raw_tracepoint", true, 2, true},
    {"hs_page_alloc", "kmem", "mm_page_alloc", "raw_tracepoint", false, 4},
    {"hs_slab_alloc", "kmem", "kmem_cache_alloc", "raw_tracepoint", false, 5},
    {"hs_kmalloc", "kmem", "kmalloc", "raw_tracepoint", false, 6},
    {"hs_reclaim_begin", "vmscan", "mm_vmscan_direct_reclaim_begin", "tracepoint", false},
    {"hs_reclaim_end", "vmscan", "mm_vmscan_direct_reclaim_end", "tracepoint", false},
    {"hs_memcg_reclaim_begin", "vmscan", "mm_vmscan_memcg_reclaim_begin", "tracepoint", false},
    {"hs_memcg_reclaim_end", "vmscan", "mm_vmscan_memcg_reclaim_end", "tracepoint", false},
    {"hs_compact_begin", "compaction", "mm_compaction_begin", "tracepoint", false},
    {"hs_compact_end", "compaction", "mm_compaction_end", "tracepoint", false},
    {"hs_queue_work", "workqueue", "workqueue_queue_work", "tracepoint", false},
    {"hs_fork", "sched", "sched_process_fork", "raw_tracepoint", true, 2},
    {"hs_exit", "sched", "sched_process_exit", "tracepoint", true},
    {"hs_free", "sched", "sched_process_free", "raw_tracepoint", true, 1},
    {"hs_rename", "task", "task_rename", "tracepoint", false},
    {"hs_compact_try", "compaction", "mm_compaction_try_to_compact_pages", "tracepoint", false},
    {"hs_collapse", "huge_memory", "mm_collapse_huge_page", "tracepoint", false},
    {"hs_scan_pmd", "huge_memory", "mm_khugepaged_scan_pmd", "tracepoint", false},
};

// How a raw tracepoint passes its arguments on this kernel, read from the BTF of its btf_trace_<name> typedef.
struct RawArgs {
  bool ok = true;
  bool memcg_path = false;  // mmap_lock's memcg_path argument is there
  std::string why;          // when not ok
};
RawArgs check_raw_args(const struct btf* vmlinux, const TracepointSpec& tp);

// One planned attachment: which program, on what, and whether it will run (with the reason when not).
struct ProbePlan {
  std::string program;
  std::string target;  // "category:name"
  std::string how;     // "tracepoint" | "raw_tracepoint"
  bool required = false;
  bool available = false;
  std::string why;
};

// Plans the tracepoint programs of a BPF object (tracepoint_plan.cpp): each loads when its tracepoint is in this
// kernel and passes the arguments the program reads; an mmap_lock program loads in the argument layout of this kernel
// (its other layout stays unloaded); the LRU drain program only when lru_add_drain_per_cpu's address is known. A
// required tracepoint that cannot be used throws "... holdscope cannot PURPOSE".
std::vector<ProbePlan> plan_tracepoints(struct bpf_object* obj, const struct btf* vmlinux,
                                        std::span<const TracepointSpec> specs, bool lru_drain_known,
                                        const std::string& purpose);

struct AttachPointSpec {
  const char* name;
  // Direct mode brackets the first set whose first function fentry can attach to, with every function of that set
  // that attaches (a static function may be inlined or renamed: later sets are the fallbacks).
  std::vector<std::vector<std::string>> function_sets;
  std::vector<std::string> tracepoints;   // inferred mode needs these ("category:name")
  const char* inferred_from;              // how inferred mode sees it, in words
  std::vector<std::string> functions() const {
    std::vector<std::string> out;
    for (const auto& set : function_sets)
      for (const auto& f : set)
        if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    return out;
  }
};

// Functions whose first argument is the struct mm_struct * they work on.
inline bool first_arg_is_mm(const std::string& fn) {
  return fn == "collapse_huge_page" || fn == "hpage_collapse_scan_pmd";
}

inline const std::vector<AttachPointSpec>& attach_points() {
  static const std::vector<AttachPointSpec> points = {
      {kAttachPointNames[kLruDrain],
       {{"lru_add_drain_all", "lru_cache_disable"}, {"lru_cache_disable"}},
       {"workqueue:workqueue_queue_work"},
       "workqueue_queue_work of lru_add_drain_per_cpu, attributed to the queuing task's mmap_lock state"},
      {kAttachPointNames[kKhugepaged],
       {{"collapse_huge_page"},
        {"hpage_collapse_scan_pmd", "madvise_collapse"},
        {"khugepaged_scan_mm_slot", "madvise_collapse"}},
       {"huge_memory:mm_collapse_huge_page", "huge_memory:mm_khugepaged_scan_pmd"},
       "huge_memory collapse tracepoints plus the khugepaged thread's mmap_lock events on the target mm"},
      {kAttachPointNames[kAnonVmaClone],
       {{"anon_vma_clone", "anon_vma_fork"}},
       {"kmem:kmem_cache_alloc"},
       "anon_vma_chain slab allocations whose call site lies in anon_vma_clone: gfp, and NULL for a failed NOWAIT try"},
      {kAttachPointNames[kAllocSlowpath],
       {{"__alloc_pages_slowpath"}},
       {"vmscan:mm_vmscan_direct_reclaim_begin", "compaction:mm_compaction_try_to_compact_pages"},
       "direct reclaim and compaction events, and the gfp of the allocation that follows"},
  };
  return points;
}

}  // namespace holdscope
