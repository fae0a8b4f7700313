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

namespace {

// Why ka_hold_open cannot run here, or empty.
std::string fuse_skip_reason() {
  if (!live::file_exists("/dev/fuse") || slurp("/proc/filesystems").find("\tfuse\n") == std::string::npos)
    return "this kernel has no FUSE (/dev/fuse, /proc/filesystems): ka_hold_open's hold is a reader asleep in a FUSE read";
  return "";
}

}  // namespace

TEST_CASE("a hold still open when the trace ends is reported open, though its acquisition was never written") {
  REQUIRE_LIVE();
  if (std::string why = fuse_skip_reason(); !why.empty()) SKIP(why);
  // ka_hold_open's reader holds its mmap_lock for read while it waits for a FUSE read that is never answered, and
  // READY appears once the read has reached the server: from then on the hold is open, and it stays open until the
  // trace ends and the command is killed. A read hold writes nothing while it lasts: its acquisition must come from
  // the end-of-trace task iterator, or the hold is lost.
  std::string rec = tmp("open-hold.hsr"), js = tmp("open-hold.json"), ready = tmp("open-hold.ready");
  unlink(ready.c_str());
  live::Background hs({kHoldscope, "record", "-q", "-o", rec, "--json", js, "--", kHoldOpen, ready},
                      tmp("open-hold.out"), tmp("open-hold.err"));
  bool holding = hs.wait_until([&] { return live::file_exists(ready); });
  INFO(hs.err());
  REQUIRE(holding);
  REQUIRE(hs.stop(SIGINT) == 0);
  json j = json::parse(slurp(js));
  for (const auto& p : {rec, js, ready}) unlink(p.c_str());
  INFO(j["holds"].dump());
  CHECK(j["holds_open_at_end"].get<uint64_t>() == 1);
  CHECK(j["holds"]["write"]["count"].get<uint64_t>() >= 1);  // the reader's mmap() of the file, closed long before
  CHECK(j["drops"]["out_of_order"] == 0);
  require_no_drops(j);
}

TEST_CASE("a hold already open when the trace starts is reported open at the start once it is released") {
  REQUIRE_LIVE();
  if (std::string why = fuse_skip_reason(); !why.empty()) SKIP(why);
  // ka_hold_open runs before the trace: once READY names its reader, the reader holds its mmap_lock for read, asleep.
  // record -p follows the reader; killing ka_hold_open ends the read, the reader leaves the lock (a release whose
  // acquisition came before the trace) and dies, which ends the recording.
  std::string rec = tmp("open-start.hsr"), js = tmp("open-start.json"), ready = tmp("open-start.ready");
  unlink(ready.c_str());
  live::Background holder({kHoldOpen, ready}, tmp("open-start.holder.out"), tmp("open-start.holder.err"));
  bool holding = holder.wait_until([&] { return live::file_exists(ready); });
  INFO(holder.err());
  REQUIRE(holding);
  std::string reader = slurp(ready);
  reader = reader.substr(0, reader.find('\n'));
  live::Background hs({kHoldscope, "record", "-p", reader, "-o", rec, "--json", js}, tmp("open-start.out"),
                      tmp("open-start.err"));
  bool tracing = hs.wait_until([&] { return hs.err().find("holdscope: tracing process") != std::string::npos; });
  INFO(hs.err());
  REQUIRE(tracing);
  holder.stop(SIGTERM);
  REQUIRE(hs.wait() == 0);  // it ends by itself when the reader exits
  json j = json::parse(slurp(js));
  for (const auto& p : {rec, js, ready}) unlink(p.c_str());
  INFO(j["holds"].dump());
  CHECK(j["holds_open_at_start"].get<uint64_t>() == 1);
  CHECK(j["holds_open_at_end"].get<uint64_t>() == 0);
  require_no_drops(j);
}
