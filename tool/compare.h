// `holdscope compare --kernels A,B [--runs N] scenario NAME|all`: runs a scenario in guests on each kernel, N times,
// and prints `holdscope diff` of the two sets of runs.
#pragma once
#include <string>
#include <vector>

namespace holdscope {

struct CompareOptions {
  std::string kernels;  // "6.1,6.12" or two vmlinuz paths
  int runs = 4;         // 4 per side is the fewest with which the diff's separation test can reach p <= 0.05
  std::string scenario;               // a bundled scenario, or
  std::vector<std::string> command;   // the user's own workload, recorded with `record -- CMD` in each guest
  std::vector<std::string> add;       // files the command needs in the guests (vm --add)
  bool quick = false;
  std::string json_path;
  int timeout_s = 900;
};

int run_compare(const CompareOptions& o);

}  // namespace holdscope
