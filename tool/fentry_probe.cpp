#include "tool/fentry_probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tool/unique_fd.h"

namespace holdscope {

FentryProbe probe_fentry(const struct btf* vmlinux, const std::string& function, const std::string& kallsyms_name) {
  FentryProbe p;
  p.function = function;
  p.symbol = kallsyms_name;
  int id = vmlinux ? btf__find_by_name_kind(vmlinux, function.c_str(), BTF_KIND_FUNC) : -1;
  p.in_btf = id > 0;
  if (!p.in_btf) {
    p.why = kallsyms_name.empty() ? "not in this kernel" : "no BTF for it (inlined or renamed to " + kallsyms_name + ")";
    return p;
  }
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY, .attach_btf_id = (__u32)id);
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_TRACING, "hs_probe", "GPL", insns, 2, &opts));
  if (!prog.valid()) {
    int e = errno;
    p.why = std::string("fentry program does not load: ") + strerror(e);
    if (e == EPERM) p.why += " (kernel lockdown or missing CAP_BPF/CAP_PERFMON)";
    if (e == ENOENT || e == ESRCH) p.why += " (the kernel cannot resolve its address)";
    return p;
  }
  UniqueFd link(bpf_link_create(prog.get(), 0, BPF_TRACE_FENTRY, nullptr));
  if (!link.valid())
    p.why = std::string("fentry does not attach: ") + strerror(errno);
  else
    p.attachable = true;
  return p;
}

}  // namespace holdscope
