// Frames the tracing machinery adds on top of every stack a BPF program walks (the program itself, the tracepoint's
// dispatch, a trampoline's bare address): they say nothing about who took the lock.
#pragma once
#include <string_view>

namespace holdscope {

bool is_tracing_frame(std::string_view name);

}  // namespace holdscope
