#include "analyzers/section_allocations.h"

#include <algorithm>

namespace holdscope {

namespace {

constexpr uint64_t kMaxPageOrder = 64;  // an order no kernel has comes only from a damaged recording

}  // namespace

void AllocationsSection::on_alloc(const hs_event& e, int mode) {
  if (mode == 0) return;  // the kernel's view said held, ours says not: ordering at a hold's edge; not under lock
  int kind = e.type == HS_EV_PAGE_ALLOC ? HS_ALLOC_PAGE : e.type == HS_EV_SLAB_ALLOC ? HS_ALLOC_SLAB : HS_ALLOC_KMALLOC;
  add(kind, mode == static_cast<int>(LockMode::write), kind == HS_ALLOC_PAGE ? e.order : e.arg2, e.arg, e.stack_id, 1,
      e.flag & HS_ALLOC_F_FAILED);
}

// n allocations of one kind under the lock, failed of them failed; what: the order, cache pointer or bytes.
void AllocationsSection::add(int kind, bool write, uint64_t what, uint64_t gfp, int32_t stack, uint64_t n,
                             uint64_t failed) {
  Key k{kind == HS_ALLOC_PAGE ? kPageGroup : kSlabGroup, write, 0, {}, gfp, stack};
  uint64_t bytes = 0;
  if (kind == HS_ALLOC_PAGE) {
    k.order = static_cast<uint32_t>(what);
    bytes = what < kMaxPageOrder ? ctx_.page_size << what : 0;
  } else if (kind == HS_ALLOC_SLAB) {
    auto c = ctx_.caches.find(what);
    if (c != ctx_.caches.end()) {
      k.cache = c->second.name;
      bytes = c->second.size;
    } else {
      k.cache = "?";
    }
  } else {
    k.cache = "kmalloc-" + std::to_string(what);
    bytes = what;
  }
  auto& a = groups_[k];
  a.count += n;
  a.failed += failed;
  a.bytes += (n - std::min(n, failed)) * bytes;
}

void AllocationsSection::finish(Report& r) {
  for (const auto& a : ctx_.alloc_counts)
    add(a.kind, a.mode == static_cast<int>(LockMode::write), a.what, a.gfp, a.stack_id, a.count, a.failed);
  for (const auto& [k, a] : groups_) {
    AllocGroup g;
    g.kind = k.kind == kPageGroup ? "page" : "slab";
    g.mode = held_mode_name(k.write);
    g.order = k.order;
    g.cache = k.cache;
    g.gfp_value = k.gfp;
    g.gfp = ctx_.gfp.decode(k.gfp);
    g.may_sleep = ctx_.gfp.may_sleep(k.gfp);
    g.count = a.count;
    g.bytes = a.bytes;
    g.failed = a.failed;
    g.stack = names_.stack(k.stack);
    r.allocations.push_back(std::move(g));
  }
  std::stable_sort(r.allocations.begin(), r.allocations.end(),
                   [](const AllocGroup& a, const AllocGroup& b) { return a.count > b.count; });
}

}  // namespace holdscope
