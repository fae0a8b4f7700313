#include "tool/compare.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analyzers/diff.h"
#include "tool/output_file.h"
#include "tool/scratch_dir.h"
#include "tool/system_info.h"
#include "tool/vm.h"

namespace holdscope {

int run_compare(const CompareOptions& o) {
  auto comma = o.kernels.find(',');
  if (comma == std::string::npos || o.kernels.find(',', comma + 1) != std::string::npos)
    throw ToolError("--kernels takes two kernels, e.g. 6.1,6.12");
  if (o.runs < 1) throw ToolError("--runs must be at least 1");
  std::string kernels[2] = {o.kernels.substr(0, comma), o.kernels.substr(comma + 1)};
  std::vector<nlohmann::json> sides[2];
  ScratchDir scratch("compare");
  for (int k = 0; k < 2; k++) {
    for (int run = 1; run <= o.runs; run++) {
      std::string out = scratch.file(std::to_string(k) + "-" + std::to_string(run) + ".json");
      std::cerr << "holdscope compare: " << kernels[k] << ", run " << run << " of " << o.runs << "\n";
      VmOptions vm;
      vm.kernel = kernels[k];
      vm.numa = 2;
      vm.timeout_s = o.timeout_s;
      vm.add = o.add;
      if (o.command.empty()) {
        vm.args = {"scenario", o.scenario, "--json", out};
        if (o.quick) vm.args.push_back("--quick");
      } else {
        // Only the report is compared: the recording stays in the guest, at record's default path there.
        vm.args = {"record", "--quiet", "--json", out, "--"};
        vm.args.insert(vm.args.end(), o.command.begin(), o.command.end());
      }
      int rc = run_vm(vm);
      std::ifstream in(out);
      if (rc != 0 || !in)
        throw ToolError(std::string(o.command.empty() ? "scenario" : "record") + " run " + std::to_string(run) + " on " +
                        kernels[k] + " failed (exit " + std::to_string(rc) + ")");
      nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded()) throw ToolError("run " + std::to_string(run) + " on " + kernels[k] + " returned no valid report");
      sides[k].push_back(std::move(j));
    }
  }
  DiffResult d = diff_reports(sides[0], sides[1]);
  std::cout << "\n";
  render_diff(d, std::cout);
  if (!o.json_path.empty()) {
    write_output_file(o.json_path, diff_to_json(d).dump(2) + "\n");
  }
  return 0;
}

}  // namespace holdscope
