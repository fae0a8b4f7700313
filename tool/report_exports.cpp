#include "tool/report_exports.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "analyzers/analyze_recording.h"
#include "analyzers/folded_stacks.h"
#include "analyzers/perfetto_trace.h"
#include "tool/html_page.h"
#include "analyzers/recording.h"
#include "tool/output_file.h"

namespace holdscope {

void ExportPaths::check() const {
  for (const auto* p : {&folded_holds, &folded_allocs, &perfetto, &html})
    if (!p->empty()) check_output_target(*p);
}

namespace {

void write_folded_file(const std::string& path, const std::vector<FoldedLine>& lines) {
  if (path.empty()) return;
  std::ostringstream out;
  write_folded(lines, out);
  write_output_file(path, out.str());
}

}  // namespace

namespace {

// The export passes, made for the context the analysis uses; each writes its file once the report is known.
class ExportPasses : public RecordingPasses {
 public:
  // page_only: nothing written, the page's inputs kept for a caller that adds to it first (scenario --html).
  ExportPasses(const ExportPaths& paths, std::string title, bool page_only = false)
      : paths_(paths), title_(std::move(title)), page_only_(page_only) {}
  std::vector<AnalysisPass*> attach(const TraceContext& ctx) override {
    folded_ = std::make_unique<FoldedStacks>(ctx);
    timeline_ = std::make_unique<PerfettoTrace>(ctx);
    std::vector<AnalysisPass*> out;
    const bool page = page_only_ || !paths_.html.empty();
    if (page || !paths_.folded_holds.empty() || !paths_.folded_allocs.empty()) out.push_back(folded_.get());
    if (page) out.push_back(&histograms_);
    if (!paths_.perfetto.empty()) out.push_back(timeline_.get());
    return out;
  }
  void finished(const Report& r) override {
    write_folded_file(paths_.folded_holds, folded_->holds());
    write_folded_file(paths_.folded_allocs, folded_->allocations());
    if (!paths_.perfetto.empty()) write_output_file(paths_.perfetto, timeline_->to_json().dump() + "\n");
    page_ = HtmlPageInput{title_, report_to_json(r), folded_->holds(), folded_->allocations(), histograms_};
    if (!paths_.html.empty()) write_output_file(paths_.html, html_page(page_));
  }
  const HtmlPageInput& page() const { return page_; }

 private:
  const ExportPaths& paths_;
  std::string title_;
  bool page_only_;
  std::unique_ptr<FoldedStacks> folded_;
  std::unique_ptr<PerfettoTrace> timeline_;
  LatencyHistograms histograms_;
  HtmlPageInput page_;
};

}  // namespace

Report analyze_and_export(const std::string& recording, size_t top, const std::string& cgroup,
                          const ExportPaths& exports) {
  exports.check();
  AnalyzerOptions opts;
  opts.top = top;
  opts.cgroup = cgroup;
  ExportPasses passes(exports, "holdscope: " + recording + (cgroup.empty() ? "" : ", memory cgroup " + cgroup));
  return analyze_recording(recording, opts, passes).report;
}

AnalyzedForPage analyze_for_page(const std::string& recording) {
  const ExportPaths none;
  ExportPasses passes(none, "", true);
  AnalyzerOptions opts;
  AnalyzedForPage out;
  RecordingAnalysis a = analyze_recording(recording, opts, passes);
  out.report = std::move(a.report);
  out.command_exit = a.command_exit;
  out.page = passes.page();
  return out;
}

}  // namespace holdscope
