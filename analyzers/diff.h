// Side-by-side comparison of report JSONs (one or more runs per side), in the manner of mmtests' compare-kernels.
//
// Significance: a figure is marked significant when every run of one side lies strictly above every run of the
// other (non-overlapping ranges) and the probability of such complete separation by chance, if all runs came from
// one distribution (exchangeable), is at most 0.05. That probability is 2 / C(nA+nB, nA): 3 vs 3 runs can never reach
// it (0.10), 4 vs 4 can (0.029), one run per side never does.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace holdscope {

struct DiffRow {
  std::string figure;
  std::vector<double> a, b;
  double mean_a = 0, mean_b = 0;
  double change_pct = 0;  // (mean_b - mean_a) / mean_a; +inf when A is 0 and B is not
  bool separated = false; // ranges do not overlap
  double p_separation = 1;
  bool significant = false;
};

struct VerdictChange {
  std::string scenario;
  std::vector<std::string> a, b;  // one verdict per run
  bool changed = false;
};

struct DiffResult {
  std::string kernel_a, kernel_b;
  size_t runs_a = 0, runs_b = 0;
  std::vector<DiffRow> rows;
  std::vector<VerdictChange> verdicts;  // when the inputs are `holdscope scenario --json` outputs
};

// The comparable figures of one report, by stable name ("holds.write.p99_ns", "alloc.page.write.count", ...).
// For a scenario output ({"scenarios": [...]}) each scenario's report figures, numeric evidence and workload figures,
// prefixed "<scenario>:".
std::map<std::string, double> report_figures(const nlohmann::json& report);
DiffResult diff_reports(const std::vector<nlohmann::json>& a, const std::vector<nlohmann::json>& b);
nlohmann::json diff_to_json(const DiffResult& d);
void render_diff(const DiffResult& d, std::ostream& out);

}  // namespace holdscope
