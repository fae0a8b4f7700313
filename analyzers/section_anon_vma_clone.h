// The anon_vma_clone section: its anon_vma_chain allocations, NOWAIT first and GFP_KERNEL only after a failed try,
// and the may-sleep ones made under the anon_vma root lock. Direct mode follows each call's bracket; inferred mode
// follows the task's chain allocations made from anon_vma_clone.
#pragma once
#include <cstdint>

#include "analyzers/attach_tasks.h"
#include "analyzers/names.h"
#include "analyzers/task_state.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

// anon_vma_clone's allocations, told by the function they are made from, or by their cache where SLUB did not merge it.
inline constexpr const char* kCloneFunction = "anon_vma_clone";
inline constexpr const char* kChainCacheName = "anon_vma_chain";

// An anon_vma_chain allocation: by the cache's name, or by the call site where SLUB merged the cache into one named
// after another.
bool is_chain_alloc(const TraceContext& ctx, const hs_event& e);
// Told by the call site, which is the same on every kernel, and not by the cache's name: where SLUB merges caches
// (CONFIG_SLAB_MERGE_DEFAULT, slab_merge), anon_vma_chain's objects come from a cache named after another, such as
// kmalloc-cg-64. anon_vma_clone allocates nothing but chains.
bool is_clone_chain_alloc(const TraceContext& ctx, uint64_t call_site);
inline bool is_clone_chain_alloc(const TraceContext& ctx, const hs_event& e) {
  return e.type == HS_EV_SLAB_ALLOC && is_clone_chain_alloc(ctx, e.arg3);
}

class AnonVmaCloneSection {
 public:
  AnonVmaCloneSection(const TraceContext& ctx, const AttachLayout& layout, const Names& names);
  // Inferred mode: a slab allocation of the task, with its entry in the analyzer's task table.
  bool follows(const hs_event& e) const { return !layout_.direct(kAnonVmaClone) && is_clone_chain_alloc(ctx_, e); }
  void on_inferred_alloc(const hs_event& e, TaskState& t);
  // Direct mode: an allocation inside the task's innermost frames.
  void on_alloc_in_frames(const hs_event& e, AttachTask& t);
  // Adds the NOWAIT tries the kernel counted rather than streamed.
  void finish(Report& r);

 private:
  void on_alloc_in_call(const hs_event& e, CloneState& call);
  void count_may_sleep_under_lock(const hs_event& e);
  const TraceContext& ctx_;
  const AttachLayout& layout_;
  const Names& names_;
  AnonVmaClone out_;
};

}  // namespace holdscope
