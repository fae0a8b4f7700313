// The analyzer's one entry per task: the mmap_lock holds and wait of the lock state, and the per-task parts of the
// report sections that follow a task from one event to the next. One entry rather than one per part, so the entry
// goes only when every part of it is idle, and the count of tracked tasks (in the report) is the count of tasks.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "analyzers/report.h"

namespace holdscope {

// The queue_work calls of one lru_add_drain_all come within microseconds on real CPUs, but a vCPU its host stalls
// (an emulated guest switching vCPUs) can spread them over tens of milliseconds: within this, works in ascending CPU
// order are one call.
constexpr uint64_t kDrainBurstNs = 100'000'000;

struct Hold {
  uint64_t mm;
  bool write;
  uint64_t start;
  int32_t stack_id;
};

struct PendingWait {
  uint64_t mm;
  bool write;
  uint64_t start;
  std::vector<TaskRef> holders;
};

// Reclaim or compaction begun under the lock (sleeping work section).
struct Timed {
  uint64_t start;
  int32_t stack_id;
  bool write;
  bool memcg;
};

// The last LRU drain work the task queued (LRU drain section): the next one may belong to the same call.
struct DrainBurst {
  uint64_t last_ts = 0;
  uint32_t last_cpu = 0;
  int last_mode = -1;  // -1: none queued yet
  bool active(uint64_t now) const { return last_mode >= 0 && now - std::min(now, last_ts) < kDrainBurstNs; }
};

struct TaskState {
  std::vector<Hold> holds;
  std::optional<PendingWait> wait;
  std::optional<Timed> reclaim;
  std::optional<Timed> compaction;
  DrainBurst drain;
  bool clone_retry_due = false;  // a NOWAIT anon_vma_chain try in anon_vma_clone failed: a GFP_KERNEL retry may follow
  // Nothing in flight: the entry can go, so per-task state stays proportional to tasks active at once.
  bool idle(uint64_t now) const {
    return holds.empty() && !wait && !reclaim && !compaction && !clone_retry_due && !drain.active(now);
  }
  bool holds_write() const {
    return std::any_of(holds.begin(), holds.end(), [](const Hold& h) { return h.write; });
  }
};

}  // namespace holdscope
