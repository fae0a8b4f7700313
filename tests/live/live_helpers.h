// Live tests: real BPF on the running kernel, through the holdscope binary exactly as a user runs it.
// Each test says why it skips when the machine lacks what it needs (root, BTF, the mmap_lock tracepoints).
// What the live tests share (defined in live_helpers.cpp): running holdscope and the fixtures, temporary paths,
// reading their output and JSON reports, why a test must skip.
#pragma once
#include <sys/types.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "background.h"

using nlohmann::json;

struct Run {
  int status;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path);

std::string tmp(const std::string& name);

Run run(const std::string& cmd);

// Runs holdscope as an unprivileged user (nobody), with no helper binary: fork, drop ids, exec.
Run run_unprivileged(const std::vector<std::string>& args);

bool exists(const std::string& p);

// Why this machine cannot run live BPF tests, or empty when it can.
std::string live_skip_reason();

#define REQUIRE_LIVE()                              \
  do {                                              \
    std::string why_ = live_skip_reason();          \
    if (!why_.empty()) SKIP(why_);                  \
  } while (0)

// Why ka_reclaim cannot make memcg reclaim here (no memory controller, or no disk-backed page cache), or empty.
std::string memcg_reclaim_skip_reason();

#define REQUIRE_MEMCG_RECLAIM()                      \
  do {                                               \
    std::string why_ = memcg_reclaim_skip_reason();  \
    if (!why_.empty()) SKIP(why_);                   \
  } while (0)

// The holdscope binary and the fixtures, as built (the live_tests target's compile definitions).
extern const std::string kHoldscope;
extern const std::string kVmas;
extern const std::string kContend;
extern const std::string kReclaim;
extern const std::string kMigratePrep;
extern const std::string kFork;
extern const std::string kPopulateCpus;
extern const std::string kKhugepaged;
extern const std::string kHoldOpen;
extern const std::string kSettings;
extern const std::string kLocks;
extern const std::string kPressure;

json record_json(const std::string& cmd_and_args, const std::string& tag, const std::string& opts = "");

uint64_t allocs(const json& j, const std::string& kind, const std::string& mode, const std::string& cache);

void require_no_drops(const json& j);

// A failed command's stderr: one line, "holdscope: ...", naming needle.
void one_line_error(const Run& r, const std::string& needle);

// Empty when fentry attaches for every named attach point here (per holdscope doctor's probes), else why not.
std::string direct_skip_reason(const std::vector<std::string>& points);

const json& attach_point(const json& report, const std::string& name);

// The ids of the BPF programs a process holds (its fdinfo), read while it runs.
std::vector<uint32_t> prog_ids_of(pid_t pid);

// Whether none of these programs is loaded any more. The kernel frees a program after the last link to it is put,
// which it does from a workqueue once the holder's files are closed: callers wait for this state.
bool progs_unloaded(const std::vector<uint32_t>& ids);

uint64_t clone_chain_allocs(const json& r);

// |actual - expected| within fraction of expected.
bool near(int64_t actual, int64_t expected, double fraction);
