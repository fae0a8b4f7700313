// `holdscope scenario NAME|all`: run a bundled workload under tracing and judge its seed patch's invariant.
#pragma once
#include <string>
#include <vector>

namespace holdscope {

struct ScenarioOptions {
  std::string which;  // a scenario name or "all"
  std::string json_path;
  std::string html_path;  // a page per scenario (NAME inserted before the extension when several run)
  bool fail_on_violation = false;
  bool quick = false;  // CI sizes
};

std::vector<std::string> scenario_names();
// 0 unless a scenario failed to run for an unexpected reason (1), or --fail-on-violation and one was violated (2).
int run_scenarios(const ScenarioOptions& o);

}  // namespace holdscope
