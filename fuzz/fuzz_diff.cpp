// libFuzzer target: `holdscope diff` on two JSON documents from a file (the input split at its first NUL byte). Any
// JSON at all, valid or not, shaped like a report or not: a parse error or a type error is a refusal; a crash or
// undefined behaviour is a bug.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "analyzers/diff.h"

using namespace holdscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  size_t nul = s.find('\0');
  std::string a = s.substr(0, nul), b = nul == std::string::npos ? a : s.substr(nul + 1);
  try {
    auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
    DiffResult d = diff_reports({ja}, {jb});
    std::ostringstream out;
    render_diff(d, out);
    (void)diff_to_json(d).dump();
  } catch (const nlohmann::json::exception&) {
    // not JSON, or not shaped like a report: refused
  }
  return 0;
}
