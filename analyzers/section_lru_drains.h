// The LRU drain section: lru_add_drain_all calls by the caller's mmap_lock and by system call. Inferred from the
// per-CPU works the calls queue (in both modes, checked against the brackets in direct mode); direct mode counts the
// calls from their brackets and times them.
#pragma once
#include <cstdint>

#include "analyzers/attach_tasks.h"
#include "analyzers/names.h"
#include "analyzers/section_attach_points.h"
#include "analyzers/section_sleeping_work.h"
#include "analyzers/task_state.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class LruDrainsSection {
 public:
  LruDrainsSection(const AttachLayout& layout, const Names& names, AttachTasks& tasks, AttachPointsSection& points,
                   SleepingWorkSection& sleeping);
  // A drain work queued (HS_EV_LRU_DRAIN), with the task's entries in both task tables.
  void on_work_in_frames(const hs_event& e, int mode);
  void on_work(const hs_event& e, int mode, TaskState& t);
  void on_open_frame(const hs_event& e, const Frame& f);
  void on_close_frame(const hs_event& e, const Frame& f);
  void finish(Report& r);

 private:
  void count_call(int mode, int32_t stack_id);
  const AttachLayout& layout_;
  const Names& names_;
  AttachTasks& tasks_;
  AttachPointsSection& points_;
  SleepingWorkSection& sleeping_;
  LruDrainSummary out_;
};

}  // namespace holdscope
