// A recording read back and analyzed: the one way `report`, `record --json`, the scenarios and the fuzz target turn
// a .hsr into a Report.
#pragma once
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/report.h"

namespace holdscope {

struct RecordingAnalysis {
  Report report;
  int command_exit = 0;  // the traced command's exit status, from the recording's metadata
};

// Consumers of the ordered stream that name things through the recording's context, which lives only while the
// recording is read: they are made for that context and handed the report before it goes away.
class RecordingPasses {
 public:
  virtual ~RecordingPasses() = default;
  // The context is the one the analysis uses (limited to the --cgroup one when asked).
  virtual std::vector<AnalysisPass*> attach(const TraceContext& ctx) = 0;
  virtual void finished(const Report& report) = 0;
};

// Throws RecordingError with a one-line reason for a file that cannot be opened or is not a valid recording.
RecordingAnalysis analyze_recording(const std::string& path, const AnalyzerOptions& opts = {});
RecordingAnalysis analyze_recording(std::istream& in, const AnalyzerOptions& opts = {});
RecordingAnalysis analyze_recording(const std::string& path, AnalyzerOptions opts, RecordingPasses& passes);

}  // namespace holdscope
