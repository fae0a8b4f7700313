#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <random>

#include "analyzers/analyzer.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;

// Lets the shuffled stream be compared with the ordered one.
bool operator==(const hs_event& a, const hs_event& b) { return memcmp(&a, &b, sizeof a) == 0; }

namespace {

uint64_t alloc_count(const Report& r, const std::string& kind, const std::string& mode) {
  uint64_t n = 0;
  for (const auto& a : r.allocations)
    if (a.kind == kind && a.mode == mode) n += a.count;
  return n;
}

}  // namespace

TEST_CASE("a read hold: duration, wait, and only the allocation inside it counts") {
  auto ctx = context();
  std::vector<hs_event> s = {
      page_alloc(us(5), 100, 0, kGfpKernel),  // just before the acquire: not under the lock
      start(us(10), 100, kMmA, false),
      acquired(us(12), 100, kMmA, false),
      page_alloc(us(20), 100, 2, kGfpKernel | 0x100),
      released(us(40), 100, kMmA, false),
      page_alloc(us(41), 100, 0, kGfpKernel),  // just after the release: not under the lock
  };
  Report r = analyze(ctx, s);
  CHECK(r.holds.read.count == 1);
  CHECK(r.holds.read.max_ns == us(28));
  CHECK(r.holds.write.count == 0);
  CHECK(r.waits.read.count == 1);
  CHECK(r.waits.read.max_ns == us(2));
  REQUIRE(r.allocations.size() == 1);
  const auto& a = r.allocations[0];
  CHECK(a.kind == "page");
  CHECK(a.mode == "read");
  CHECK(a.order == 2);
  CHECK(a.count == 1);
  CHECK(a.bytes == 4 * 4096);
  CHECK(a.gfp == "GFP_KERNEL|__GFP_ZERO");
  CHECK(a.may_sleep);
  CHECK(r.drops.unmatched == 0);
  REQUIRE(r.processes.size() == 1);
  CHECK(r.processes[0].comm == "worker");
}

TEST_CASE("one task holding two mms' locks at once (fork's dup_mmap)") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(1), 100, kMmA, true),     acquired(us(2), 100, kMmA, true),
      start(us(3), 100, kMmB, true),     acquired(us(4), 100, kMmB, true),
      slab_alloc(us(5), 100, kGfpNowait), slab_alloc(us(6), 100, kGfpKernel),
      released(us(10), 100, kMmB, true), slab_alloc(us(11), 100, kGfpKernel),  // still holds A
      released(us(20), 100, kMmA, true), slab_alloc(us(21), 100, kGfpKernel),  // holds nothing
  };
  Report r = analyze(ctx, s);
  CHECK(r.holds.write.count == 2);
  CHECK(r.holds.write.max_ns == us(18));
  CHECK(r.holds.write.total_ns == us(18) + us(6));
  CHECK(alloc_count(r, "slab", "write") == 3);
  CHECK(alloc_count(r, "slab", "read") == 0);
  for (const auto& a : r.allocations) {
    CHECK(a.cache == "vm_area_struct");
    if (a.gfp_value == kGfpNowait) {
      CHECK_FALSE(a.may_sleep);
      CHECK(a.gfp == "GFP_NOWAIT");
    }
  }
  CHECK(r.drops.unmatched == 0);
  CHECK(r.holds_open_at_end == 0);
}

TEST_CASE("mmap_write_downgrade splits one hold into a write part and a read part") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(0), 100, kMmA, true),
      acquired(us(1), 100, kMmA, true),
      page_alloc(us(2), 100, 0, kGfpKernel),
      downgrade(us(11), 100, kMmA),
      page_alloc(us(12), 100, 0, kGfpKernel),
      page_alloc(us(13), 100, 0, kGfpKernel),
      released(us(31), 100, kMmA, false),
  };
  SECTION("flagged by the kernel") {}
  SECTION("inferred without the kernel's flag") { s[3].flag = HS_ACQ_F_SUCCESS; }
  Report r = analyze(ctx, s);
  CHECK(r.downgrades == 1);
  CHECK(r.holds.write.count == 1);
  CHECK(r.holds.write.max_ns == us(10));
  CHECK(r.holds.read.count == 1);
  CHECK(r.holds.read.max_ns == us(20));
  CHECK(alloc_count(r, "page", "write") == 1);
  CHECK(alloc_count(r, "page", "read") == 2);
  CHECK(r.waits.read.count == 0);  // a downgrade is not an acquisition that waited
  CHECK(r.drops.unmatched == 0);
}

TEST_CASE("a failed trylock is neither a hold nor a wait, and nothing after it is under the lock") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(1), 100, kMmA, false),
      acquired(us(1), 100, kMmA, false, /*success=*/false),
      page_alloc(us(2), 100, 0, kGfpKernel),
      start(us(3), 100, kMmA, true),
      acquired(us(4), 100, kMmA, true, false),
  };
  Report r = analyze(ctx, s);
  CHECK(r.trylock_failures_read == 1);
  CHECK(r.trylock_failures_write == 1);
  CHECK(r.holds.read.count + r.holds.write.count == 0);
  CHECK(r.waits.read.count + r.waits.write.count == 0);
  CHECK(r.allocations.empty());
  CHECK(r.drops.unmatched == 0);
}

TEST_CASE("a task that exits while holding: the hold is counted as unmatched, not as a hold") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(1), 100, kMmA, true),
      acquired(us(2), 100, kMmA, true),
      ev(HS_EV_TASK_EXIT, us(50), 100),
      page_alloc(us(60), 100, 0, kGfpKernel),  // the tid is gone: nothing is held
      start(us(70), 200, kMmA, true),          // a later waiter must not see the dead task as holder
      acquired(us(75), 200, kMmA, true),
      released(us(80), 200, kMmA, true),
  };
  Report r = analyze(ctx, s);
  CHECK(r.drops.unmatched == 1);
  CHECK(r.holds.write.count == 1);  // only the victim's own hold
  CHECK(r.holds.write.max_ns == us(5));
  CHECK(r.allocations.empty());
  REQUIRE(r.longest_waits.size() == 2);
  auto victim = std::find_if(r.longest_waits.begin(), r.longest_waits.end(), [](const WaitRecord& w) { return w.task.tid == 200; });
  REQUIRE(victim != r.longest_waits.end());
  CHECK(victim->holders.empty());
}

TEST_CASE("a wait names the task that held the lock meanwhile") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(0), 100, kMmA, true),    acquired(us(1), 100, kMmA, true),
      start(us(10), 200, kMmA, false),  // victim wants read while worker holds write
      released(us(500), 100, kMmA, true),
      acquired(us(501), 200, kMmA, false), released(us(510), 200, kMmA, false),
  };
  Report r = analyze(ctx, s);
  REQUIRE(r.longest_waits.size() == 2);
  const auto& w = r.longest_waits[0];
  CHECK(w.task.tid == 200);
  CHECK(w.task.comm == "victim");
  CHECK(w.duration_ns == us(491));
  REQUIRE(w.holders.size() == 1);
  CHECK(w.holders[0].tid == 100);
  CHECK(w.holders[0].write);
  CHECK(r.waits.read.max_ns == us(491));
  CHECK(r.longest_holds[0].duration_ns == us(499));
  REQUIRE(r.waits_blocked_by.size() == 1);
  CHECK(r.waits_blocked_by[0].waiter == "victim");
  CHECK(r.waits_blocked_by[0].holder == "worker");
  CHECK(r.waits_blocked_by[0].holder_mode == "write");
  CHECK(r.waits_blocked_by[0].count == 1);
  CHECK(r.waits_blocked_by[0].total_ns == us(491));
}

// Worker 100 takes the write lock with an allocation inside; victim 200 waits behind it, and later takes the lock
// again uncontended; a killable attempt of 100 fails. Every event on its own, as the kernel once wrote them.
static std::vector<hs_event> worker_and_victim() {
  return {
      start(us(0), 100, kMmA, true),       acquired(us(2), 100, kMmA, true),
      start(us(10), 200, kMmA, false),     page_alloc(us(20), 100, 0, kGfpKernel),
      released(us(500), 100, kMmA, true),  acquired(us(501), 200, kMmA, false),
      released(us(510), 200, kMmA, false), start(us(600), 200, kMmA, false),
      acquired(us(601), 200, kMmA, false), released(us(650), 200, kMmA, false),
      start(us(700), 100, kMmA, true),     acquired(us(705), 100, kMmA, true, false),
  };
}

TEST_CASE("a start folded into its acquire event gives the same report as a separate start") {
  auto ctx = context();
  // The worker's first and the victim's second acquisitions are uncontended (folded); the victim's first wait is
  // streamed at once (the lock looked taken).
  std::vector<hs_event> separate = worker_and_victim();
  std::vector<hs_event> folded = {
      acquired_folded(us(0), us(2), 100, kMmA, true),
      start(us(10), 200, kMmA, false),     page_alloc(us(20), 100, 0, kGfpKernel),
      released(us(500), 100, kMmA, true),  acquired(us(501), 200, kMmA, false),
      released(us(510), 200, kMmA, false), acquired_folded(us(600), us(601), 200, kMmA, false),
      released(us(650), 200, kMmA, false), acquired_folded(us(700), us(705), 100, kMmA, true, false),
  };
  Report a = analyze(ctx, separate), b = analyze(ctx, folded);
  CHECK(b.waits.write.count == a.waits.write.count);
  CHECK(b.waits.write.total_ns == a.waits.write.total_ns);
  CHECK(b.waits.read.count == 2);
  CHECK(b.waits.read.total_ns == a.waits.read.total_ns);
  CHECK(b.waits.read.max_ns == us(491));
  CHECK(b.holds.write.count == 1);
  CHECK(b.holds.read.count == 2);
  CHECK(b.trylock_failures_write == 1);
  CHECK(alloc_count(b, "page", "write") == 1);
  REQUIRE(b.waits_blocked_by.size() == 1);
  CHECK(b.waits_blocked_by[0].holder == "worker");
  CHECK(b.drops.unmatched == 0);
  CHECK(b.drops.out_of_order == 0);
  CHECK(b.events == folded.size());
}

// For the two tests of a wait longer than the reorder window: victim 200 waited 290 ms and named worker 100's write
// hold, and nothing was lost or late.
static void victim_waited_290ms_behind_worker(const Report& r) {
  CHECK(r.waits.read.max_ns == us(290002));
  auto victim = std::find_if(r.longest_waits.begin(), r.longest_waits.end(), [](const WaitRecord& w) { return w.task.tid == 200; });
  REQUIRE(victim != r.longest_waits.end());
  REQUIRE(victim->holders.size() == 1);
  CHECK(victim->holders[0].tid == 100);
  CHECK(victim->holders[0].write);
  CHECK(r.drops.out_of_order == 0);
  CHECK(r.drops.unmatched == 0);
}

TEST_CASE("a wait longer than the reorder window, its start folded into the acquire, still names who held the lock") {
  auto ctx = context();
  // Worker 100 holds the write lock for 300 ms; victim 200 waits from 10 ms on; a third task (300) on another mm keeps
  // time moving, so that when the victim's acquire arrives its start is far behind a 50 ms window.
  std::vector<hs_event> s = {acquired_folded(us(0), us(1), 100, kMmA, true)};
  for (uint64_t t = 20; t < 300; t += 20) {
    s.push_back(acquired_folded(us(t * 1000), us(t * 1000 + 1), 300, kMmB, false));
    s.push_back(released(us(t * 1000 + 5), 300, kMmB, false));
  }
  s.push_back(released(us(300000), 100, kMmA, true));
  s.push_back(acquired_folded(us(10000), us(300002), 200, kMmA, false));
  s.push_back(released(us(300010), 200, kMmA, false));
  AnalyzerOptions o;
  o.reorder_window_ns = us(50000);
  Report r = analyze(ctx, s, o);
  victim_waited_290ms_behind_worker(r);
}

TEST_CASE("holds written as one record give the same report as their acquire and release events") {
  auto ctx = context();
  // As above; the holds with nothing streamed inside them (all but the worker's first) come as hold records, at their
  // release, or at the downgrade that ends their write part; the failed attempt stays an acquire event.
  std::vector<hs_event> separate = worker_and_victim();
  separate.insert(separate.end(), {
      acquired(us(800), 100, kMmB, false), released(us(900), 100, kMmB, false),  // a trylock: no start
      start(us(1000), 200, kMmB, true),    acquired(us(1001), 200, kMmB, true),
      downgrade(us(1100), 200, kMmB),      released(us(1300), 200, kMmB, false),
  });
  std::vector<hs_event> holds = {
      acquired_folded(us(0), us(2), 100, kMmA, true),
      page_alloc(us(20), 100, 0, kGfpKernel),
      released(us(500), 100, kMmA, true),
      hold(us(10), us(501), us(510), 200, kMmA, false),
      hold(us(600), us(601), us(650), 200, kMmA, false),
      acquired_folded(us(700), us(705), 100, kMmA, true, false),
      hold(0, us(800), us(900), 100, kMmB, false),
      downgraded_hold(us(1000), us(1001), us(1100), 200, kMmB), released(us(1300), 200, kMmB, false),
  };
  Report a = analyze(ctx, separate), b = analyze(ctx, holds);
  CHECK(b.waits.write.count == a.waits.write.count);
  CHECK(b.waits.read.count == 2);
  CHECK(b.waits.read.total_ns == a.waits.read.total_ns);
  CHECK(b.waits.read.max_ns == us(491));
  CHECK(b.waits.write.total_ns == a.waits.write.total_ns);
  CHECK(b.holds.write.count == 2);
  CHECK(b.holds.write.total_ns == a.holds.write.total_ns);
  CHECK(b.holds.read.count == 4);
  CHECK(b.holds.read.total_ns == a.holds.read.total_ns);
  CHECK(b.holds.read.max_ns == us(200));
  CHECK(b.downgrades == 1);
  CHECK(b.trylock_failures_write == 1);
  CHECK(alloc_count(b, "page", "write") == 1);
  REQUIRE(b.waits_blocked_by.size() == 1);
  CHECK(b.waits_blocked_by[0].holder == "worker");
  CHECK(b.drops.unmatched == a.drops.unmatched);
  CHECK(b.drops.out_of_order == 0);
  CHECK(b.holds_open_at_end == 0);
  CHECK(b.events == holds.size());  // records, as written
}

TEST_CASE("a hold longer than the reorder window, written as one record, still names itself to a wait behind it") {
  auto ctx = context();
  // Worker 100 holds the write lock for 300 ms and says so only at its release; victim 200 waits from 10 ms on; a
  // third task (300) on another mm keeps time moving past a 50 ms window.
  std::vector<hs_event> s;
  for (uint64_t t = 20; t < 300; t += 20) s.push_back(hold(us(t * 1000), us(t * 1000 + 1), us(t * 1000 + 5), 300, kMmB, false));
  s.push_back(hold(us(0), us(1), us(300000), 100, kMmA, true));
  s.push_back(hold(us(10000), us(300002), us(300010), 200, kMmA, false));
  AnalyzerOptions o;
  o.reorder_window_ns = us(50000);
  Report r = analyze(ctx, s, o);
  CHECK(r.holds.write.count == 1);
  CHECK(r.holds.write.max_ns == us(299999));
  victim_waited_290ms_behind_worker(r);
}

TEST_CASE("events out of timestamp order across CPUs give the same report as ordered ones") {
  auto ctx = context();
  std::vector<hs_event> s;
  uint64_t t = 0;
  for (int i = 0; i < 200; i++) {
    uint32_t tid = i % 2 ? 100 : 200;
    uint64_t mm = i % 2 ? kMmA : kMmB;
    s.push_back(start(t += 3, tid, mm, i % 3 == 0));
    s.push_back(acquired(t += 1, tid, mm, i % 3 == 0));
    s.push_back(page_alloc(t += 2, tid, 0, kGfpKernel));
    s.push_back(released(t += 5 + (i % 7), tid, mm, i % 3 == 0));
    for (auto& e : s) e.cpu = e.pid == 100 ? 0 : 1;
  }
  Report ordered = analyze(ctx, s);
  // Shuffle within blocks of 8 events: a CPU's events reach the ring buffer late, never by more than the window.
  std::mt19937 rng(42);
  auto shuffled = s;
  for (size_t i = 0; i + 8 <= shuffled.size(); i += 8) std::shuffle(shuffled.begin() + i, shuffled.begin() + i + 8, rng);
  REQUIRE(shuffled != s);
  Report r = analyze(ctx, shuffled);
  CHECK(r.holds.read.count == ordered.holds.read.count);
  CHECK(r.holds.write.count == ordered.holds.write.count);
  CHECK(r.holds.write.total_ns == ordered.holds.write.total_ns);
  CHECK(r.holds.read.p99_ns == ordered.holds.read.p99_ns);
  CHECK(alloc_count(r, "page", "write") == alloc_count(ordered, "page", "write"));
  CHECK(alloc_count(r, "page", "read") == 200 - alloc_count(r, "page", "write"));
  CHECK(r.drops.unmatched == 0);
  CHECK(r.drops.out_of_order == 0);

  SECTION("beyond the reorder window, lateness is counted") {
    AnalyzerOptions o;
    o.reorder_window_ns = 0;
    Report late = analyze(ctx, shuffled, o);
    CHECK(late.drops.out_of_order > 0);
  }
}

TEST_CASE("percentiles are exact nearest-rank values") {
  auto ctx = context();
  std::vector<hs_event> s;
  for (uint64_t i = 1; i <= 100; i++) {
    uint64_t t0 = i * us(1000);
    s.push_back(start(t0, 100, kMmA, true));
    s.push_back(acquired(t0, 100, kMmA, true));
    s.push_back(released(t0 + us(i), 100, kMmA, true));
  }
  Report r = analyze(ctx, s);
  CHECK(r.holds.write.count == 100);
  CHECK(r.holds.write.p50_ns == us(50));
  CHECK(r.holds.write.p90_ns == us(90));
  CHECK(r.holds.write.p99_ns == us(99));
  CHECK(r.holds.write.max_ns == us(100));
}

TEST_CASE("direct reclaim, compaction and LRU drains under the lock are sleeping work") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true),
      ev(HS_EV_RECLAIM_BEGIN, us(10), 100), ev(HS_EV_RECLAIM_END, us(110), 100),
      ev(HS_EV_COMPACT_BEGIN, us(120), 100), ev(HS_EV_COMPACT_END, us(150), 100),
      // one lru_add_drain_all queues a work per CPU, in ascending order, within microseconds: one call, three works
      drain(us(200), 100, 1), drain(us(201), 100, 2), drain(us(202), 100, 3),
      released(us(300), 100, kMmA, true),
      drain(us(400), 100, 0),   // after the release: a drain, but not under the lock
      ev(HS_EV_RECLAIM_BEGIN, us(500), 100), ev(HS_EV_RECLAIM_END, us(600), 100),  // not under the lock
  };
  Report r = analyze(ctx, s);
  REQUIRE(r.sleeping.size() == 3);
  auto find = [&](const std::string& kind) {
    return *std::find_if(r.sleeping.begin(), r.sleeping.end(), [&](const SleepGroup& g) { return g.kind == kind; });
  };
  CHECK(find("direct_reclaim").count == 1);
  CHECK(find("direct_reclaim").total_ns == us(100));
  CHECK(find("direct_reclaim").mode == "write");
  CHECK(find("compaction").total_ns == us(30));
  CHECK(find("lru_drain").count == 1);
  CHECK(find("lru_drain").works == 3);
  CHECK(r.lru_drains.calls_write == 1);
  CHECK(r.lru_drains.calls_none == 1);
  CHECK(r.lru_drains.works == 4);
}

TEST_CASE("a release whose acquire predates the trace is not a loss; a repeated one is") {
  auto ctx = context();
  std::vector<hs_event> s = {
      released(us(5), 100, kMmA, false),  // held since before the trace began
      start(us(6), 100, kMmA, false), acquired(us(7), 100, kMmA, false), released(us(8), 100, kMmA, false),
      released(us(9), 100, kMmA, false),  // a second release with no acquire: an event was lost
  };
  Report r = analyze(ctx, s);
  CHECK(r.holds_open_at_start == 1);
  CHECK(r.drops.unmatched == 1);
  CHECK(r.holds.read.count == 1);
}

TEST_CASE("a slab allocation that failed is counted, with no bytes") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true),
      slab_alloc(us(2), 100, kGfpNowait, /*failed=*/true), slab_alloc(us(3), 100, kGfpKernel),
      released(us(4), 100, kMmA, true),
  };
  Report r = analyze(ctx, s);
  REQUIRE(r.allocations.size() == 2);
  uint64_t failed = 0, bytes = 0;
  for (const auto& a : r.allocations) {
    failed += a.failed;
    bytes += a.bytes;
  }
  CHECK(failed == 1);
  CHECK(bytes == 176);
}

namespace {

constexpr uint64_t kChainCache = 0xffff888400000000ull;
constexpr uint64_t kCloneFn = 0xffffffff81200000ull;
constexpr uint64_t kForkFn = 0xffffffff81201000ull;

TraceContext clone_context() {
  auto c = context();
  c.caches[kChainCache] = {"anon_vma_chain", 64};
  c.symbols = SymbolTable({{kCloneFn, "anon_vma_clone"}, {kForkFn, "anon_vma_fork"}, {kForkFn + 0x1000, "next_fn"}});
  return c;
}

hs_event chain_alloc(uint64_t ts, uint64_t gfp, uint64_t call_site, bool failed = false) {
  auto e = slab_alloc(ts, 100, gfp, failed);
  e.arg2 = kChainCache;
  e.arg3 = call_site;
  return e;
}

std::vector<hs_event> under_fork_lock(std::vector<hs_event> inner) {
  std::vector<hs_event> s = {start(us(0), 100, kMmA, true), acquired(us(1), 100, kMmA, true)};
  s.insert(s.end(), inner.begin(), inner.end());
  s.push_back(released(us(1000), 100, kMmA, true));
  return s;
}

}  // namespace

TEST_CASE("anon_vma_clone inference: NOWAIT tries, a failure and its GFP_KERNEL retry keep the invariant") {
  auto ctx = clone_context();
  Report r = analyze(ctx, under_fork_lock({
                              chain_alloc(us(10), kGfpNowait, kCloneFn + 0x66),
                              chain_alloc(us(11), kGfpNowait, kCloneFn + 0x66, /*failed=*/true),
                              chain_alloc(us(12), kGfpKernel, kCloneFn + 0x9a),  // retry, lock dropped
                              chain_alloc(us(13), kGfpNowait, kCloneFn + 0x66),
                              chain_alloc(us(14), kGfpKernel, kForkFn + 0x40),   // anon_vma_fork's own: not counted
                          }));
  const auto& ac = r.anon_vma_clone;
  CHECK(ac.mode == AttachMode::inferred);
  CHECK(ac.nowait_attempts == 3);
  CHECK(ac.nowait_failures == 1);
  CHECK(ac.gfp_kernel_retries == 1);
  CHECK(ac.may_sleep_under_lock == 0);
}

TEST_CASE("anon_vma_clone inference: NOWAIT tries the kernel counted join the streamed failure and retry") {
  auto ctx = clone_context();
  // What the kernel side leaves in the recording: successful NOWAIT tries from anon_vma_clone, counted per path, and
  // counts of other paths that must not be taken for clone tries (anon_vma_fork's own, a may-sleep one, a page).
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 2, kCloneFn + 0x66, kChainCache, kGfpNowait, -1, 40, 0});
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 1, kCloneFn + 0x66, kChainCache, kGfpNowait, -1, 2, 0});
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 2, kForkFn + 0x40, kChainCache, kGfpNowait, -1, 7, 0});
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 2, kCloneFn + 0x9a, kChainCache, kGfpKernel, -1, 5, 0});
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_PAGE, 2, kCloneFn + 0x66, 0, kGfpNowait, -1, 9, 0});
  Report r = analyze(ctx, under_fork_lock({
                              chain_alloc(us(11), kGfpNowait, kCloneFn + 0x66, /*failed=*/true),
                              chain_alloc(us(12), kGfpKernel, kCloneFn + 0x9a),  // retry, lock dropped
                          }));
  const auto& ac = r.anon_vma_clone;
  CHECK(ac.nowait_attempts == 43);
  CHECK(ac.nowait_failures == 1);
  CHECK(ac.gfp_kernel_retries == 1);
  CHECK(ac.may_sleep_under_lock == 0);
  // the counted tries are allocations under the lock like any other
  uint64_t chain_count = 0;
  for (const auto& g : r.allocations)
    if (g.cache == "anon_vma_chain") chain_count += g.count;
  CHECK(chain_count == 40 + 2 + 7 + 5 + 2);
}

TEST_CASE("anon_vma_clone inference: chains are told by the call site when SLUB merged their cache into another") {
  // CONFIG_SLAB_MERGE_DEFAULT (upstream's default) or slab_merge: anon_vma_chain's objects come from kmalloc-cg-64.
  auto ctx = clone_context();
  ctx.caches[kChainCache] = {"kmalloc-cg-64", 64};
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 2, kCloneFn + 0x66, kChainCache, kGfpNowait, -1, 40, 0});
  Report r = analyze(ctx, under_fork_lock({
                              chain_alloc(us(11), kGfpNowait, kCloneFn + 0x66, /*failed=*/true),
                              chain_alloc(us(12), kGfpKernel, kCloneFn + 0x9a),  // retry, lock dropped
                              chain_alloc(us(13), kGfpKernel, kForkFn + 0x40),   // anon_vma_fork's own: not counted
                          }));
  const auto& ac = r.anon_vma_clone;
  CHECK(ac.nowait_attempts == 41);
  CHECK(ac.nowait_failures == 1);
  CHECK(ac.gfp_kernel_retries == 1);
  CHECK(ac.may_sleep_under_lock == 0);
}

TEST_CASE("anon_vma_clone inference: a GFP_KERNEL try with no failed NOWAIT before it breaks the invariant") {
  auto ctx = clone_context();
  auto e1 = chain_alloc(us(10), kGfpKernel, kCloneFn + 0x50);  // the pre-fix kernel: GFP_KERNEL under the lock
  auto e2 = chain_alloc(us(11), kGfpKernel, kCloneFn + 0x50);
  Report r = analyze(ctx, under_fork_lock({e1, e2}));
  CHECK(r.anon_vma_clone.nowait_attempts == 0);
  CHECK(r.anon_vma_clone.gfp_kernel_retries == 0);
  CHECK(r.anon_vma_clone.may_sleep_under_lock == 2);
  CHECK(r.anon_vma_clone.may_sleep_stacks.size() == 1);  // both have no stack: one distinct (empty) stack
}

TEST_CASE("per-task and per-lock state is freed once a task holds and awaits nothing") {
  auto ctx = context();
  AnalyzerOptions o;
  o.reorder_window_ns = us(100);
  Analyzer a(ctx, o);
  uint64_t t = 0;
  for (uint32_t tid = 1000; tid < 11000; tid++) {  // 10,000 short-lived tasks, each on its own mm
    uint64_t mm = kMmA + uint64_t(tid) * 4096;
    a.feed(start(t += 1000, tid, mm, true));
    a.feed(acquired(t += 1000, tid, mm, true));
    a.feed(page_alloc(t += 1000, tid, 0, kGfpKernel));
    a.feed(released(t += 1000, tid, mm, true));
  }
  a.feed(ev(HS_EV_TASK_EXIT, t += us(1000), 1));  // pushes everything through the reorder window
  CHECK(a.tracked_tasks() <= 1);
  CHECK(a.tracked_locks() == 0);
  Report r = a.finish();
  CHECK(r.holds.write.count == 10000);
  CHECK(r.drops.unmatched == 0);
}
