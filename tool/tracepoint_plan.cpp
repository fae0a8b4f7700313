// Which of a BPF object's tracepoint programs load on this kernel, shared by the recording's object and the
// monitor's: both attach to the same tracepoints with the same argument layouts.
#include <bpf/libbpf.h>

#include "tool/probes.h"
#include "tool/system_info.h"

namespace holdscope {

namespace {

// The one program that needs lru_add_drain_per_cpu's address to tell LRU drains from other queued work.
constexpr std::string_view kLruDrainTracepoint = "workqueue_queue_work";
// The mmap_lock tracepoints changed together (6.14 dropped memcg_path from all three).
constexpr int kMmapLockTracepoints = 3;

struct bpf_program* program_named(struct bpf_object* obj, const std::string& name) {
  struct bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
  if (!p) throw ToolError("BPF object lacks program " + name);
  return p;
}

}  // namespace

std::vector<ProbePlan> plan_tracepoints(struct bpf_object* obj, const struct btf* vmlinux,
                                        std::span<const TracepointSpec> specs, bool lru_drain_known,
                                        const std::string& purpose) {
  std::string tracefs = tracefs_root();
  std::vector<ProbePlan> plan;
  int memcg_path_votes = 0;
  for (const auto& p : specs) {
    ProbePlan pl{p.program, std::string(p.category) + ":" + p.name, p.how, p.required, false, {}};
    pl.available = tracepoint_exists(tracefs, p.category, p.name);
    if (!pl.available) {
      pl.why = "tracepoint not in this kernel";
      if (p.required) throw ToolError("this kernel has no tracepoint " + pl.target + ": holdscope cannot " + purpose);
    } else if (RawArgs args = check_raw_args(vmlinux, p); !args.ok) {
      pl.available = false;
      pl.why = args.why;
      if (p.required) throw ToolError(args.why);
    } else if (p.memcg_path_variant) {
      memcg_path_votes += args.memcg_path;
      // Each mmap_lock program comes in two argument layouts; the other one stays unloaded.
      std::string unused = args.memcg_path ? p.program : std::string(p.program) + "_memcg";
      if (args.memcg_path) pl.program += "_memcg";
      bpf_program__set_autoload(program_named(obj, unused), false);
    }
    if (!lru_drain_known && p.name == kLruDrainTracepoint) {
      pl.available = false;
      pl.why = "lru_add_drain_per_cpu not found in /proc/kallsyms";
    }
    bpf_program__set_autoload(program_named(obj, pl.program), pl.available);
    plan.push_back(std::move(pl));
  }
  if (memcg_path_votes != 0 && memcg_path_votes != kMmapLockTracepoints)
    throw ToolError("the mmap_lock tracepoints disagree on their memcg_path argument: unknown kernel");
  return plan;
}

}  // namespace holdscope
