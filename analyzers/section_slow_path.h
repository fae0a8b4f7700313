// The allocator slow path section: entries into __alloc_pages_slowpath by the caller's mmap_lock, their failures, and
// the reclaim and compaction inside them. Direct mode from its brackets; inferred mode opens an episode at the first
// reclaim, compaction try or compaction and closes it at the page allocation that follows.
#pragma once
#include <cstdint>

#include "analyzers/attach_tasks.h"
#include "analyzers/section_attach_points.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class SlowPathSection {
 public:
  SlowPathSection(const AttachLayout& layout, AttachTasks& tasks, AttachPointsSection& points);
  void on_open_frame(const Frame& f);
  void on_close_frame(const hs_event& e, const Frame& f);
  // Reclaim, compaction or a compaction try beginning (not a memory cgroup's reclaim): inferred mode's entry.
  void open_episode(const hs_event& e, int mode);
  // A page allocation closes the inferred episode.
  void on_alloc(const hs_event& e);
  // Reclaim or compaction of d ns ended.
  void on_timed_end(const hs_event& e, bool reclaim, uint64_t d);
  void finish(Report& r);

 private:
  const AttachLayout& layout_;
  AttachTasks& tasks_;
  AttachPointsSection& points_;
  SlowPathReport out_;
};

}  // namespace holdscope
