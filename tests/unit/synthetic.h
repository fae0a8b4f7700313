// Builders for synthetic event streams: one line per kernel event, timestamps in microseconds for readability.
#pragma once
#include <vector>

#include "analyzers/context.h"
#include "bpf/holdscope_events.h"

namespace holdscope::test {

constexpr uint64_t us(uint64_t v) { return v * 1000; }
constexpr uint64_t kMmA = 0xffff888100000000ull;
constexpr uint64_t kMmB = 0xffff888200000000ull;
constexpr uint64_t kGfpKernel = 0xcc0;  // __GFP_RECLAIM|__GFP_IO|__GFP_FS
constexpr uint64_t kGfpNowait = 0x2800; // __GFP_KSWAPD_RECLAIM|__GFP_NOWARN
constexpr uint64_t kVmaCache = 0xffff888300000000ull;

inline hs_event ev(uint16_t type, uint64_t ts, uint32_t tid, uint64_t mm = 0, bool write = false, uint8_t flag = 0) {
  hs_event e{};
  e.type = type;
  e.ts = ts;
  e.pid = tid;
  e.tgid = tid;
  e.mm = mm;
  e.write = write;
  e.flag = flag;
  e.stack_id = -1;
  return e;
}

// A per-CPU work of lru_add_drain_all queued for target_cpu.
inline hs_event drain(uint64_t ts, uint32_t tid, uint32_t target_cpu) {
  hs_event e = ev(HS_EV_LRU_DRAIN, ts, tid);
  e.target_cpu = target_cpu;
  return e;
}
inline hs_event start(uint64_t ts, uint32_t tid, uint64_t mm, bool write) { return ev(HS_EV_LOCK_START, ts, tid, mm, write); }
inline hs_event acquired(uint64_t ts, uint32_t tid, uint64_t mm, bool write, bool success = true) {
  return ev(HS_EV_LOCK_ACQUIRED, ts, tid, mm, write, success ? HS_ACQ_F_SUCCESS : 0);
}
// The kernel's form of an uncontended acquisition: no start event, the start travels in the acquire event.
inline hs_event acquired_folded(uint64_t start_ts, uint64_t ts, uint32_t tid, uint64_t mm, bool write, bool success = true) {
  hs_event e =
      ev(HS_EV_LOCK_ACQUIRED, ts, tid, mm, write, (success ? HS_ACQ_F_SUCCESS : 0) | HS_ACQ_F_HAS_START);
  e.arg = start_ts;
  return e;
}
// The kernel's form of a hold with nothing streamed inside it: one record at the release (start_ts 0: none seen).
inline hs_event hold(uint64_t start_ts, uint64_t acquired_ts, uint64_t released_ts, uint32_t tid, uint64_t mm, bool write) {
  hs_event e = ev(HS_EV_LOCK_HOLD, released_ts, tid, mm, write, start_ts ? HS_HOLD_F_HAS_START : 0);
  e.arg = acquired_ts;
  e.arg2 = start_ts;
  return e;
}
// The write part of a hold that ends in a downgrade, as one record; the read part's release follows as its own.
inline hs_event downgraded_hold(uint64_t start_ts, uint64_t acquired_ts, uint64_t downgrade_ts, uint32_t tid, uint64_t mm) {
  hs_event e = hold(start_ts, acquired_ts, downgrade_ts, tid, mm, true);
  e.flag |= HS_HOLD_F_DOWNGRADE;
  return e;
}
inline hs_event downgrade(uint64_t ts, uint32_t tid, uint64_t mm) {
  return ev(HS_EV_LOCK_ACQUIRED, ts, tid, mm, false, HS_ACQ_F_SUCCESS | HS_ACQ_F_DOWNGRADE);
}
inline hs_event released(uint64_t ts, uint32_t tid, uint64_t mm, bool write) {
  return ev(HS_EV_LOCK_RELEASED, ts, tid, mm, write);
}
inline hs_event page_alloc(uint64_t ts, uint32_t tid, uint32_t order, uint64_t gfp) {
  auto e = ev(HS_EV_PAGE_ALLOC, ts, tid);
  e.order = order;
  e.arg = gfp;
  return e;
}
inline hs_event slab_alloc(uint64_t ts, uint32_t tid, uint64_t gfp, bool failed = false) {
  auto e = ev(HS_EV_SLAB_ALLOC, ts, tid, 0, false, failed ? HS_ALLOC_F_FAILED : 0);
  e.arg = gfp;
  e.arg2 = kVmaCache;
  return e;
}

inline TraceContext context() {
  TraceContext c;
  c.kernel = "6.18.0-test";
  c.start_ns = 0;
  c.end_ns = us(100000);
  c.gfp = GfpTable({{0xcc0, "GFP_KERNEL"},
                    {0x2800, "GFP_NOWAIT"},
                    {0x100, "__GFP_ZERO"},
                    {0x400, "__GFP_DIRECT_RECLAIM"},
                    {0x800, "__GFP_KSWAPD_RECLAIM"},
                    {0x2000, "__GFP_NOWARN"}});
  c.caches[kVmaCache] = {"vm_area_struct", 176};
  c.comms[100] = {"worker", 100};
  c.comms[200] = {"victim", 200};
  return c;
}

}  // namespace holdscope::test
