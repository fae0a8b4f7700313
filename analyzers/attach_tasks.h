// The attach-point sections' shared per-task state: the fentry/fexit frames a task has open (direct mode), and what
// the inference rules follow per task (an open slow-path episode, a khugepaged collapse, reclaim and compaction
// under way). One table for all of them, so a task's entry goes only when every part is idle.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyzers/attach_points.h"
#include "analyzers/context.h"
#include "analyzers/report.h"

namespace holdscope {

// How this trace observed the attach points: which ran direct, and the attach point of each bracketed function slot
// (HS_EV_FN_* arg; -1 for a function of none).
struct AttachLayout {
  explicit AttachLayout(const TraceContext& ctx);
  bool direct(AttachPoint p) const { return is_direct[p]; }
  std::array<bool, kAttachPoints> is_direct{};
  std::vector<int> slot_point;
  std::vector<std::string> slot_name;  // the kernel function of each slot
};

struct CloneState {  // one anon_vma_clone call, direct mode
  bool root_locked = false;
  bool retry_due = false;
};

// One collapse being followed: from fentry to fexit (direct), or from the huge page allocation to the
// mm_collapse_huge_page tracepoint (inferred).
struct Collapse {
  uint32_t tid = 0;
  uint64_t mm = 0;
  uint64_t start = 0;
  int alloc_mode = -1;
  std::optional<uint64_t> status;
  std::vector<LockStep> seq;  // start_ns absolute until finalized
  std::vector<std::pair<uint64_t, uint64_t>> writes;
  std::vector<BlockedWait> blocked;
};

struct Frame {
  int slot = 0;
  int point = 0;
  int mode = 0;  // the caller's mmap_lock at entry
  uint64_t start = 0;
  bool nested = false;  // inside another frame of the same attach point
  bool queued = false;  // lru_drain: the task queued a drain work inside this call
  int drain_mode = 0;         // lru_drain: the lock mode at the call's first queued work,
  int32_t drain_stack = -1;   // and that work's stack (the sleeping-work group the analyzer put it in)
  CloneState clone;
  std::optional<Collapse> collapse;
};

struct TimerStart {
  uint64_t start = 0;
};

struct Episode {  // inferred slow-path entry: from its first reclaim/compaction to the allocation that follows
  int mode = 0;
};

struct AttachTask {
  std::vector<Frame> frames;
  std::optional<TimerStart> reclaim, compaction;
  std::optional<Episode> episode;
  std::optional<Collapse> collapse;  // inferred
  bool idle() const { return frames.empty() && !reclaim && !compaction && !episode && !collapse; }
};

using AttachTasks = std::unordered_map<uint32_t, AttachTask>;

// Drops the task's entry when nothing of it is in flight.
inline void forget_if_idle(AttachTasks& tasks, uint32_t tid) {
  auto it = tasks.find(tid);
  if (it != tasks.end() && it->second.idle()) tasks.erase(it);
}

// The innermost open frame of each attach point, innermost first.
template <typename Fn>
void for_innermost_frames(AttachTask& t, Fn fn) {
  std::array<bool, kAttachPoints> done{};
  for (auto it = t.frames.rbegin(); it != t.frames.rend(); ++it) {
    if (it->point < 0 || done[it->point]) continue;
    done[it->point] = true;
    fn(*it);
  }
}

}  // namespace holdscope
