// The raw tracepoint programs read their arguments by position, so the loader checks the positions against the
// kernel's own description of each tracepoint (BTF typedef btf_trace_<name>: a pointer to a function whose first
// parameter is the tracepoint's private data, then its arguments).
#include <bpf/btf.h>

#include "tool/probes.h"

namespace holdscope {

RawArgs check_raw_args(const struct btf* vmlinux, const TracepointSpec& tp) {
  RawArgs r;
  if (tp.raw_args == 0 || !vmlinux) return r;  // a classic tracepoint, or no BTF to check against (load will tell)
  std::string name = std::string(tp.category) + ":" + tp.name;
  int id = btf__find_by_name_kind(vmlinux, (std::string("btf_trace_") + tp.name).c_str(), BTF_KIND_TYPEDEF);
  const struct btf_type* t = id > 0 ? btf__type_by_id(vmlinux, id) : nullptr;
  if (t) t = btf__type_by_id(vmlinux, t->type);
  if (t && btf_is_ptr(t)) t = btf__type_by_id(vmlinux, t->type);
  if (!t || !btf_is_func_proto(t)) {
    r.ok = false;
    r.why = "the kernel's BTF does not describe the arguments of " + name;
    return r;
  }
  int args = btf_vlen(t) - 1;
  if (args == tp.raw_args) return r;
  if (tp.memcg_path_variant && args == tp.raw_args + 1) {
    r.memcg_path = true;
    return r;
  }
  r.ok = false;
  r.why = name + " passes " + std::to_string(args) + " arguments here, holdscope reads " + std::to_string(tp.raw_args) +
          (tp.memcg_path_variant ? " or " + std::to_string(tp.raw_args + 1) : "") + ": unknown kernel";
  return r;
}

}  // namespace holdscope
