// The lines `record` prints on stderr as it goes (none with --quiet).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "analyzers/context.h"
#include "tool/tracer.h"

namespace holdscope {

class RecordProgress {
 public:
  explicit RecordProgress(bool quiet) : quiet_(quiet) {}
  // What was attached, and how each attach point is observed.
  void attached(const Tracer& tracer) const;
  void tracing_system(double seconds) const;
  // record -p: until the process exits, or for seconds (0: no limit).
  void tracing_process(int pid, double seconds) const;
  // command_exit: the traced command's status, if there was one.
  void recorded(uint64_t events, const std::string& path, const KernelCounters& c, std::optional<int> command_exit) const;

 private:
  bool quiet_;
};

}  // namespace holdscope
