// Whether fentry can attach to a kernel function here: loads and attaches a two-instruction tracing program, as
// libbpf-tools' fentry_can_attach does, so lockdown, missing BTF or an unresolvable address all show as they are.
#pragma once
#include <string>

struct btf;

namespace holdscope {

struct FentryProbe {
  std::string function;
  bool in_btf = false;
  std::string symbol;  // the kallsyms name, which may carry a .constprop/.isra suffix; empty when absent
  bool attachable = false;
  std::string why;     // when not attachable
};

FentryProbe probe_fentry(const struct btf* vmlinux, const std::string& function, const std::string& kallsyms_name);

}  // namespace holdscope
