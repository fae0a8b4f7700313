// Live failures: bad input (recordings truncated, corrupted or not one, a command that cannot run) and missing
// capabilities (root, tracefs, BTF), each one clear line and a non-zero exit.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <string>

#include "live_helpers.h"

TEST_CASE("bad input and missing capabilities: one clear line and a non-zero exit", "[userspace]") {
  REQUIRE_LIVE();  // needs a real recording to corrupt, and root to drop privileges from
  std::string rec = tmp("bad.hsr");
  REQUIRE(run(kHoldscope + " record -q -o " + rec + " -- " + kVmas + " 10").status == 0);
  std::string good = slurp(rec);

  SECTION("not root") {
    one_line_error(run_unprivileged({kHoldscope, "record", "-o", "/tmp/x.hsr", "--", "true"}), "must run as root");
  }
  SECTION("no tracefs") {
    one_line_error(run("HOLDSCOPE_TRACEFS=/nonexistent " + kHoldscope + " record -q -o " + rec + " -- true"),
                   "no tracefs");
  }
  SECTION("no BTF") {
    one_line_error(run("HOLDSCOPE_BTF=/nonexistent/vmlinux " + kHoldscope + " record -q -o " + rec + " -- true"),
                   "kernel BTF not found");
  }
  SECTION("a truncated recording") {
    std::ofstream(rec, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() * 2 / 3);
    one_line_error(run(kHoldscope + " report " + rec), "truncated");
  }
  SECTION("a corrupted recording") {
    std::string bad = good;
    bad[200] ^= 0x40;
    std::ofstream(rec, std::ios::binary | std::ios::trunc) << bad;
    one_line_error(run(kHoldscope + " report " + rec), "corrupt");
  }
  SECTION("not a recording") {
    std::ofstream(rec, std::ios::binary | std::ios::trunc) << "hello\n";
    one_line_error(run(kHoldscope + " report " + rec), "not a holdscope recording");
  }
  SECTION("a command that cannot run") {
    one_line_error(run(kHoldscope + " record -q -o " + rec + " -- /nonexistent/cmd"), "cannot run /nonexistent/cmd");
  }
  unlink(rec.c_str());
}
