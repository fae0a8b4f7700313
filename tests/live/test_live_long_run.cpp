// Live long runs: memory stays bounded (per-task state freed, the recorder's RSS flat) as thousands of tasks come
// and go.
#include <signal.h>
#include <sys/types.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <fstream>
#include <string>

#include "live_helpers.h"

namespace {

// The process's own memory (RssAnon): VmRSS also counts the ring buffer's pages (mapped twice by libbpf), which
// appear as they are first written, up to 2x the ring's size, and say nothing about leaks.
uint64_t anon_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8));
  return 0;
}

}  // namespace

TEST_CASE("a long run keeps memory bounded: per-task state is freed as thousands of tasks come and go") {
  REQUIRE_LIVE();
  // The analyzer: 3000 short-lived children, each taking its own mm's lock, leave almost nothing tracked.
  json j = record_json(kFork + " 0 3000", "churn");
  INFO(j["analyzer_state"].dump());
  CHECK(j["holds"]["write"]["count"].get<uint64_t>() >= 3000);
  CHECK(j["analyzer_state"]["tracked_tasks_end"].get<uint64_t>() <= 2);
  CHECK(j["analyzer_state"]["tracked_tasks_peak"].get<uint64_t>() < 100);
  require_no_drops(j);

  // The recorder, tracing the whole system through process churn: its RSS is flat after start-up. RSS is read after
  // a quarter of the churn and again after all of it, each once that work is done.
  std::string rec = tmp("churn-long.hsr");
  live::Background hs({kHoldscope, "record", "-o", rec, "--duration", "900"}, tmp("churn.out"), tmp("churn.err"));
  REQUIRE(hs.wait_until([&] { return hs.err().find("tracing the whole system") != std::string::npos; }));
  auto churn = [&](int rounds) {
    return run("for i in $(seq " + std::to_string(rounds) + "); do " + kFork + " 0 200 || exit 1; done >/dev/null 2>&1");
  };
  REQUIRE(churn(15).status == 0);
  uint64_t early = anon_rss_kb(hs.pid());
  REQUIRE(churn(45).status == 0);
  uint64_t late = anon_rss_kb(hs.pid());
  REQUIRE(hs.stop(SIGINT) == 0);
  INFO("recorder RssAnon " << early << " kB after 3000 processes, " << late << " kB after 12000");
  CHECK(early > 0);
  CHECK(late <= early + 4 * 1024);
  std::string js = tmp("churn-long.json");
  REQUIRE(run(kHoldscope + " report " + rec + " --json " + js).status == 0);
  json r = json::parse(slurp(js));
  unlink(js.c_str());
  unlink(rec.c_str());
  CHECK(r["analyzer_state"]["tracked_tasks_peak"].get<uint64_t>() < 1000);
  CHECK(r["drops"]["ringbuf"] == 0);
}
