#include "analyzers/section_anon_vma_clone.h"

#include <algorithm>

namespace holdscope {

namespace {

constexpr size_t kMaySleepStacks = 10;

}  // namespace

bool is_chain_alloc(const TraceContext& ctx, const hs_event& e) {
  if (e.type != HS_EV_SLAB_ALLOC) return false;
  auto c = ctx.caches.find(e.arg2);
  if (c != ctx.caches.end() && c->second.name == kChainCacheName) return true;
  const Symbol* s = ctx.symbols.find(e.arg3);
  return s != nullptr && s->name == kCloneFunction;
}

bool is_clone_chain_alloc(const TraceContext& ctx, uint64_t call_site) {
  const Symbol* s = ctx.symbols.find(call_site);
  return s != nullptr && s->name == kCloneFunction;
}

AnonVmaCloneSection::AnonVmaCloneSection(const TraceContext& ctx, const AttachLayout& layout, const Names& names)
    : ctx_(ctx), layout_(layout), names_(names) {
  if (layout.direct(kAnonVmaClone)) out_.mode = AttachMode::direct;
}

void AnonVmaCloneSection::count_may_sleep_under_lock(const hs_event& e) {
  out_.may_sleep_under_lock++;
  auto st = names_.stack(e.stack_id);
  if (out_.may_sleep_stacks.size() < kMaySleepStacks &&
      std::find(out_.may_sleep_stacks.begin(), out_.may_sleep_stacks.end(), st) == out_.may_sleep_stacks.end())
    out_.may_sleep_stacks.push_back(std::move(st));
}

// Inferred: the kernel streams anon_vma_clone's failed NOWAIT tries and its may-sleep allocations.
void AnonVmaCloneSection::on_inferred_alloc(const hs_event& e, TaskState& t) {
  if (!ctx_.gfp.may_sleep(e.arg)) {
    out_.nowait_attempts++;
    if (e.flag & HS_ALLOC_F_FAILED) {
      out_.nowait_failures++;
      t.clone_retry_due = true;
    }
    return;
  }
  if (t.clone_retry_due) {
    out_.gfp_kernel_retries++;
    t.clone_retry_due = false;
    return;
  }
  count_may_sleep_under_lock(e);
}

void AnonVmaCloneSection::on_alloc_in_frames(const hs_event& e, AttachTask& t) {
  for_innermost_frames(t, [&](Frame& f) {
    if (f.point == kAnonVmaClone && layout_.slot_name[f.slot] == kCloneFunction) on_alloc_in_call(e, f.clone);
  });
}

void AnonVmaCloneSection::on_alloc_in_call(const hs_event& e, CloneState& call) {
  bool may_sleep = ctx_.gfp.may_sleep(e.arg);
  bool failed = e.flag & HS_ALLOC_F_FAILED;
  if (is_chain_alloc(ctx_, e)) {
    if (!may_sleep) {
      out_.nowait_attempts++;
      if (failed) {
        out_.nowait_failures++;
        call.retry_due = true;
        call.root_locked = false;  // anon_vma_clone drops the root lock before retrying
        return;
      }
    } else if (call.retry_due) {
      out_.gfp_kernel_retries++;
      call.retry_due = false;
    } else if (call.root_locked) {
      count_may_sleep_under_lock(e);
    }
    if (!failed) call.root_locked = true;  // each chain is linked under the root lock, taken after allocating it
    return;
  }
  if (may_sleep && call.root_locked) count_may_sleep_under_lock(e);
}

void AnonVmaCloneSection::finish(Report& r) {
  // The kernel streams anon_vma_clone's failed NOWAIT tries and its may-sleep allocations (the inference needs their
  // order) and counts the NOWAIT tries that succeed.
  for (const auto& a : ctx_.alloc_counts) {
    if (layout_.direct(kAnonVmaClone) || a.kind != HS_ALLOC_SLAB || ctx_.gfp.may_sleep(a.gfp) ||
        !is_clone_chain_alloc(ctx_, a.site))
      continue;
    out_.nowait_attempts += a.count;
    out_.nowait_failures += a.failed;
  }
  r.anon_vma_clone = std::move(out_);
}

}  // namespace holdscope
