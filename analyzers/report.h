// The report: what the analyzer concludes from one trace. JSON field names are a stable interface (later tools and
// tests build on them); the text rendering is for people.
#pragma once
#include <cstdint>
#include <array>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzers/stats.h"

namespace holdscope {

struct ModeSummaries {
  Summary read;
  Summary write;
};

struct TaskRef {
  uint32_t tid = 0;
  uint32_t tgid = 0;
  std::string comm;
  bool write = false;  // the mode it held or wanted
};

struct HoldRecord {
  TaskRef task;
  uint64_t mm = 0;
  uint64_t start_ns = 0;  // relative to the trace start
  uint64_t duration_ns = 0;
  std::vector<std::string> stack;
};

struct WaitRecord {
  TaskRef task;
  uint64_t mm = 0;
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;
  std::vector<TaskRef> holders;  // tasks that held the same mmap_lock at some point while it waited
};

// Who waited behind whom, over the whole trace: every successful wait is charged to each task seen holding the
// lock during it (so a wait behind two holders counts for both).
struct BlockedBy {
  std::string waiter;  // comm
  std::string holder;  // comm
  std::string holder_mode;
  uint64_t count = 0;
  uint64_t total_ns = 0;
};

struct ProcessStats {
  uint32_t tgid = 0;
  std::string comm;
  ModeSummaries holds;
  ModeSummaries waits;
};

struct AllocGroup {
  std::string kind;  // "page" | "slab"
  std::string mode;  // "read" | "write"
  uint32_t order = 0;
  std::string cache;
  uint64_t gfp_value = 0;
  std::string gfp;
  bool may_sleep = false;
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t failed = 0;
  std::vector<std::string> stack;
};

struct SleepGroup {
  std::string kind;  // "direct_reclaim" | "compaction" | "lru_drain"
  std::string mode;
  bool memcg = false;  // direct reclaim against a memory cgroup's limit
  uint64_t count = 0;
  uint64_t total_ns = 0;
  uint64_t works = 0;  // lru_drain: per-CPU work items queued
  std::vector<std::string> stack;
};

struct LruDrainSummary {
  uint64_t calls_none = 0;
  uint64_t calls_read = 0;
  uint64_t calls_write = 0;
  uint64_t works = 0;
  // calls by the system call in their stack ("mbind", "migrate_pages", ...; "?" without one): none/read/write
  std::map<std::string, std::array<uint64_t, 3>> by_syscall;
};

// anon_vma_clone, inferred from anon_vma_chain slab allocations whose call site is in anon_vma_clone. Since the
// seed-002 fix every chain is first tried with GFP_NOWAIT (possibly under the anon_vma root lock); only after that
// fails is the lock dropped and GFP_KERNEL used. A may-sleep try not preceded by a failed NOWAIT one was made under
// the anon_vma lock (for all but a clone's first chain): the invariant's violation.
struct AnonVmaClone {
  std::string mode = "inferred";
  uint64_t nowait_attempts = 0;
  uint64_t nowait_failures = 0;
  uint64_t gfp_kernel_retries = 0;
  uint64_t may_sleep_under_lock = 0;
  std::vector<std::vector<std::string>> may_sleep_stacks;  // distinct stacks of those, at most 10
};

struct Drops {
  uint64_t ringbuf = 0;
  uint64_t map_full = 0;
  uint64_t stack = 0;
  uint64_t unmatched = 0;
  uint64_t out_of_order = 0;
  uint64_t held_overflow = 0;
};

struct Report {
  std::string kernel;
  std::string scope;
  std::vector<std::string> command;
  uint64_t duration_ns = 0;
  uint64_t events = 0;
  ModeSummaries holds;
  ModeSummaries waits;
  uint64_t trylock_failures_read = 0;
  uint64_t trylock_failures_write = 0;
  uint64_t downgrades = 0;
  uint64_t holds_open_at_start = 0;  // released during the trace, acquired before it began
  uint64_t holds_open_at_end = 0;
  std::vector<ProcessStats> processes;  // by total hold time, descending
  std::vector<HoldRecord> longest_holds;
  std::vector<WaitRecord> longest_waits;
  std::vector<BlockedBy> waits_blocked_by;  // by total wait time, descending
  std::vector<AllocGroup> allocations;  // by count, descending
  std::vector<SleepGroup> sleeping;     // by total time, then count
  LruDrainSummary lru_drains;
  AnonVmaClone anon_vma_clone;
  Drops drops;
};

nlohmann::json report_to_json(const Report& r);
// top: how many rows each table shows.
void render_text(const Report& r, std::ostream& out, size_t top = 10);

}  // namespace holdscope
