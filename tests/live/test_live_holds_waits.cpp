// Live holds and waits: who waited behind whose hold and where the hold was taken, and a hold still open when the
// trace ends.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <string>

#include "live_helpers.h"

TEST_CASE("a wait behind mprotect's write hold names the holder, and the hold's stack is mprotect's") {
  REQUIRE_LIVE();
  // --top 50: in a slow emulated guest other holds and waits can crowd a top-10 list.
  // Over all waits, not a top-N list: ka-waiter's mmap()s wait behind ka-holder's write holds. Each flip walks 32768
  // 4K PTEs under the write lock while ka-waiter, on the other CPU, asks for the lock without pause: 20 such holds.
  json j = record_json(kContend + " 128 20", "contend", "--top 50");
  bool waited_behind_holder = false;
  for (const auto& b : j["waits_blocked_by"])
    if (b["waiter"] == "ka-waiter" && b["holder"] == "ka-holder" && b["holder_mode"] == "write" && b["count"] >= 1)
      waited_behind_holder = true;
  INFO(j["waits_blocked_by"].dump(1));
  CHECK(waited_behind_holder);
  bool mprotect_hold = false;
  for (const auto& h : j["longest_holds"]) {
    if (h["task"]["comm"] != "ka-holder" || h["mode"] != "write") continue;
    for (const auto& f : h["stack"])
      if (f.get<std::string>().rfind("do_mprotect_pkey", 0) == 0) mprotect_hold = true;
  }
  CHECK(mprotect_hold);
  CHECK(j["waits"]["write"]["max_ns"].get<uint64_t>() > 100'000);  // a 128 MiB PTE walk takes far more than 100 us
  require_no_drops(j);
}

TEST_CASE("a hold still open when the trace ends is reported open, though its acquisition was never written") {
  REQUIRE_LIVE();
  // Three processes flip the protection of their own 64 MiB of 4K pages without pause, each mprotect() a write hold
  // that writes nothing while it lasts (its allocations, if any, are counted in the kernel): the acquisition of a hold
  // open at the end must come from the end-of-trace task iterator, or the hold is lost. The trace is ended (Ctrl-C)
  // only once the fixture says every process has flipped once, so the flips are under way; a hold is then open unless
  // all three processes are between two flips at the same instant.
  std::string rec = tmp("open-hold.hsr"), js = tmp("open-hold.json"), ready = tmp("open-hold.ready");
  unlink(ready.c_str());
  live::Background hs({kHoldscope, "record", "-q", "-o", rec, "--json", js, "--", kHoldOpen, "64", "3", ready},
                      tmp("open-hold.out"), tmp("open-hold.err"));
  bool flipping = hs.wait_until([&] { return live::file_exists(ready); });
  INFO(hs.err());
  REQUIRE(flipping);
  REQUIRE(hs.stop(SIGINT) == 0);
  json j = json::parse(slurp(js));
  for (const auto& p : {rec, js, ready}) unlink(p.c_str());
  INFO(j["holds"].dump());
  CHECK(j["holds_open_at_end"].get<uint64_t>() >= 1);
  CHECK(j["holds"]["write"]["count"].get<uint64_t>() >= 3);  // each process's first flip, closed before the end
  CHECK(j["drops"]["out_of_order"] == 0);
  require_no_drops(j);
}
