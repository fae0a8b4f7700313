// libFuzzer target: any bytes as a recording. The reader must refuse what is not a valid recording with a
// RecordingError, and whatever it accepts must go through the analyzer and both renderings without a crash, undefined
// behaviour, or an allocation the input's size does not justify.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "analyzers/analyze_recording.h"
#include "analyzers/recording.h"
#include "analyzers/report.h"

using namespace holdscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    AnalyzerOptions opts;
    opts.top = 5;
    Report r = analyze_recording(in, opts).report;
    (void)report_to_json(r).dump();
    std::ostringstream text;
    render_text(r, text, 5);
  } catch (const RecordingError&) {
    // refused: what a bad recording must get
  }
  return 0;
}
