// The mmap_lock state machine: per task the locks it holds and the acquisition it waits for, per mm the tasks
// holding it and waiting for it. It tells each event's lock mode and hands every completed hold and wait to a
// listener; what is made of them is the report sections' business.
#pragma once
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzers/attach_points.h"
#include "analyzers/names.h"
#include "analyzers/report.h"
#include "analyzers/task_state.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

struct HoldEnded {
  uint32_t tid, tgid;
  uint64_t mm;
  bool write;
  uint64_t start, end;
  int32_t stack_id;  // the acquisition's stack when it was taken, else the one taken at the release of a long hold
};

struct WaitEnded {
  uint32_t tid, tgid;
  uint64_t mm;
  bool write;
  uint64_t start, end;
  const std::vector<TaskRef>& holders;  // tasks seen holding the same lock while it waited
};

class LockListener {
 public:
  virtual ~LockListener() = default;
  virtual void on_hold(const HoldEnded& h) = 0;
  virtual void on_wait(const WaitEnded& w) = 0;  // successful acquisitions only
};

class LockState {
 public:
  LockState(const Names& names, LockListener& listener) : names_(names), listener_(listener) {}
  // late: a rebuilt start processed after later events (see on_start in lock_state.cpp).
  void on_start(const hs_event& e, bool late);
  void on_acquired(const hs_event& e);
  void on_released(const hs_event& e);
  void on_exit(const hs_event& e);
  // Drops the past holds too old to name anyone's holder; cheap to call with every event.
  void expire(uint64_t now);

  LockMode mode_of(uint32_t tid) const;
  // The task's entry, made if it has none (sections keep their per-task parts in it).
  TaskState& task(uint32_t tid) { return tasks_[tid]; }
  TaskState* find(uint32_t tid);  // nullptr if it has none

  size_t tracked_tasks() const { return tasks_.size(); }
  size_t tracked_locks() const { return holders_by_mm_.size() + waiters_by_mm_.size() + past_by_mm_.size(); }
  // Trylock failures, downgrades, holds open at either end, and the lost events the state machine noticed.
  void finish(Report& r) const;

 private:
  struct PastHold {
    TaskRef who;
    uint64_t start, end;
  };
  static uint64_t seen_key(uint32_t tid, uint64_t mm) { return mm * 1000003ull ^ tid; }
  void remove_holder(uint64_t mm, uint32_t tid);
  void remove_waiter(uint64_t mm, uint32_t tid);
  void add_holder(uint64_t mm, const TaskRef& t);
  void end_hold(const hs_event& e, const Hold& h, uint64_t end);

  const Names& names_;
  LockListener& listener_;
  std::unordered_map<uint32_t, TaskState> tasks_;
  std::unordered_map<uint64_t, std::vector<TaskRef>> holders_by_mm_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> waiters_by_mm_;
  std::unordered_set<uint64_t> seen_;  // hashes of (tid, mm) with any lock event: tells carried-in holds from losses
  std::unordered_map<uint64_t, std::deque<PastHold>> past_by_mm_;
  uint64_t next_sweep_ = 0;
  uint64_t unmatched_ = 0;
  uint64_t trylock_failures_read_ = 0, trylock_failures_write_ = 0;
  uint64_t downgrades_ = 0;
  uint64_t holds_open_at_start_ = 0;
};

}  // namespace holdscope
