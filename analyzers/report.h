// The report: what the analyzer concludes from one trace. JSON field names are a stable interface (later tools and
// tests build on them); the text rendering is for people.
#pragma once
#include <cstdint>
#include <array>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzers/attach_points.h"
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

// One memory cgroup's tasks (the cgroup each had when its name was read).
struct CgroupStats {
  uint64_t id = 0;   // 0: unknown (a recording made before cgroups were recorded, or a task never named)
  std::string path;  // in the memory controller's hierarchy; "cgroup:ID" for one gone before the trace ended
  uint64_t tasks = 0;
  ModeSummaries holds;
  ModeSummaries waits;
  uint64_t allocations = 0;  // under the lock
  uint64_t may_sleep_allocations = 0;
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
  // Calls the inference rules find in the queued works, whatever the mode: in direct mode they are checked against
  // the brackets that queued work (queued_calls), on the same events.
  uint64_t inferred_calls = 0;
  uint64_t queued_calls = 0;  // direct mode: bracketed calls inside which the task queued a drain work
  // calls by the system call in their stack ("mbind", "migrate_pages", ...; "?" without one): none/read/write
  std::map<std::string, std::array<uint64_t, 3>> by_syscall;
};

// anon_vma_clone, inferred from anon_vma_chain slab allocations whose call site is in anon_vma_clone. Since the
// seed-002 fix every chain is first tried with GFP_NOWAIT (possibly under the anon_vma root lock); only after that
// fails is the lock dropped and GFP_KERNEL used. A may-sleep try not preceded by a failed NOWAIT one was made under
// the anon_vma lock (for all but a clone's first chain): the invariant's violation.
struct AnonVmaClone {
  AttachMode mode = AttachMode::inferred;
  uint64_t nowait_attempts = 0;
  uint64_t nowait_failures = 0;
  uint64_t gfp_kernel_retries = 0;
  uint64_t may_sleep_under_lock = 0;
  std::vector<std::vector<std::string>> may_sleep_stacks;  // distinct stacks of those, at most 10
};

// One kernel function bracketed by fentry/fexit (direct mode).
struct FunctionStats {
  std::string name;
  uint64_t calls = 0;
  std::array<uint64_t, 3> calls_by_lock{};  // the caller's mmap_lock at entry: none, read, write
  Summary time_inside;
  uint64_t open_at_end = 0;  // entered, not yet returned when the trace ended
};

struct StackCount {
  std::string mode;  // the mmap_lock mode the caller held
  uint64_t count = 0;
  std::vector<std::string> stack;
};

// One of the four places the design names, observed directly or inferred.
struct AttachPointReport {
  std::string name;
  AttachMode mode = AttachMode::unavailable;
  std::string why;
  std::vector<FunctionStats> functions;                 // direct mode
  std::optional<uint64_t> calls;                        // absent where the mode cannot count calls
  std::optional<std::array<uint64_t, 3>> calls_by_lock;  // none, read, write
  uint64_t page_allocs = 0, slab_allocs = 0, may_sleep_allocs = 0;  // allocations inside (direct) or attributed
  uint64_t reclaims = 0, reclaim_ns = 0, compactions = 0, compaction_ns = 0;
  std::vector<StackCount> held_lock_stacks;  // callers that held mmap_lock, most frequent first (at most 5)
};

struct BlockedWait {
  uint32_t tid = 0;
  std::string comm;
  std::string mode;  // what the waiter wanted
  uint64_t wait_ns = 0;
};

struct LockStep {
  std::string what;  // "read" | "write" (a hold) | "huge_page" (the allocation)
  std::string lock;  // huge_page: the mmap_lock mode held while allocating it ("none" since the seed-001 fix)
  uint64_t start_ns = 0;  // relative to the collapse's start
  uint64_t duration_ns = 0;
};

struct CollapseRecord {
  uint32_t tid = 0;
  std::string comm;  // khugepaged, or the MADV_COLLAPSE caller
  uint64_t start_ns = 0;  // relative to the trace start
  uint64_t duration_ns = 0;
  bool succeeded = false;
  std::string result;
  std::string alloc_under;  // none | read | write | unseen
  uint64_t write_hold_ns = 0;
  std::vector<LockStep> sequence;
  std::vector<BlockedWait> blocked;  // waits of other tasks on this mm that overlapped its write hold
};

struct KhugepagedMm {
  uint64_t mm = 0;
  uint32_t tgid = 0;  // the process owning the mm, when one of its tasks took the lock in the trace
  std::string comm;
  uint64_t attempted = 0, succeeded = 0;
  std::array<uint64_t, 4> alloc_under{};  // none, read, write, unseen
  Summary write_hold;                     // per collapse
  uint64_t blocked_waits = 0;
  uint64_t blocked_max_ns = 0;
  std::vector<CollapseRecord> collapses;  // the first 20, in order
};

struct KhugepagedReport {
  AttachMode mode = AttachMode::inferred;
  std::vector<KhugepagedMm> mms;
};

struct SlowPathByLock {
  uint64_t entries = 0, failed = 0;
  uint64_t reclaims = 0, reclaim_ns = 0;
  uint64_t compactions = 0, compaction_ns = 0;
};

struct SlowPathReport {
  AttachMode mode = AttachMode::inferred;
  std::array<SlowPathByLock, 3> by_lock;  // none, read, write
};

struct Drops {
  uint64_t ringbuf = 0;
  uint64_t map_full = 0;
  uint64_t untraced_processes = 0;  // of the traced command: no room in the scope map, their events all missing
  uint64_t stack = 0;
  uint64_t unmatched = 0;
  uint64_t out_of_order = 0;
  uint64_t held_overflow = 0;
};

// The analyzer's own per-task and per-lock state: bounded by what is active at once, not by what the trace saw.
struct AnalyzerState {
  uint64_t tracked_tasks_peak = 0;  // sampled every 1024 events
  uint64_t tracked_tasks_end = 0;
  uint64_t tracked_locks_end = 0;
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
  std::vector<CgroupStats> cgroups;     // by total hold time, descending
  std::string cgroup_filter;            // the memory cgroup the trace (record --cgroup) or report was limited to
  std::vector<HoldRecord> longest_holds;
  std::vector<WaitRecord> longest_waits;
  std::vector<BlockedBy> waits_blocked_by;  // by total wait time, descending
  std::vector<AllocGroup> allocations;  // by count, descending
  std::vector<SleepGroup> sleeping;     // by total time, then count
  LruDrainSummary lru_drains;
  AnonVmaClone anon_vma_clone;
  std::vector<AttachPointReport> attach_points;
  KhugepagedReport khugepaged;
  SlowPathReport slow_path;
  AnalyzerState analyzer_state;
  Drops drops;
};

nlohmann::json report_to_json(const Report& r);
// top: how many rows each table shows.
void render_text(const Report& r, std::ostream& out, size_t top = 10);

}  // namespace holdscope
