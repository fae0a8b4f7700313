#include "tool/system_info.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>

namespace holdscope {

static bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string tracefs_root() {
  if (const char* env = getenv("HOLDSCOPE_TRACEFS")) {
    if (!is_dir(std::string(env) + "/events"))
      throw ToolError(std::string("no tracefs at ") + env + " (HOLDSCOPE_TRACEFS): cannot find tracepoints");
    return env;
  }
  const std::string main = "/sys/kernel/tracing";
  if (is_dir(main + "/events")) return main;
  if (is_dir(main) && mount("nodev", main.c_str(), "tracefs", 0, nullptr) == 0 && is_dir(main + "/events")) return main;
  const std::string legacy = "/sys/kernel/debug/tracing";
  if (is_dir(legacy + "/events")) return legacy;
  throw ToolError("tracefs is not mounted and could not be mounted at " + main +
                  " (try: mount -t tracefs nodev /sys/kernel/tracing)");
}

bool tracepoint_exists(const std::string& tracefs, const std::string& category, const std::string& name) {
  return is_dir(tracefs + "/events/" + category + "/" + name);
}

std::string vmlinux_btf_path() {
  const char* env = getenv("HOLDSCOPE_BTF");
  std::string p = env ? env : "/sys/kernel/btf/vmlinux";
  if (access(p.c_str(), R_OK) != 0)
    throw ToolError("kernel BTF not found at " + p + " (needs CONFIG_DEBUG_INFO_BTF=y): CO-RE programs cannot load");
  return p;
}

GfpTable read_gfp_table(const std::string& tracefs) {
  std::ifstream in(tracefs + "/events/kmem/mm_page_alloc/format");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("print fmt:", 0) == 0) return GfpTable::from_print_fmt(line);
  throw ToolError("cannot read the gfp flag table from " + tracefs + "/events/kmem/mm_page_alloc/format");
}

std::map<int64_t, std::string> read_symbolic_names(const std::string& tracefs, const std::string& event,
                                                   const std::string& field) {
  std::map<int64_t, std::string> out;
  std::ifstream in(tracefs + "/events/" + event + "/format");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("print fmt:", 0) != 0) continue;
    auto at = line.find("__print_symbolic(REC->" + field);
    if (at == std::string::npos) break;
    static const std::regex pair(R"re(\{\s*(-?\d+)\s*,\s*"([^"]*)"\s*\})re");
    for (std::sregex_iterator it(line.begin() + at, line.end(), pair), end; it != end; ++it)
      out[std::stoll((*it)[1])] = (*it)[2];
  }
  return out;
}

SymbolTable read_kallsyms() {
  std::ifstream in("/proc/kallsyms");
  if (!in) throw ToolError("cannot read /proc/kallsyms");
  SymbolTable t = SymbolTable::from_kallsyms(in);
  if (t.empty()) throw ToolError("/proc/kallsyms shows no addresses (kptr_restrict?): stacks cannot be symbolized");
  return t;
}

std::string kernel_release() {
  struct utsname u;
  uname(&u);
  return u.release;
}

std::string host_name() {
  struct utsname u;
  uname(&u);
  return u.nodename;
}

uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

void require_root() {
  if (geteuid() != 0)
    throw ToolError("must run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN");
}

}  // namespace holdscope
