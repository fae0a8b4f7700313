// What the tool reads from the running system: tracefs, kallsyms, the gfp table, the kernel release. Each failure is
// a one-line std::runtime_error that main() prints as is.
#pragma once
#include <map>
#include <string>

#include "analyzers/gfp.h"
#include "analyzers/symbols.h"

namespace holdscope {

struct ToolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// $HOLDSCOPE_TRACEFS, else /sys/kernel/tracing (mounted if needed), else /sys/kernel/debug/tracing.
std::string tracefs_root();
bool tracepoint_exists(const std::string& tracefs, const std::string& category, const std::string& name);
// $HOLDSCOPE_BTF, else /sys/kernel/btf/vmlinux; throws when absent.
std::string vmlinux_btf_path();
GfpTable read_gfp_table(const std::string& tracefs);
SymbolTable read_kallsyms();
// The value names of a __print_symbolic() field in an event's print format (empty when there is none).
std::map<int64_t, std::string> read_symbolic_names(const std::string& tracefs, const std::string& event,
                                                   const std::string& field);
std::string kernel_release();
std::string host_name();
uint64_t monotonic_ns();
void require_root();

}  // namespace holdscope
