// `holdscope vm` and `holdscope kernels fetch`: run holdscope inside a QEMU guest on another kernel and bring its
// output files back. The boot mechanics live in scripts/vm-run.sh and scripts/fetch-kernels.sh (also used by the test
// suite); this is the user-facing interface over them.
#pragma once
#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace holdscope {

struct VmOptions {
  std::string kernel;  // a vmlinuz path, or "6.1" / "6.12" from the kernel cache
  int numa = 1;
  std::string mem = "2G";
  int cpus = 2;
  int timeout_s = 900;
  std::vector<std::string> add;   // more files for the guest, at the same paths
  std::string append;             // more kernel command-line parameters
  std::vector<std::string> args;  // holdscope's arguments inside the guest
};

// A kernel for the guest: "6.1", "6.12", a name built by `kernels build`, or a vmlinuz path, each optionally
// followed by "@PARAMS" for its command line (a built kernel's own --cmdline comes first).
struct ResolvedKernel {
  std::string image;
  std::string cmdline;
};
ResolvedKernel resolve_kernel(const std::string& spec);

struct KernelBuildOptions {
  std::string name;
  std::vector<std::string> patches;
  std::string config;   // a config fragment on top of kernels/config/holdscope.config
  std::string cmdline;  // always added to this kernel's command line
};

int run_vm(const VmOptions& o);
int run_kernels_build(const KernelBuildOptions& o);
int run_kernels_fetch(const std::vector<std::string>& series);
// "2G", "512M", "1536" (MiB) -> MiB; throws ToolError on anything else.
int parse_mem_mib(const std::string& s);
// The options of holdscope's commands whose value is a file the command writes.
inline constexpr std::array<std::string_view, 7> kOutputFileOptions = {
    "-o", "--output", "--json", "--html", "--perfetto", "--folded-holds", "--folded-allocs"};
// Rewrites their values (OPTION FILE or OPTION=FILE) to /out/<name> in the guest, from where the guest sends the
// files back; returns guest name -> host path.
std::vector<std::pair<std::string, std::string>> map_output_files(std::vector<std::string>& args);

// Takes the guest console line by line and writes back the files it carries (HOLDSCOPE-FILE-BEGIN NAME, base64,
// HOLDSCOPE-FILE-END). The guest only names a file: a name the user did not ask for is ignored, and a file is
// written only where the user said, whatever the guest sends.
class GuestFileReceiver {
 public:
  explicit GuestFileReceiver(const std::vector<std::pair<std::string, std::string>>& files);
  // True when the line belonged to a file (and must not be shown as console output).
  bool feed(const std::string& line);

 private:
  std::map<std::string, std::string> host_of_;
  std::string current_, body_;
  bool in_file_ = false;
};

}  // namespace holdscope
