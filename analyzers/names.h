// Names of raw values over a TraceContext: a stack id's frames, the system call a stack entered the kernel by, a
// tid's comm. Every report section that prints a stack or a task asks here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analyzers/context.h"
#include "analyzers/report.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

class Names {
 public:
  explicit Names(const TraceContext& ctx) : ctx_(ctx) {}
  // The frames of a stack, without the tracing machinery's on top; empty for no stack (-1) or an unknown id.
  std::vector<std::string> stack(int32_t id) const;
  // "mbind", "migrate_pages", ...; "?" where the stack names none.
  std::string syscall(int32_t stack_id) const;
  std::string comm(uint32_t tid) const;
  // The task of an event, holding or wanting the lock in this mode.
  TaskRef task(const hs_event& e, bool write) const { return TaskRef{e.pid, e.tgid, comm(e.pid), write}; }
  // A timestamp relative to the trace's start.
  uint64_t since_start(uint64_t ts) const { return ts >= ctx_.start_ns ? ts - ctx_.start_ns : 0; }

 private:
  const TraceContext& ctx_;
};

}  // namespace holdscope
