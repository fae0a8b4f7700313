#include "analyzers/analyze_recording.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "analyzers/recording.h"

namespace holdscope {

RecordingAnalysis analyze_recording(std::istream& in, const AnalyzerOptions& opts) {
  RecordingReader reader(in);
  Analyzer a(reader.context(), opts);
  reader.for_each_event([&](const hs_event& e) { a.feed(e); });
  // The report borrows names from the context; finish() copies them out before the reader goes away.
  return RecordingAnalysis{a.finish(), reader.context().command_exit};
}

RecordingAnalysis analyze_recording(const std::string& path, const AnalyzerOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RecordingError("cannot open " + path + ": " + strerror(errno));
  return analyze_recording(in, opts);
}

}  // namespace holdscope
