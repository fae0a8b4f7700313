// `holdscope doctor`: what this kernel offers holdscope, and the mode each attach point would run in.
#pragma once
#include <string>

namespace holdscope {

// Prints the diagnosis (and writes JSON when json_path is set). Returns 0 when holdscope can do its job in some mode.
int run_doctor(const std::string& json_path);

}  // namespace holdscope
