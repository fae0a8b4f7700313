// The khugepaged section: per mm the collapses attempted and done, the lock mode the huge page was allocated under,
// the write hold of each collapse and the waits of other tasks it blocked. Direct mode follows a collapse from its
// bracket; inferred mode from the huge page allocation to the mm_collapse_huge_page tracepoint.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <unordered_set>

#include "analyzers/attach_tasks.h"
#include "analyzers/lock_state.h"
#include "analyzers/names.h"
#include "analyzers/section_attach_points.h"
#include "analyzers/stats.h"

namespace holdscope {

class KhugepagedSection {
 public:
  KhugepagedSection(const TraceContext& ctx, const AttachLayout& layout, const Names& names, AttachTasks& tasks,
                    AttachPointsSection& points);
  void on_open_frame(const hs_event& e, Frame& f);
  void on_close_frame(const hs_event& e, Frame& f);
  void on_alloc(const hs_event& e, int mode);  // a huge page may anchor or join a collapse
  void on_collapse_tp(const hs_event& e);
  void on_scan_tp(const hs_event& e);
  void on_hold(const HoldEnded& h);
  void on_wait(const WaitEnded& w);
  void finish(Report& r);

 private:
  struct RecentCollapse {  // finalized, still matched against waits that end after it
    std::vector<std::pair<uint64_t, uint64_t>> writes;
    uint32_t tid = 0;
    int kept = -1;  // index in KhugepagedMm::collapses, or -1
  };
  struct MmAgg {
    KhugepagedMm out;
    Samples write_hold;
    std::deque<RecentCollapse> recent;
  };
  Collapse* open_collapse(uint32_t tid);
  void on_huge_alloc(const hs_event& e, int mode);
  void drop_stale(uint64_t now);
  void finalize(Collapse& c, uint64_t end);

  const TraceContext& ctx_;
  const AttachLayout& layout_;
  const Names& names_;
  AttachTasks& tasks_;
  AttachPointsSection& points_;
  std::map<uint64_t, MmAgg> mms_;
  // Tasks whose open collapse has taken the write lock: the only ones a completed wait must be checked against, so a
  // wait costs a look at these rather than at every tracked task. Entries whose collapse has ended are dropped lazily.
  std::unordered_set<uint32_t> writing_collapsers_;
};

}  // namespace holdscope
