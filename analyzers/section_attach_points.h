// The attach-point section: per attach point its mode, its bracketed functions (calls, time inside, by the caller's
// lock), the allocations, reclaim and compaction inside its calls, and the stacks of callers that held mmap_lock.
// It opens and closes the fentry/fexit frames the other attach-point sections look into.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "analyzers/attach_tasks.h"
#include "analyzers/names.h"
#include "analyzers/stats.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class AttachPointsSection {
 public:
  AttachPointsSection(const TraceContext& ctx, const AttachLayout& layout, const Names& names, AttachTasks& tasks);
  // HS_EV_FN_ENTRY: pushes the task's frame and returns it; nullptr for a slot this trace has no function for.
  Frame* open_frame(const hs_event& e);
  // HS_EV_FN_EXIT: pops the innermost frame of the slot (and any above it, which lost their exit) and returns it.
  std::optional<Frame> close_frame(const hs_event& e);
  // Allocations inside the open frames, and anon_vma_clone's chains where that point is inferred.
  void on_alloc(const hs_event& e, int mode);
  void start_timer(const hs_event& e, bool reclaim);
  // Reclaim or compaction ended: its time, charged to the frames it ran in; nothing if it began before the trace.
  std::optional<uint64_t> stop_timer(const hs_event& e, bool reclaim);
  // What an inference rule found for a point that is not bracketed.
  void note_stack(AttachPoint point, int mode, int32_t stack_id);
  void count_inferred_call(AttachPoint point, int mode, int32_t stack_id);
  AttachPointReport& point(AttachPoint p) { return points_[p]; }
  // After the LRU drain and khugepaged sections: inferred points take their call counts from those.
  void finish(Report& r);

 private:
  struct PointAgg {
    std::map<std::pair<int, int32_t>, uint64_t> stacks;  // (mode, stack id) -> count
    std::array<uint64_t, kLockModes> calls_by_lock{};
    uint64_t calls = 0;
  };
  const TraceContext& ctx_;
  const AttachLayout& layout_;
  const Names& names_;
  AttachTasks& tasks_;
  std::vector<Samples> slot_time_;
  std::vector<FunctionStats> slot_stats_;
  std::array<AttachPointReport, kAttachPoints> points_;
  std::array<PointAgg, kAttachPoints> agg_;
};

}  // namespace holdscope
