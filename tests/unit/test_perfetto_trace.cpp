// The timeline export on synthetic streams: tracks, nesting and flows checked exactly.
#include <catch2/catch_test_macros.hpp>

#include "analyzers/analyzer.h"
#include "analyzers/perfetto_trace.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;
using nlohmann::json;

namespace {

json timeline(const TraceContext& ctx, const std::vector<hs_event>& s, PerfettoLimits limits = {}) {
  PerfettoTrace t(ctx, limits);
  AnalyzerOptions opts;
  opts.passes = {&t};
  analyze(ctx, s, opts);
  return t.to_json();
}

std::vector<json> of_phase(const json& trace, const std::string& ph) {
  std::vector<json> out;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == ph) out.push_back(e);
  return out;
}

// name@tid:ts+dur, in file order.
std::vector<std::string> slices(const json& trace) {
  std::vector<std::string> out;
  for (const auto& e : of_phase(trace, "X"))
    out.push_back(e["name"].get<std::string>() + "@" + std::to_string(e["tid"].get<uint32_t>()) + ":" +
                  std::to_string(e["ts"].get<double>()) + "+" + std::to_string(e["dur"].get<double>()));
  return out;
}

hs_event reclaim(uint16_t type, uint64_t ts, uint32_t tid) {
  auto e = ev(type, ts, tid);
  e.arg = kGfpKernel;
  return e;
}

}  // namespace

TEST_CASE("timeline: a hold with reclaim inside, the wait it blocked, and the arrow between", "[perfetto]") {
  auto ctx = context();
  std::vector<hs_event> s = {
      start(us(0), 100, kMmA, true),
      acquired(us(10), 100, kMmA, true),
      reclaim(HS_EV_RECLAIM_BEGIN, us(20), 100),
      start(us(30), 200, kMmA, false),
      reclaim(HS_EV_RECLAIM_END, us(50), 100),
      page_alloc(us(60), 100, 0, kGfpKernel),
      released(us(110), 100, kMmA, true),
      acquired(us(111), 200, kMmA, false),
      released(us(120), 200, kMmA, false),
  };
  json t = timeline(ctx, s);

  // One track per task, each under its process.
  auto meta = of_phase(t, "M");
  REQUIRE(meta.size() == 4);
  CHECK(meta[0] == json{{"name", "process_name"}, {"ph", "M"}, {"pid", 100}, {"args", {{"name", "worker"}}}});
  CHECK(meta[1] == json{{"name", "thread_name"}, {"ph", "M"}, {"pid", 100}, {"tid", 100}, {"args", {{"name", "worker 100"}}}});
  CHECK(meta[2]["args"]["name"] == "victim");
  CHECK(meta[3]["args"]["name"] == "victim 200");

  // The reclaim nests in the hold; each wait ends where its hold begins.
  CHECK(slices(t) == std::vector<std::string>{"write wait@100:0.000000+10.000000",
                                              "write hold@100:10.000000+100.000000",
                                              "direct reclaim@100:20.000000+30.000000",
                                              "read wait@200:30.000000+81.000000",
                                              "read hold@200:111.000000+9.000000"});
  auto hold = of_phase(t, "X")[1];
  CHECK(hold["args"]["mm"] == "0xffff888100000000");
  CHECK(hold["args"]["allocations_streamed"] == 1);
  CHECK(hold["args"]["may_sleep_allocations"] == 1);
  CHECK(of_phase(t, "X")[2]["args"]["gfp"] == "GFP_KERNEL");

  auto instants = of_phase(t, "i");
  REQUIRE(instants.size() == 1);
  CHECK(instants[0]["name"] == "alloc page order 0");
  CHECK(instants[0]["tid"] == 100);
  CHECK(instants[0]["ts"] == 60.0);

  // The arrow leaves the hold just before its release and lands in the wait just before its end.
  auto from = of_phase(t, "s"), to = of_phase(t, "f");
  REQUIRE(from.size() == 1);
  REQUIRE(to.size() == 1);
  CHECK(from[0]["tid"] == 100);
  CHECK(from[0]["ts"] == 109.999);
  CHECK(to[0]["tid"] == 200);
  CHECK(to[0]["ts"] == 110.999);
  CHECK(to[0]["bp"] == "e");
  CHECK(from[0]["id"] == to[0]["id"]);
  CHECK(t["metadata"]["holds_seen"] == 2);
  CHECK(t["metadata"]["slices_left_out_overlapping"] == 0);
}

TEST_CASE("timeline: crosswise holds on one track are left out, not drawn overlapping", "[perfetto]") {
  auto ctx = context();
  std::vector<hs_event> s = {
      hold(0, us(200), us(300), 100, kMmA, true),
      hold(0, us(250), us(350), 100, kMmB, false),  // begins inside the first, ends after it
  };
  json t = timeline(ctx, s);
  CHECK(slices(t) == std::vector<std::string>{"write hold@100:200.000000+100.000000"});
  CHECK(t["metadata"]["slices_left_out_overlapping"] == 1);
}

TEST_CASE("timeline: bounded to the longest holds, and says so", "[perfetto]") {
  auto ctx = context();
  std::vector<hs_event> s = {
      hold(0, us(100), us(110), 100, kMmA, false),
      hold(0, us(200), us(300), 100, kMmA, false),
      hold(0, us(400), us(420), 100, kMmA, false),
  };
  json t = timeline(ctx, s, PerfettoLimits{1, 1, 1, 1});
  CHECK(slices(t) == std::vector<std::string>{"read hold@100:200.000000+100.000000"});
  CHECK(t["metadata"]["holds_seen"] == 3);
  CHECK(t["metadata"]["holds_kept"] == 1);
}

TEST_CASE("timeline: a hold's many allocations do not crowd out its reclaim slice (bounds apart)", "[perfetto]") {
  auto ctx = context();
  std::vector<hs_event> s = {
      acquired(us(10), 100, kMmA, false),
      page_alloc(us(20), 100, 0, kGfpKernel),
      page_alloc(us(21), 100, 0, kGfpKernel),
      page_alloc(us(22), 100, 0, kGfpKernel),
      reclaim(HS_EV_RECLAIM_BEGIN, us(30), 100),
      reclaim(HS_EV_RECLAIM_END, us(40), 100),
      released(us(50), 100, kMmA, false),
  };
  json t = timeline(ctx, s, PerfettoLimits{10, 10, 1, 2});
  CHECK(slices(t) == std::vector<std::string>{"read hold@100:10.000000+40.000000",
                                              "direct reclaim@100:30.000000+10.000000"});
  CHECK(of_phase(t, "i").size() == 2);
  auto holds = of_phase(t, "X");
  REQUIRE(!holds.empty());
  CHECK(holds[0]["args"]["children_left_out"] == 1);
  CHECK(holds[0]["args"]["allocations_streamed"] == 3);
}
