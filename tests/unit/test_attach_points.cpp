// The attach points on synthetic streams: each inference rule with both outcomes, and the direct-mode brackets.
#include <catch2/catch_test_macros.hpp>

#include "analyzers/analyzer.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;

namespace {

constexpr uint64_t kChainCache = 0xffff888400000000ull;
constexpr uint64_t kCloneFn = 0xffffffff81200000ull;
constexpr uint32_t kKhugepagedTid = 300;

// Slots as a loader would number them on a kernel that permits fentry.
enum Slot : uint64_t { kSlotDrainAll = 0, kSlotCacheDisable = 1, kSlotCollapse = 2, kSlotClone = 3, kSlotFork = 4, kSlotSlow = 5 };

TraceContext ctx_with(AttachMode mode) {
  auto c = context();
  c.caches[kChainCache] = {"anon_vma_chain", 64};
  c.symbols = SymbolTable({{kCloneFn, "anon_vma_clone"}});
  c.comms[kKhugepagedTid] = {"khugepaged", kKhugepagedTid};
  c.collapse_status = {{0, "failed"}, {1, "succeeded"}, {24, "alloc_huge_page_failed"}};
  bool direct = mode == AttachMode::direct;
  c.attach_points = {
      {"lru_drain", mode, "test", direct ? std::vector<std::string>{"lru_add_drain_all", "lru_cache_disable"} : std::vector<std::string>{}},
      {"khugepaged", mode, "test", direct ? std::vector<std::string>{"collapse_huge_page"} : std::vector<std::string>{}},
      {"anon_vma_clone", mode, "test", direct ? std::vector<std::string>{"anon_vma_clone", "anon_vma_fork"} : std::vector<std::string>{}},
      {"alloc_slowpath", mode, "test", direct ? std::vector<std::string>{"__alloc_pages_slowpath"} : std::vector<std::string>{}},
  };
  if (direct)
    c.fn_slots = {"lru_add_drain_all", "lru_cache_disable", "collapse_huge_page", "anon_vma_clone", "anon_vma_fork",
                  "__alloc_pages_slowpath"};
  return c;
}

hs_event fn_entry(uint64_t ts, uint32_t tid, uint64_t slot, uint8_t lock, uint64_t mm = 0) {
  auto e = ev(HS_EV_FN_ENTRY, ts, tid, mm, false, lock);
  e.arg = slot;
  return e;
}
hs_event fn_exit(uint64_t ts, uint32_t tid, uint64_t slot, uint64_t ret = 0) {
  auto e = ev(HS_EV_FN_EXIT, ts, tid);
  e.arg = slot;
  e.arg2 = ret;
  return e;
}
hs_event chain(uint64_t ts, uint32_t tid, uint64_t gfp, bool failed = false) {
  auto e = slab_alloc(ts, tid, gfp, failed);
  e.arg2 = kChainCache;
  e.arg3 = kCloneFn + 0x40;
  return e;
}
hs_event collapse_tp(uint64_t ts, uint32_t tid, uint64_t mm, uint64_t status) {
  auto e = ev(HS_EV_COLLAPSE, ts, tid, mm, false, status == 1);
  e.arg = status;
  return e;
}
hs_event reclaim(uint16_t type, uint64_t ts, uint32_t tid) { return ev(type, ts, tid); }

const AttachPointReport& point(const Report& r, const std::string& name) {
  for (const auto& p : r.attach_points)
    if (p.name == name) return p;
  FAIL("no attach point " << name);
  return r.attach_points.front();
}

// khugepaged's collapse since the seed-001 fix: scan under read, drop it, allocate with no lock, revalidate under
// read, collapse under write. The victim (tid 200) faults during the write hold and waits for it.
std::vector<hs_event> fixed_collapse(bool alloc_under_write) {
  std::vector<hs_event> s = {start(us(0), kKhugepagedTid, kMmA, false), acquired(us(1), kKhugepagedTid, kMmA, false)};
  if (alloc_under_write) {  // the pre-fix order: the huge page allocated under the write lock
    s.insert(s.end(), {released(us(10), kKhugepagedTid, kMmA, false), start(us(40), kKhugepagedTid, kMmA, true),
                       acquired(us(41), kKhugepagedTid, kMmA, true), page_alloc(us(50), kKhugepagedTid, 9, kGfpKernel)});
  } else {
    s.insert(s.end(), {released(us(10), kKhugepagedTid, kMmA, false), page_alloc(us(20), kKhugepagedTid, 9, kGfpKernel),
                       start(us(30), kKhugepagedTid, kMmA, false), acquired(us(31), kKhugepagedTid, kMmA, false),
                       released(us(35), kKhugepagedTid, kMmA, false), start(us(40), kKhugepagedTid, kMmA, true),
                       acquired(us(41), kKhugepagedTid, kMmA, true)});
  }
  s.insert(s.end(), {start(us(60), 200, kMmA, false), released(us(141), kKhugepagedTid, kMmA, true),
                     acquired(us(142), 200, kMmA, false), released(us(150), 200, kMmA, false),
                     collapse_tp(us(143), kKhugepagedTid, kMmA, 1)});
  return s;
}

}  // namespace

TEST_CASE("LRU drain inference: works in ascending CPU order are one call; a repeated CPU starts the next") {
  auto ctx = ctx_with(AttachMode::inferred);
  SECTION("one call on three CPUs") {
    Report r = analyze(ctx, {drain(us(10), 100, 0), drain(us(11), 100, 1), drain(us(12), 100, 2)});
    CHECK(r.lru_drains.calls_none == 1);
    CHECK(*point(r, "lru_drain").calls == 1);
  }
  SECTION("two back-to-back calls within the burst window") {
    Report r = analyze(ctx, {drain(us(10), 100, 0), drain(us(11), 100, 1), drain(us(12), 100, 0), drain(us(13), 100, 1)});
    CHECK(r.lru_drains.inferred_calls == 2);
    CHECK(r.lru_drains.calls_none == 2);
    CHECK(r.lru_drains.works == 4);
    CHECK(point(r, "lru_drain").functions.empty());  // no time inside without brackets
  }
  SECTION("one call whose works a stalled vCPU spread over 40 ms; a call 200 ms later is another") {
    Report r = analyze(ctx, {drain(us(10), 100, 0), drain(us(40'010), 100, 1), drain(us(240'010), 100, 1)});
    CHECK(r.lru_drains.inferred_calls == 2);
    CHECK(r.lru_drains.calls_none == 2);
  }
}

TEST_CASE("LRU drain, direct: calls and the caller's lock state from the brackets, time inside, works counted apart") {
  auto ctx = ctx_with(AttachMode::direct);
  Report r = analyze(ctx, {
                              fn_entry(us(10), 100, kSlotCacheDisable, 0), drain(us(11), 100, 0), drain(us(12), 100, 1),
                              fn_exit(us(40), 100, kSlotCacheDisable),
                              start(us(50), 100, kMmA, true), acquired(us(51), 100, kMmA, true),
                              fn_entry(us(60), 100, kSlotDrainAll, 2),  // the pre-fix migrate_prep: under the write lock
                              fn_exit(us(70), 100, kSlotDrainAll),      // queued nothing: still a call
                              fn_entry(us(72), 100, kSlotDrainAll, 2), drain(us(73), 100, 0), drain(us(74), 100, 1),
                              fn_exit(us(79), 100, kSlotDrainAll),  // waited 7 us for its works, under the lock
                              released(us(80), 100, kMmA, true),
                          });
  const auto& p = point(r, "lru_drain");
  CHECK(p.mode == AttachMode::direct);
  CHECK(*p.calls == 3);
  CHECK((*p.calls_by_lock)[0] == 1);
  CHECK((*p.calls_by_lock)[2] == 2);
  REQUIRE(p.functions.size() == 2);
  CHECK(p.functions[0].name == "lru_add_drain_all");
  CHECK(p.functions[0].time_inside.max_ns == us(10));
  CHECK(p.functions[1].time_inside.max_ns == us(30));
  CHECK(r.lru_drains.calls_none == 1);
  CHECK(r.lru_drains.calls_write == 2);
  CHECK(r.lru_drains.works == 4);
  // The drain under the lock is sleeping work, with the time the brackets measured (inferred mode has none).
  REQUIRE(r.sleeping.size() == 1);
  CHECK(r.sleeping[0].kind == "lru_drain");
  CHECK(r.sleeping[0].mode == "write");
  CHECK(r.sleeping[0].count == 1);
  CHECK(r.sleeping[0].works == 2);
  CHECK(r.sleeping[0].total_ns == us(7));
}

TEST_CASE("anon_vma_clone, direct: the brackets tell the first chain (no lock yet) from later ones (under it)") {
  auto ctx = ctx_with(AttachMode::direct);
  SECTION("fixed kernel: NOWAIT under the lock, GFP_KERNEL only after a failure dropped it") {
    Report r = analyze(ctx, {
                                start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true),
                                fn_entry(us(10), 100, kSlotClone, 2),
                                chain(us(11), 100, kGfpNowait), chain(us(12), 100, kGfpNowait, true),
                                chain(us(13), 100, kGfpKernel), chain(us(14), 100, kGfpNowait),
                                fn_exit(us(20), 100, kSlotClone),
                                chain(us(21), 100, kGfpKernel),  // outside the bracket (anon_vma_fork's own)
                                released(us(30), 100, kMmA, true),
                            });
    const auto& ac = r.anon_vma_clone;
    CHECK(ac.mode == AttachMode::direct);
    CHECK(ac.nowait_attempts == 3);
    CHECK(ac.nowait_failures == 1);
    CHECK(ac.gfp_kernel_retries == 1);
    CHECK(ac.may_sleep_under_lock == 0);
    CHECK(point(r, "anon_vma_clone").slab_allocs == 4);
  }
  SECTION("a GFP_KERNEL chain after the first is under the anon_vma lock; the first one is not") {
    Report r = analyze(ctx, {
                                start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true),
                                fn_entry(us(10), 100, kSlotClone, 2),
                                chain(us(11), 100, kGfpKernel),  // first chain: allocated before the lock is taken
                                chain(us(12), 100, kGfpKernel),  // second: under the root lock
                                page_alloc(us(13), 100, 0, kGfpKernel),  // anything else that may sleep, too
                                fn_exit(us(20), 100, kSlotClone),
                                released(us(30), 100, kMmA, true),
                            });
    CHECK(r.anon_vma_clone.may_sleep_under_lock == 2);
    CHECK(r.anon_vma_clone.gfp_kernel_retries == 0);
  }
}

TEST_CASE("anon_vma_clone, both modes: chains from a cache SLUB merged under another name are still chains") {
  for (AttachMode mode : {AttachMode::direct, AttachMode::inferred}) {
    auto ctx = ctx_with(mode);
    ctx.caches[kChainCache] = {"kmalloc-cg-64", 64};
    std::vector<hs_event> s = {start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true)};
    if (mode == AttachMode::direct) s.push_back(fn_entry(us(10), 100, kSlotClone, 2));
    for (auto e : {chain(us(11), 100, kGfpNowait), chain(us(12), 100, kGfpNowait, true), chain(us(13), 100, kGfpKernel)})
      s.push_back(e);
    if (mode == AttachMode::direct) s.push_back(fn_exit(us(20), 100, kSlotClone));
    s.push_back(released(us(30), 100, kMmA, true));
    Report r = analyze(ctx, s);
    INFO(to_string(mode));
    CHECK(r.anon_vma_clone.nowait_attempts == 2);
    CHECK(r.anon_vma_clone.nowait_failures == 1);
    CHECK(r.anon_vma_clone.gfp_kernel_retries == 1);
    CHECK(r.anon_vma_clone.may_sleep_under_lock == 0);
  }
}

TEST_CASE("khugepaged inference: lock sequence, allocation outside the lock, write hold, the waiter it blocked") {
  auto ctx = ctx_with(AttachMode::inferred);
  Report r = analyze(ctx, fixed_collapse(false));
  REQUIRE(r.khugepaged.mms.size() == 1);
  const auto& m = r.khugepaged.mms[0];
  CHECK(m.mm == kMmA);
  CHECK(m.attempted == 1);
  CHECK(m.succeeded == 1);
  CHECK(m.alloc_under[0] == 1);
  CHECK(m.write_hold.max_ns == us(100));
  CHECK(m.blocked_waits == 1);
  CHECK(m.blocked_max_ns == us(82));
  CHECK(m.tgid == 200);
  REQUIRE(m.collapses.size() == 1);
  const auto& c = m.collapses[0];
  CHECK(c.result == "succeeded");
  CHECK(c.alloc_under == "none");
  REQUIRE(c.sequence.size() == 3);
  CHECK(c.sequence[0].what == "huge_page");
  CHECK(c.sequence[1].what == "read");
  CHECK(c.sequence[2].what == "write");
  CHECK(c.sequence[2].duration_ns == us(100));
  REQUIRE(c.blocked.size() == 1);
  CHECK(c.blocked[0].comm == "victim");
  CHECK(*point(r, "khugepaged").calls == 1);
}

TEST_CASE("khugepaged inference: a huge page allocated under the write lock is reported as such") {
  auto ctx = ctx_with(AttachMode::inferred);
  Report r = analyze(ctx, fixed_collapse(true));
  REQUIRE(r.khugepaged.mms.size() == 1);
  CHECK(r.khugepaged.mms[0].alloc_under[2] == 1);
  CHECK(r.khugepaged.mms[0].collapses[0].alloc_under == "write");
}

TEST_CASE("khugepaged inference: a huge page with no collapse after it (a THP fault) is no collapse") {
  auto ctx = ctx_with(AttachMode::inferred);
  Report r = analyze(ctx, {page_alloc(us(5), 100, 9, kGfpKernel), ev(HS_EV_SCAN_PMD, us(6), 100, kMmA)});
  CHECK(r.khugepaged.mms.empty());
}

TEST_CASE("khugepaged, direct: collapse_huge_page's bracket delimits the collapse; its return value is the result") {
  auto ctx = ctx_with(AttachMode::direct);
  std::vector<hs_event> s = {start(us(0), kKhugepagedTid, kMmA, false), acquired(us(1), kKhugepagedTid, kMmA, false),
                             fn_entry(us(5), kKhugepagedTid, kSlotCollapse, 1, kMmA)};
  auto body = fixed_collapse(false);
  for (size_t i = 2; i < body.size(); i++)
    if (body[i].type != HS_EV_COLLAPSE) s.push_back(body[i]);
  s.push_back(fn_exit(us(145), kKhugepagedTid, kSlotCollapse, 1));
  Report r = analyze(ctx, s);
  REQUIRE(r.khugepaged.mms.size() == 1);
  const auto& m = r.khugepaged.mms[0];
  CHECK(r.khugepaged.mode == AttachMode::direct);
  CHECK(m.succeeded == 1);
  CHECK(m.alloc_under[0] == 1);
  CHECK(m.blocked_waits == 1);
  REQUIRE(m.collapses.size() == 1);
  CHECK(m.collapses[0].sequence.front().what == "read");  // the scan's read hold, dropped inside the bracket
  const auto& p = point(r, "khugepaged");
  CHECK((*p.calls_by_lock)[1] == 1);
  CHECK(p.functions[0].time_inside.max_ns == us(140));
}

TEST_CASE("slow path inference: reclaim and compaction up to the allocation that follows, by the lock held") {
  auto ctx = ctx_with(AttachMode::inferred);
  auto compact_try = ev(HS_EV_COMPACT_TRY, us(205), 100);
  Report r = analyze(ctx, {
                              start(us(0), 100, kMmA, false), acquired(us(1), 100, kMmA, false),
                              reclaim(HS_EV_RECLAIM_BEGIN, us(10), 100), reclaim(HS_EV_RECLAIM_END, us(60), 100),
                              reclaim(HS_EV_RECLAIM_BEGIN, us(70), 100), reclaim(HS_EV_RECLAIM_END, us(90), 100),
                              page_alloc(us(95), 100, 0, kGfpKernel),  // closes the entry
                              released(us(100), 100, kMmA, false),
                              compact_try, reclaim(HS_EV_COMPACT_BEGIN, us(206), 100),
                              reclaim(HS_EV_COMPACT_END, us(236), 100),
                              ev(HS_EV_PAGE_ALLOC, us(240), 100, 0, false, 1),  // failed
                          });
  const auto& s = r.slow_path;
  CHECK(s.mode == AttachMode::inferred);
  CHECK(s.by_lock[1].entries == 1);
  CHECK(s.by_lock[1].reclaims == 2);
  CHECK(s.by_lock[1].reclaim_ns == us(70));
  CHECK(s.by_lock[0].entries == 1);
  CHECK(s.by_lock[0].compaction_ns == us(30));
  CHECK(s.by_lock[0].failed == 1);
  CHECK(s.by_lock[2].entries == 0);
}

TEST_CASE("slow path inference: memcg reclaim is not the allocator's slow path") {
  auto ctx = ctx_with(AttachMode::inferred);
  Report r = analyze(ctx, {ev(HS_EV_RECLAIM_BEGIN, us(10), 100, 0, false, 1), ev(HS_EV_RECLAIM_END, us(20), 100, 0, false, 1)});
  CHECK(r.slow_path.by_lock[0].entries == 0);
}

TEST_CASE("slow path, direct: entries from the brackets, reclaim inside them, NULL return is a failure") {
  auto ctx = ctx_with(AttachMode::direct);
  Report r = analyze(ctx, {
                              start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true),
                              fn_entry(us(10), 100, kSlotSlow, 2),
                              reclaim(HS_EV_RECLAIM_BEGIN, us(20), 100), reclaim(HS_EV_RECLAIM_END, us(70), 100),
                              fn_exit(us(80), 100, kSlotSlow, 0),
                              released(us(90), 100, kMmA, true),
                          });
  CHECK(r.slow_path.mode == AttachMode::direct);
  CHECK(r.slow_path.by_lock[2].entries == 1);
  CHECK(r.slow_path.by_lock[2].failed == 1);
  CHECK(r.slow_path.by_lock[2].reclaim_ns == us(50));
  CHECK(point(r, "alloc_slowpath").reclaim_ns == us(50));
}

TEST_CASE("attach-point state is freed when brackets close and collapses end") {
  auto ctx = ctx_with(AttachMode::direct);
  Analyzer a(ctx, AnalyzerOptions{0, 10});
  for (uint32_t tid = 1000; tid < 1100; tid++) {
    a.feed(fn_entry(us(tid), tid, kSlotClone, 0));
    a.feed(fn_exit(us(tid) + 10, tid, kSlotClone));
  }
  a.feed(ev(HS_EV_LOCK_START, us(5000), 1, kMmB));
  CHECK(a.tracked_tasks() <= 2);
}
