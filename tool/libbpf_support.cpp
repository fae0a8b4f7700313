#include "tool/libbpf_support.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <deque>
#include <string>

#include "tool/system_info.h"

namespace holdscope {

namespace {

// libbpf's messages are kept, not printed: on failure the last few explain it; with -v everything is shown.
std::deque<std::string> g_libbpf_log;
bool g_verbose = false;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string msg(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) vsnprintf(msg.data(), msg.size() + 1, fmt, args);
  if (g_verbose) fputs(msg.c_str(), stderr);  // whole: a verifier log is one long message
  if (level != LIBBPF_DEBUG) {
    // A verifier log says why at its end: of a long message, keep the head (which program) and the tail.
    constexpr size_t kHead = 300, kTail = 1200;
    if (msg.size() > kHead + kTail + 32)
      msg = msg.substr(0, kHead) + " [...] " + msg.substr(msg.size() - kTail);
    g_libbpf_log.push_back(std::move(msg));
    if (g_libbpf_log.size() > 8) g_libbpf_log.pop_front();
  }
  return 0;
}

}  // namespace

void install_libbpf_logging(bool verbose) {
  g_verbose = verbose;
  libbpf_set_print(libbpf_print);
}

// One line: errors are printed as a single line, libbpf's own lines joined.
std::string libbpf_last_messages() {
  std::string out;
  for (auto l : g_libbpf_log) {
    while (!l.empty() && (l.back() == '\n' || l.back() == ' ')) l.pop_back();
    for (auto& c : l)
      if (c == '\n') c = ' ';
    if (l.empty()) continue;
    if (!out.empty()) out += " | ";
    out += l;
  }
  return out.empty() ? "no message from libbpf" : out;
}

// libbpf decides whether the kernel supports global data (.rodata, .bss) by loading a socket filter that reads a map
// value. Socket filters exist only with CONFIG_NET, so on a kernel without it libbpf creates no .rodata/.bss maps and
// the load fails later with "fd N is not pointing to valid bpf_map", which names neither cause nor cure.
void require_global_data_support() {
  if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCKET_FILTER, nullptr) == 1) return;
  if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr) != 1) return;  // the load says what is wrong
  throw ToolError("this kernel cannot load socket filter BPF programs (built without CONFIG_NET), which libbpf needs "
                  "to accept holdscope's global data: build it with CONFIG_NET=y");
}

}  // namespace holdscope
