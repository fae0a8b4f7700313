#include "analyzers/tracing_frames.h"

namespace holdscope {

bool is_tracing_frame(std::string_view name) {
  static constexpr std::string_view prefixes[] = {"bpf_",          "__bpf_",         "perf_",
                                                  "__perf_",       "trace_",         "__trace_",
                                                  "__traceiter_",  "__mmap_lock_do_trace", "0x"};
  for (auto p : prefixes)
    if (name.substr(0, p.size()) == p) return true;
  return false;
}

}  // namespace holdscope
