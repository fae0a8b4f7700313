// A recording read back and analyzed: the one way `report`, `record --json`, the scenarios and the fuzz target turn
// a .hsr into a Report.
#pragma once
#include <cstdint>
#include <istream>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/report.h"

namespace holdscope {

struct RecordingAnalysis {
  Report report;
  int command_exit = 0;  // the traced command's exit status, from the recording's metadata
};

// Throws RecordingError with a one-line reason for a file that cannot be opened or is not a valid recording.
RecordingAnalysis analyze_recording(const std::string& path, const AnalyzerOptions& opts = {});
RecordingAnalysis analyze_recording(std::istream& in, const AnalyzerOptions& opts = {});

}  // namespace holdscope
