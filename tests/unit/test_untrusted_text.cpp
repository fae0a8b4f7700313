#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analyzers/analyzer.h"
#include "analyzers/recording.h"
#include "analyzers/report.h"
#include "analyzers/untrusted_text.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;

TEST_CASE("untrusted text: valid printable UTF-8 is kept, every other byte becomes \\xNN") {
  CHECK(escape_untrusted("ka_vmas") == "ka_vmas");
  CHECK(escape_untrusted("r\xc3\xa9glage") == "r\xc3\xa9glage");           // é, valid
  CHECK(escape_untrusted("xr\xe9glage") == "xr\\xe9glage");                // Latin-1 é: invalid UTF-8
  CHECK(escape_untrusted("abc\xe2\x82") == "abc\\xe2\\x82");              // a sequence cut by comm's 16 bytes
  CHECK(escape_untrusted("\x1b[2Jx") == "\\x1b[2Jx");                      // a terminal escape
  CHECK(escape_untrusted("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f");
  CHECK(escape_untrusted("\xc2\x9b") == "\\xc2\\x9b");                     // C1 control (CSI)
  CHECK(escape_untrusted("\xc0\xaf") == "\\xc0\\xaf");                     // overlong '/'
  CHECK(escape_untrusted("\xed\xa0\x80") == "\\xed\\xa0\\x80");            // a surrogate
  CHECK(escape_untrusted("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");   // past U+10FFFF
  CHECK(escape_untrusted("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");       // an emoji, valid
  CHECK(escape_untrusted(std::string("a\0b", 3)) == "a\\x00b");
  for (const char* s : {"xr\xe9glage", "\x1b[31m", "ok", "\xff\xfe"}) CHECK(escape_untrusted(escape_untrusted(s)) == escape_untrusted(s));
}

TEST_CASE("hostile names from the traced system make a valid recording and a valid JSON report") {
  auto ctx = context();
  const std::string comm = "workload_v2_xr\xe9", cmd = "/tmp/\x1b[2Jevil\xff";
  ctx.comms[100] = {comm, 100};
  ctx.kernel = "6.18.0-\xfe";
  ctx.command = {cmd, "arg"};
  ctx.caches[0x1234] = {"cache\x1b]0;title\x07", 64};
  std::ostringstream out;
  RecordingWriter w(out);
  w.add(start(us(1), 100, kMmA, true));
  w.add(acquired(us(2), 100, kMmA, true));
  w.add(released(us(5), 100, kMmA, true));
  REQUIRE_NOTHROW(w.finish(ctx));
  std::istringstream in(out.str());
  RecordingReader r(in);
  CHECK(r.context().comms.at(100).comm == "workload_v2_xr\\xe9");
  CHECK(r.context().kernel == "6.18.0-\\xfe");
  CHECK(r.context().command.at(0) == "/tmp/\\x1b[2Jevil\\xff");
  Analyzer a(r.context());
  r.for_each_event([&](const hs_event& e) { a.feed(e); });
  Report rep = a.finish();
  std::string json;
  REQUIRE_NOTHROW(json = report_to_json(rep).dump(2));
  CHECK(json.find("workload_v2_xr\\\\xe9") != std::string::npos);  // the JSON escape of the backslash
  std::ostringstream text;
  render_text(rep, text, 10);
  CHECK(text.str().find('\x1b') == std::string::npos);
  CHECK(text.str().find("workload_v2_xr\\xe9") != std::string::npos);
}

TEST_CASE("a recording whose metadata holds raw control characters is read with them escaped") {
  // A hand-made (or hostile) recording: JSON allows \u001b in a string; it must not reach the terminal.
  auto ctx = context();
  ctx.comms[100] = {"plain", 100};
  std::string meta = context_to_json(ctx);
  auto j = nlohmann::json::parse(meta);
  for (auto& c : j["comms"])
    if (c[0] == 100) c[2] = "\x1b[2J";
  TraceContext back = context_from_json(j.dump());
  CHECK(back.comms.at(100).comm == "\\x1b[2J");
}
