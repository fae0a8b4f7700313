// Live timeline export: known holds of the fixtures appear as slices on their task's track, with what the kernel did
// inside them nested in them, and arrows to the waits they blocked.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "live_helpers.h"

namespace {

struct Recorded {
  json report, trace;
};

Recorded record_with_timeline(const std::string& cmd_and_args, const std::string& tag, const std::string& opts = "") {
  std::string j = tmp(tag + ".json"), r = tmp(tag + ".hsr"), p = tmp(tag + ".perfetto.json");
  Run res = run(kHoldscope + " record -q -o " + r + " --json " + j + " --perfetto " + p + " " + opts + " -- " +
                cmd_and_args);
  INFO(res.err);
  REQUIRE(res.status == 0);
  Recorded out{json::parse(slurp(j)), json::parse(slurp(p))};
  unlink(j.c_str());
  unlink(r.c_str());
  unlink(p.c_str());
  return out;
}

// tid -> the comm its track is named by ("comm tid").
std::map<uint32_t, std::string> track_names(const json& trace) {
  std::map<uint32_t, std::string> out;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "thread_name") {
      std::string n = e["args"]["name"];
      out[e["tid"].get<uint32_t>()] = n.substr(0, n.rfind(' '));
    }
  return out;
}

uint64_t ns(const json& micros) { return static_cast<uint64_t>(std::llround(micros.get<double>() * 1000.0)); }

bool inside(const json& child, const json& parent) {
  return child["tid"] == parent["tid"] && ns(child["ts"]) >= ns(parent["ts"]) &&
         ns(child["ts"]) + (child.contains("dur") ? ns(child["dur"]) : 0) <= ns(parent["ts"]) + ns(parent["dur"]);
}

}  // namespace

TEST_CASE("timeline: mprotect's longest write hold is a slice of ka-holder's, with arrows to ka-waiter's waits",
          "[perfetto]") {
  REQUIRE_LIVE();
  Recorded rec = record_with_timeline(kContend + " 128 20", "perfetto-contend");
  auto names = track_names(rec.trace);
  // The report's longest hold of ka-holder: the timeline keeps the longest holds, so it is there, on its track, as long.
  json longest;
  for (const auto& h : rec.report["longest_holds"])
    if (h["task"]["comm"] == "ka-holder" && h["mode"] == "write") {
      longest = h;
      break;
    }
  REQUIRE(!longest.is_null());
  uint32_t holder = longest["task"]["tid"];
  CHECK(names[holder] == "ka-holder");
  bool found = false;
  for (const auto& e : rec.trace["traceEvents"])
    if (e["ph"] == "X" && e["name"] == "write hold" && e["tid"] == holder &&
        ns(e["dur"]) == longest["duration_ns"].get<uint64_t>())
      found = true;
  INFO(longest.dump());
  CHECK(found);
  // An arrow leaves one of ka-holder's holds and lands on a wait of ka-waiter's.
  std::map<uint64_t, uint32_t> from;
  bool arrow = false;
  for (const auto& e : rec.trace["traceEvents"])
    if (e["ph"] == "s") from[e["id"].get<uint64_t>()] = e["tid"];
  for (const auto& e : rec.trace["traceEvents"])
    if (e["ph"] == "f" && names[from[e["id"].get<uint64_t>()]] == "ka-holder" && names[e["tid"].get<uint32_t>()] == "ka-waiter")
      arrow = true;
  CHECK(arrow);
  CHECK(rec.trace["metadata"]["holds_seen"].get<uint64_t>() >= 20);
}

TEST_CASE("timeline: memcg reclaim under MAP_POPULATE's read hold nests in the hold's slice", "[perfetto]") {
  REQUIRE_LIVE();
  REQUIRE_MEMCG_RECLAIM();
  Recorded rec = record_with_timeline(kReclaim + " 64 128 32", "perfetto-reclaim");
  auto names = track_names(rec.trace);
  std::vector<json> holds, reclaims;
  for (const auto& e : rec.trace["traceEvents"]) {
    if (e["ph"] == "X" && e["name"] == "read hold") holds.push_back(e);
    if (e["ph"] == "X" && e["name"] == "memcg reclaim") reclaims.push_back(e);
  }
  REQUIRE(!reclaims.empty());
  // Every reclaim drawn sits in a read hold of the fixture's, on its track.
  size_t nested = 0;
  for (const auto& c : reclaims) {
    for (const auto& h : holds) {
      if (!inside(c, h)) continue;
      nested++;
      CHECK(names[h["tid"].get<uint32_t>()] == "ka_reclaim");
      CHECK(ns(h["dur"]) >= ns(c["dur"]));
      CHECK(ns(h["dur"]) == h["args"]["hold_ns"].get<uint64_t>());
      break;
    }
  }
  CHECK(nested == reclaims.size());
  // The page allocations MAP_POPULATE makes under the lock are counted in the kernel, not streamed with a time: the
  // report has them, the timeline says it cannot place them.
  CHECK(allocs(rec.report, "page", "read", "") >= (32u << 20) / 4096);
  CHECK(rec.trace["metadata"].contains("allocations_counted_in_kernel"));
}

TEST_CASE("timeline: with --stream-allocs each mmap's vm_area_struct is an instant inside its write hold, counts unchanged",
          "[perfetto]") {
  REQUIRE_LIVE();
  const int64_t n = 2000;
  json def = record_json(kVmas + " " + std::to_string(n), "vmas-counted");
  Recorded rec = record_with_timeline(kVmas + " " + std::to_string(n), "vmas-streamed", "--stream-allocs");
  require_no_drops(def);
  require_no_drops(rec.report);
  // The same allocations under the lock, whether counted in the kernel or streamed.
  for (const char* cache : {"vm_area_struct", "anon_vma", "anon_vma_chain"})
    for (const char* mode : {"write", "read"}) {
      INFO(cache << " under " << mode);
      CHECK(near(allocs(rec.report, "slab", mode, cache), allocs(def, "slab", mode, cache), 0.02));
    }
  // Each one on the timeline: an instant on its task's track, inside a write hold of that task.
  std::map<uint32_t, std::vector<json>> write_holds;
  std::vector<json> vmas;
  uint64_t streamed_in_args = 0;
  for (const auto& e : rec.trace["traceEvents"]) {
    if (e["ph"] == "X" && e["name"] == "write hold") {
      write_holds[e["tid"].get<uint32_t>()].push_back(e);
      streamed_in_args += e["args"]["allocations_streamed"].get<uint64_t>();
    }
    if (e["ph"] == "i" && e["name"] == "alloc slab vm_area_struct") vmas.push_back(e);
  }
  uint64_t under_write = allocs(rec.report, "slab", "write", "vm_area_struct");
  INFO(vmas.size() << " vm_area_struct instants; " << under_write << " under write in the report");
  CHECK(vmas.size() >= static_cast<size_t>(n));
  CHECK(vmas.size() >= under_write);
  size_t outside = 0;
  for (const auto& v : vmas) {
    const auto& holds = write_holds[v["tid"].get<uint32_t>()];
    if (std::none_of(holds.begin(), holds.end(), [&](const json& h) { return inside(v, h); })) outside++;
  }
  CHECK(outside == 0);
  CHECK(streamed_in_args >= under_write);
}
