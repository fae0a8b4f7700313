#include "tool/trace_context.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "tool/cgroup_names.h"
#include "tool/system_info.h"

namespace holdscope {

TraceContext system_context(const std::string& tracefs, const SymbolTable& kallsyms,
                            const std::vector<std::string>& command) {
  TraceContext ctx;
  ctx.kernel = kernel_release();
  ctx.hostname = host_name();
  ctx.page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ctx.gfp = read_gfp_table(tracefs);
  ctx.scope = command.empty() ? "system" : "command";
  ctx.command = command;
  if (const Symbol* s = kallsyms.by_name("lru_add_drain_per_cpu")) ctx.lru_drain_fn = s->addr;

  ctx.collapse_status = read_symbolic_names(tracefs, "huge_memory/mm_collapse_huge_page", "status");
  return ctx;
}

TracerOptions tracer_options(const TracerOptions& requested, const TraceContext& ctx, const SymbolTable& kallsyms) {
  TracerOptions to = requested;
  to.filter_targets = !ctx.command.empty();
  to.lru_drain_fn = ctx.lru_drain_fn;
  to.gfp_direct_reclaim = ctx.gfp.value_of("__GFP_DIRECT_RECLAIM");
  to.kallsyms = &kallsyms;
  return to;
}

void add_attach_points(TraceContext& ctx, const Tracer& tracer) {
  for (const auto& c : tracer.attach_choices()) ctx.attach_points.push_back({c.name, c.mode, c.why, c.functions});
  ctx.fn_slots = tracer.slot_functions();
}

void refresh_kallsyms(const TraceContext& ctx, SymbolTable& kallsyms) {
  // fentry/fexit trampolines appear in kallsyms once attached: read it again, so stacks through them are named.
  if (std::any_of(ctx.attach_points.begin(), ctx.attach_points.end(), [](const auto& p) { return p.mode == AttachMode::direct; }))
    kallsyms = read_kallsyms();
}

void add_trace_results(TraceContext& ctx, const Tracer& tracer, const SymbolTable& kallsyms) {
  ctx.counters = tracer.counters();
  tracer.fill_context(ctx);
  std::vector<uint64_t> addrs(tracer.call_sites().begin(), tracer.call_sites().end());
  for (const auto& a : ctx.alloc_counts)
    if (a.site) addrs.push_back(a.site);
  for (const auto& [id, st] : ctx.stacks) addrs.insert(addrs.end(), st.begin(), st.end());
  ctx.symbols = kallsyms.subset(addrs);
}

void name_cgroups(TraceContext& ctx) {
  std::optional<CgroupNames> names;
  try {
    names.emplace();
  } catch (const ToolError&) {
    return;  // no memory controller mounted: the tasks' cgroup ids are all 0 (memcg.bpf.h)
  }
  auto add = [&](uint64_t id) {
    if (id && !ctx.cgroups.count(id)) ctx.cgroups[id] = names->name(id);
  };
  for (const auto& [tid, tn] : ctx.comms) add(tn.cgroup);
  for (const auto& a : ctx.alloc_counts) add(a.cgroup);
}

}  // namespace holdscope
