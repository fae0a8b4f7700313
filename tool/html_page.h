// The HTML report: one self-contained page (summary, hold and wait histograms per mode, flame graphs of hold time
// and of allocations under the lock, longest holds with stacks, who blocked whom, and a scenario's verdicts). Its
// scripts and styles are embedded at build time; the report rides in the page as JSON and web/page.js draws it.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analyzers/folded_stacks.h"
#include "analyzers/latency_histograms.h"

namespace holdscope {

struct HtmlPageInput {
  std::string title;
  nlohmann::json report;  // report_to_json
  std::vector<FoldedLine> folded_holds, folded_allocs;
  LatencyHistograms histograms;
  nlohmann::json verdicts = nlohmann::json::array();  // [{name, pass, evidence}], scenarios only
};

std::string html_page(const HtmlPageInput& in);
// diff --html: the two sides, the significant changes first, every figure, and changed verdicts (diff_to_json).
std::string html_diff_page(const std::string& title, const nlohmann::json& diff);

}  // namespace holdscope
