#include "tool/report_exports.h"

#include <cerrno>
#include <cstring>
#include <fstream>
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

Report analyze_and_export(const std::string& recording, size_t top, const ExportPaths& exports) {
  exports.check();
  // The passes name stacks and tasks through the recording's context, which lives only as long as the reader: the
  // recording is read here, once, with the passes attached.
  std::ifstream in(recording, std::ios::binary);
  if (!in) throw RecordingError("cannot open " + recording + ": " + strerror(errno));
  RecordingReader reader(in);
  const TraceContext& ctx = reader.context();
  FoldedStacks folded(ctx);
  AnalyzerOptions opts;
  opts.top = top;
  LatencyHistograms histograms;
  if (!exports.folded_holds.empty() || !exports.folded_allocs.empty() || !exports.html.empty()) opts.passes.push_back(&folded);
  if (!exports.html.empty()) opts.passes.push_back(&histograms);
  PerfettoTrace timeline(ctx);
  if (!exports.perfetto.empty()) opts.passes.push_back(&timeline);
  Analyzer a(ctx, opts);
  reader.for_each_event([&](const hs_event& e) { a.feed(e); });
  Report r = a.finish();
  write_folded_file(exports.folded_holds, folded.holds());
  write_folded_file(exports.folded_allocs, folded.allocations());
  if (!exports.perfetto.empty()) write_output_file(exports.perfetto, timeline.to_json().dump() + "\n");
  if (!exports.html.empty()) {
    HtmlPageInput page{"holdscope: " + recording, report_to_json(r), folded.holds(), folded.allocations(), histograms};
    write_output_file(exports.html, html_page(page));
  }
  return r;
}

AnalyzedForPage analyze_for_page(const std::string& recording) {
  std::ifstream in(recording, std::ios::binary);
  if (!in) throw RecordingError("cannot open " + recording + ": " + strerror(errno));
  RecordingReader reader(in);
  const TraceContext& ctx = reader.context();
  FoldedStacks folded(ctx);
  LatencyHistograms histograms;
  AnalyzerOptions opts;
  opts.passes = {&folded, &histograms};
  Analyzer a(ctx, opts);
  reader.for_each_event([&](const hs_event& e) { a.feed(e); });
  AnalyzedForPage out;
  out.report = a.finish();
  out.command_exit = ctx.command_exit;
  out.page = HtmlPageInput{"", report_to_json(out.report), folded.holds(), folded.allocations(), histograms};
  return out;
}

}  // namespace holdscope
