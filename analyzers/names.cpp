#include "analyzers/names.h"

#include <string_view>

#include "analyzers/tracing_frames.h"

namespace holdscope {

std::vector<std::string> Names::stack(int32_t id) const {
  std::vector<std::string> out;
  if (id < 0) return out;
  auto it = ctx_.stacks.find(id);
  if (it == ctx_.stacks.end()) return out;
  bool leading = true;
  for (uint64_t a : it->second) {
    std::string s = ctx_.symbols.resolve(a);
    if (leading && is_tracing_frame(s)) continue;
    leading = false;
    out.push_back(std::move(s));
  }
  return out;
}

// The system call a kernel stack was entered by: __x64_sys_mbind / __do_sys_mbind -> "mbind"; where the syscall
// stub tail-called its worker (x86 __x64_sys_mbind -> kernel_mbind), the kernel_/ksys_ frame names it.
std::string Names::syscall(int32_t stack_id) const {
  auto frames = stack(stack_id);
  for (const auto& prefixes : {std::vector<std::string_view>{"__x64_sys_", "__do_sys_", "__se_sys_", "__ia32_sys_"},
                               std::vector<std::string_view>{"kernel_", "ksys_"}}) {
    for (const auto& f : frames) {
      for (std::string_view p : prefixes) {
        if (f.compare(0, p.size(), p) != 0) continue;
        std::string name = f.substr(p.size());
        return name.substr(0, name.find('+'));
      }
    }
  }
  return "?";
}

std::string Names::comm(uint32_t tid) const {
  auto it = ctx_.comms.find(tid);
  return it == ctx_.comms.end() ? std::string() : it->second.comm;
}

}  // namespace holdscope
