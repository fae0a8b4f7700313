// The sleeping-work section: direct reclaim, compaction and LRU drains a task ran while it held mmap_lock, grouped by
// kind, lock mode, memory cgroup and stack.
#pragma once
#include <cstdint>
#include <map>
#include <tuple>

#include "analyzers/names.h"
#include "analyzers/task_state.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

// Sleeping work under the lock, by kind; the order of kSleepKindNames.
enum SleepKind { kSleepReclaim = 0, kSleepCompaction = 1, kSleepLruDrain = 2 };

class SleepingWorkSection {
 public:
  explicit SleepingWorkSection(const Names& names) : names_(names) {}
  // Reclaim or compaction beginning under the lock (mode not none), ending with the task's entry, if it has one.
  void on_begin(const hs_event& e, int mode, bool reclaim, TaskState& t);
  void on_end(const hs_event& e, bool reclaim, TaskState* t);
  // A drain work the task queued under the lock; first_of_call: it starts an lru_add_drain_all call.
  void on_drain_work(int mode, int32_t stack_id, bool first_of_call);
  // Direct mode: the caller of a drain spent ns in it, waiting for the other CPUs' works.
  void add_drain_time(int mode, int32_t stack_id, uint64_t ns);
  void finish(Report& r);

 private:
  struct Key {
    int kind;
    int mode;
    bool memcg;
    int32_t stack;
    bool operator<(const Key& o) const {
      return std::tie(kind, mode, memcg, stack) < std::tie(o.kind, o.mode, o.memcg, o.stack);
    }
  };
  struct Agg {
    uint64_t count = 0, total_ns = 0, works = 0;
  };
  const Names& names_;
  std::map<Key, Agg> groups_;
  uint64_t unmatched_ = 0;
};

}  // namespace holdscope
