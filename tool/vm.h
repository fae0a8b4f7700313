// `holdscope vm` and `holdscope kernels fetch`: run holdscope inside a QEMU guest on another kernel and bring its
// output files back. The boot mechanics live in scripts/vm-run.sh and scripts/fetch-kernels.sh (also used by the test
// suite); this is the user-facing interface over them.
#pragma once
#include <string>
#include <vector>

namespace holdscope {

struct VmOptions {
  std::string kernel;  // a vmlinuz path, or "6.1" / "6.12" from the kernel cache
  int numa = 1;
  std::string mem = "2G";
  int cpus = 2;
  int timeout_s = 900;
  std::vector<std::string> args;  // holdscope's arguments inside the guest
};

int run_vm(const VmOptions& o);
int run_kernels_fetch(const std::vector<std::string>& series);
// "2G", "512M", "1536" (MiB) -> MiB; throws ToolError on anything else.
int parse_mem_mib(const std::string& s);
// Rewrites file arguments (--json F, -o F, --output F) to /out/<name> in the guest; returns guest name -> host path.
std::vector<std::pair<std::string, std::string>> map_output_files(std::vector<std::string>& args);

}  // namespace holdscope
