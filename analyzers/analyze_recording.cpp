#include "analyzers/analyze_recording.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "analyzers/recording.h"
#include "analyzers/section_cgroups.h"

namespace holdscope {

namespace {

std::string normalized_cgroup_path(std::string p) {
  if (p.empty() || p[0] != '/') p.insert(0, "/");
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// The recording's context limited to one memory cgroup's allocation counts; id is that cgroup's.
TraceContext restricted_to_cgroup(const TraceContext& full, const std::string& path, uint64_t& id) {
  std::string want = normalized_cgroup_path(path);
  std::vector<std::string> names;
  id = 0;
  for (const auto& [i, p] : full.cgroups) {
    if (p == want) id = i;
    names.push_back(p);
  }
  std::sort(names.begin(), names.end());
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  if (id == 0)
    throw RecordingError("no memory cgroup " + want + " in this recording (" +
                         (known.empty() ? std::string("it names none") : "it has " + known) + ")");
  TraceContext c = full;
  c.alloc_counts.clear();
  for (const auto& a : full.alloc_counts)
    if (a.cgroup == id) c.alloc_counts.push_back(a);
  c.cgroup_filter = want;
  return c;
}

}  // namespace

namespace {

RecordingAnalysis analyze(std::istream& in, AnalyzerOptions opts, RecordingPasses* passes) {
  RecordingReader reader(in);
  auto run = [&](const TraceContext& ctx, auto&& keep) {
    if (passes)
      for (AnalysisPass* p : passes->attach(ctx)) opts.passes.push_back(p);
    Analyzer a(ctx, opts);
    reader.for_each_event([&](const hs_event& e) {
      if (keep(e)) a.feed(e);
    });
    // The report borrows names from the context; finish() copies them out before the reader goes away.
    RecordingAnalysis out{a.finish(), ctx.command_exit};
    if (passes) passes->finished(out.report);
    return out;
  };
  if (opts.cgroup.empty()) return run(reader.context(), [](const hs_event&) { return true; });
  // Only that cgroup's tasks' events: a task's cgroup is the one its name was recorded with.
  uint64_t id = 0;
  TraceContext ctx = restricted_to_cgroup(reader.context(), opts.cgroup, id);
  return run(ctx, [&](const hs_event& e) { return cgroup_of_task(ctx, e.pid) == id; });
}

std::ifstream open_recording(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RecordingError("cannot open " + path + ": " + strerror(errno));
  return in;
}

}  // namespace

RecordingAnalysis analyze_recording(std::istream& in, const AnalyzerOptions& opts) { return analyze(in, opts, nullptr); }

RecordingAnalysis analyze_recording(const std::string& path, const AnalyzerOptions& opts) {
  std::ifstream in = open_recording(path);
  return analyze(in, opts, nullptr);
}

RecordingAnalysis analyze_recording(const std::string& path, AnalyzerOptions opts, RecordingPasses& passes) {
  std::ifstream in = open_recording(path);
  return analyze(in, std::move(opts), &passes);
}

}  // namespace holdscope
