// What every BPF object holdscope loads needs around libbpf: its messages kept for one-line errors (all of them
// printed with -v), and the check that the kernel can take global data.
#pragma once
#include <string>

namespace holdscope {

void install_libbpf_logging(bool verbose);
// libbpf's last messages, joined into one line.
std::string libbpf_last_messages();
// Throws ToolError naming CONFIG_NET when the kernel cannot load an object with global data (.rodata, .bss).
void require_global_data_support();

}  // namespace holdscope
