// The by-memory-cgroup table and report --cgroup, on a synthetic recording of two cgroups.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <algorithm>
#include <sstream>

#include "analyzers/analyze_recording.h"
#include "analyzers/recording.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;

namespace {

constexpr uint64_t kCgroupA = 0x100000a11ull;
constexpr uint64_t kCgroupB = 4242;

// worker (tid 100) in /a holds kMmA for write 3 times (4, 5 and 6 us) with 2 streamed allocations in the first hold;
// victim (tid 200) in /b/c holds kMmB for read once (10 us) after waiting 2 us behind nobody. The kernel counted 7 more
// may-sleep allocations for /a and 3 GFP_NOWAIT ones for /b/c.
std::string two_cgroup_recording() {
  auto ctx = context();
  ctx.comms[100].cgroup = kCgroupA;
  ctx.comms[200].cgroup = kCgroupB;
  ctx.cgroups[kCgroupA] = "/a";
  ctx.cgroups[kCgroupB] = "/b/c";
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 2, 0x1, kVmaCache, kGfpKernel, -1, 7, 0, kCgroupA});
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 1, 0x1, kVmaCache, kGfpNowait, -1, 3, 0, kCgroupB});
  std::ostringstream out;
  RecordingWriter w(out);
  w.add(acquired(us(10), 100, kMmA, true));
  w.add(slab_alloc(us(11), 100, kGfpKernel));
  w.add(slab_alloc(us(12), 100, kGfpNowait));
  w.add(released(us(14), 100, kMmA, true));
  w.add(hold(0, us(20), us(25), 100, kMmA, true));
  w.add(hold(0, us(30), us(36), 100, kMmA, true));
  w.add(hold(us(40), us(42), us(52), 200, kMmB, false));
  w.finish(ctx);
  return out.str();
}

RecordingAnalysis analyzed(const std::string& bytes, const std::string& cgroup = "") {
  std::istringstream in(bytes);
  AnalyzerOptions o;
  o.cgroup = cgroup;
  return analyze_recording(in, o);
}

const CgroupStats& row(const Report& r, const std::string& path) {
  auto it = std::find_if(r.cgroups.begin(), r.cgroups.end(), [&](const CgroupStats& c) { return c.path == path; });
  REQUIRE(it != r.cgroups.end());
  return *it;
}

}  // namespace

TEST_CASE("holds, waits and allocations under the lock are told apart by memory cgroup", "[cgroup]") {
  Report r = analyzed(two_cgroup_recording()).report;
  REQUIRE(r.cgroups.size() == 2);
  CHECK(r.cgroups[0].path == "/a");  // 15 us of holds against 10
  const auto& a = row(r, "/a");
  CHECK(a.id == kCgroupA);
  CHECK(a.tasks == 1);
  CHECK(a.holds.write.count == 3);
  CHECK(a.holds.write.total_ns == us(15));
  CHECK(a.holds.write.max_ns == us(6));
  CHECK(a.holds.read.count == 0);
  CHECK(a.allocations == 9);
  CHECK(a.may_sleep_allocations == 8);
  const auto& b = row(r, "/b/c");
  CHECK(b.holds.read.count == 1);
  CHECK(b.holds.read.max_ns == us(10));
  CHECK(b.waits.read.count == 1);
  CHECK(b.waits.read.max_ns == us(2));
  CHECK(b.allocations == 3);
  CHECK(b.may_sleep_allocations == 0);
  std::ostringstream text;
  render_text(r, text);
  CHECK_THAT(text.str(), Catch::Matchers::ContainsSubstring("holds per memory cgroup"));
  CHECK(report_to_json(r)["cgroups"][0]["path"] == "/a");
}

TEST_CASE("report --cgroup keeps one cgroup's tasks and the allocations the kernel counted for it", "[cgroup]") {
  std::string bytes = two_cgroup_recording();
  Report r = analyzed(bytes, "b/c/").report;  // the leading and trailing slashes are optional
  CHECK(r.cgroup_filter == "/b/c");
  CHECK(r.holds.write.count == 0);
  CHECK(r.holds.read.count == 1);
  REQUIRE(r.cgroups.size() == 1);
  CHECK(r.cgroups[0].path == "/b/c");
  uint64_t allocs = 0;
  for (const auto& g : r.allocations) allocs += g.count;
  CHECK(allocs == 3);
  CHECK_THROWS_WITH(analyzed(bytes, "/nope"),
                    Catch::Matchers::ContainsSubstring("no memory cgroup /nope in this recording (it has /a, /b/c)"));
}

TEST_CASE("a recording without cgroups (an older one) reports no cgroup table and refuses --cgroup", "[cgroup]") {
  auto ctx = context();
  std::ostringstream out;
  RecordingWriter w(out);
  w.add(hold(0, us(1), us(3), 100, kMmA, true));
  w.finish(ctx);
  Report r = analyzed(out.str()).report;
  REQUIRE(r.cgroups.size() == 1);
  CHECK(r.cgroups[0].id == 0);
  std::ostringstream text;
  render_text(r, text);
  CHECK_THAT(text.str(), !Catch::Matchers::ContainsSubstring("holds per memory cgroup"));
  CHECK_THROWS_WITH(analyzed(out.str(), "/a"), Catch::Matchers::ContainsSubstring("it names none"));
}
