// A recording analyzed into its report and, alongside, the files `report` and `record` export on request: folded
// stacks for flame graphs (and, later, the timeline and the HTML page). One pass over the recording feeds them all.
#pragma once
#include <cstddef>
#include <string>

#include "analyzers/report.h"
#include "tool/html_page.h"

namespace holdscope {

struct ExportPaths {
  std::string folded_holds;   // empty: not written
  std::string folded_allocs;
  std::string perfetto;  // the timeline, Chrome JSON trace-event format
  std::string html;      // the self-contained page
  bool any() const { return !folded_holds.empty() || !folded_allocs.empty() || !perfetto.empty() || !html.empty(); }
  // Refuses, in one line, a target that cannot be written (before any work is done).
  void check() const;
};

// Throws RecordingError or ToolError with a one-line reason.
// cgroup: only that memory cgroup's tasks (empty: all).
Report analyze_and_export(const std::string& recording, size_t top, const std::string& cgroup,
                          const ExportPaths& exports);

// A recording analyzed with what its HTML page needs besides the report (for scenario --html, whose page adds the
// verdict that needs the report first).
struct AnalyzedForPage {
  Report report;
  int command_exit = 0;
  HtmlPageInput page;  // report, folded stacks and histograms filled; title and verdicts left to the caller
};
AnalyzedForPage analyze_for_page(const std::string& recording);

}  // namespace holdscope
