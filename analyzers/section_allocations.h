// The allocations section: page and slab allocations made under mmap_lock, streamed or counted in the kernel, grouped
// by kind, lock mode, order or cache, gfp flags and stack.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "analyzers/context.h"
#include "analyzers/names.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class AllocationsSection {
 public:
  AllocationsSection(const TraceContext& ctx, const Names& names) : ctx_(ctx), names_(names) {}
  void on_alloc(const hs_event& e, int mode);
  // Adds the allocations the kernel counted rather than streamed.
  void finish(Report& r);

 private:
  enum GroupKind { kPageGroup = 0, kSlabGroup = 1 };  // slab and kmalloc allocations are grouped as slab
  struct Key {
    int kind;
    bool write;
    uint32_t order;
    std::string cache;
    uint64_t gfp;
    int32_t stack;
    bool operator<(const Key& o) const {
      return std::tie(kind, write, order, cache, gfp, stack) < std::tie(o.kind, o.write, o.order, o.cache, o.gfp, o.stack);
    }
  };
  struct Agg {
    uint64_t count = 0, bytes = 0, failed = 0;
  };
  void add(int kind, bool write, uint64_t what, uint64_t gfp, int32_t stack, uint64_t n, uint64_t failed);
  const TraceContext& ctx_;
  const Names& names_;
  std::map<Key, Agg> groups_;
};

}  // namespace holdscope
