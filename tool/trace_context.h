// The TraceContext of a recording, made around the trace: what is known of the system before it (kernel, page size,
// gfp table, the LRU drain work function, khugepaged's status names), the attach points the tracer chose, and at its
// end what the tracer saw with the symbols that name it.
#pragma once
#include <string>
#include <vector>

#include "analyzers/context.h"
#include "analyzers/symbols.h"
#include "tool/tracer.h"

namespace holdscope {

// Before the trace. command: the traced command, empty for the whole system.
TraceContext system_context(const std::string& tracefs, const SymbolTable& kallsyms,
                            const std::vector<std::string>& command);
// The tracer's options that depend on the context.
TracerOptions tracer_options(const TracerOptions& requested, const TraceContext& ctx, const SymbolTable& kallsyms);
void add_attach_points(TraceContext& ctx, const Tracer& tracer);
// Once the tracer has started: kallsyms as the stacks will need it.
void refresh_kallsyms(const TraceContext& ctx, SymbolTable& kallsyms);
// After the tracer stopped: its counters, stacks, caches and comms, and the symbols its stacks and call sites need,
// so a recording reports the same on another machine.
// Names the memory cgroups of the traced tasks and of the allocations counted under the lock (ctx.cgroups), from this
// machine's cgroup hierarchy; none when it has no memory controller.
void name_cgroups(TraceContext& ctx);
void add_trace_results(TraceContext& ctx, const Tracer& tracer, const SymbolTable& kallsyms);

}  // namespace holdscope
