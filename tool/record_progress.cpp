#include "tool/record_progress.h"

#include <iostream>

namespace holdscope {

void RecordProgress::attached(const Tracer& tracer) const {
  if (quiet_) return;
  size_t on = 0;
  std::string off;
  for (const auto& p : tracer.plan()) {
    if (p.available)
      on++;
    else
      off += " " + p.target + " (" + p.why + ")";
  }
  std::cerr << "holdscope: " << on << " programs attached" << (off.empty() ? "" : "; not attached:") << off << "\n";
  for (const auto& c : tracer.attach_choices())
    std::cerr << "holdscope: " << c.name << ": " << to_string(c.mode) << " (" << c.why << ")\n";
}

void RecordProgress::tracing_system(double seconds) const {
  if (quiet_) return;
  std::cerr << "holdscope: tracing the whole system for " << seconds << " s (Ctrl-C to stop early)\n";
}

void RecordProgress::tracing_process(int pid, double seconds) const {
  if (quiet_) return;
  std::cerr << "holdscope: tracing process " << pid << " until it exits";
  if (seconds > 0) std::cerr << " or for " << seconds << " s";
  std::cerr << " (Ctrl-C to stop early)\n";
}

void RecordProgress::recorded(uint64_t events, const std::string& path, const KernelCounters& c,
                              std::optional<int> command_exit) const {
  if (quiet_) return;
  std::cerr << "holdscope: recorded " << events << " events to " << path << " (drops: ringbuf " << c.ringbuf
            << ", map_full " << c.task_map_full + c.scope_map_full + c.alloc_map_full << ", stack " << c.stack << ")";
  if (command_exit) std::cerr << "; command exited with status " << *command_exit;
  std::cerr << "\n";
}

}  // namespace holdscope
