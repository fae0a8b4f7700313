#include "tool/scenario.h"

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analyzers/analyze_recording.h"
#include "analyzers/verdicts.h"
#include "tool/commands.h"
#include "tool/output_file.h"
#include "tool/report_exports.h"
#include "tool/scratch_dir.h"
#include "tool/system_info.h"

namespace holdscope {

namespace {

using VerdictFn = Verdict (*)(const nlohmann::json&, const nlohmann::json&, const nlohmann::json&);

struct ScenarioDef {
  const char* name;
  const char* seed;
  const char* invariant;
  const char* workload;
  std::vector<std::string> args, quick_args;
  int numa_nodes;
  VerdictFn verdict;
  bool needs_thp = false;
};

// Empty when transparent huge pages can be used, else why not.
std::string thp_unavailable() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(in, line)) return "no transparent huge pages in this kernel";
  if (line.find("[never]") != std::string::npos) return "transparent huge pages are disabled (enabled=never)";
  return "";
}

const std::vector<ScenarioDef>& scenarios() {
  static const std::vector<ScenarioDef> defs = {
      {"migrate-prep", "000: mm: move migrate_prep out from under mmap_sem",
       "no LRU drain (lru_add_drain_all / lru_cache_disable) is issued while the caller holds mmap_lock",
       "migrate-prep", {"--rounds", "40", "--lockstep"}, {"--rounds", "20", "--lockstep"}, 1, verdict_migrate_prep},
      {"khugepaged-collapse", "001: khugepaged: allocate the huge page before taking mmap_sem for write",
       "the huge page of a collapse (khugepaged or MADV_COLLAPSE) is not allocated while mmap_lock is held for write",
       "khugepaged-collapse", {"--regions", "16", "--timeout", "60"}, {"--regions", "4", "--timeout", "60"}, 1,
       verdict_khugepaged, true},
      {"anon-vma-clone", "002: mm: avoid anon_vma_chain allocation under anon_vma lock",
       "nothing allocated while the anon_vma lock is held may sleep: GFP_NOWAIT first, GFP_KERNEL only after dropping it",
       "anon-vma-clone", {"--limit", "32", "--forks", "300"}, {"--limit", "32", "--forks", "200"}, 1,
       verdict_anon_vma_clone},
      {"mlock-populate", "003: mm: mlock: stop holding mmap_sem for write while faulting in a large region",
       "no mmap_lock write hold spans the population of an mlock()ed region (pages are faulted in under the read lock)",
       "mlock-populate", {"--rounds", "3"}, {"--size", "64", "--rounds", "2"}, 1, verdict_mlock_populate},
      {"mbind-migrate", "004: mempolicy: mmap_lock is not needed while migrating folios (6.7)",
       "no migration target page is allocated while mmap_lock is held (mbind and migrate_pages(2))",
       "mbind-migrate", {"--size", "64", "--rounds", "4"}, {"--size", "16", "--rounds", "2"}, 2, verdict_mbind_migrate},
  };
  return defs;
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

std::map<std::string, int64_t> read_vmstat() {
  std::map<std::string, int64_t> m;
  std::ifstream in("/proc/vmstat");
  std::string k;
  int64_t v;
  while (in >> k >> v) m[k] = v;
  return m;
}

int numa_nodes() {
  int n = 0;
  for (int i = 0; i < 1024; i++)
    if (access(("/sys/devices/system/node/node" + std::to_string(i)).c_str(), F_OK) == 0) n++;
  return n;
}


// html_path: where this scenario's page goes (empty: none).
// One scenario: the path as given; several: "report.html" -> "report-NAME.html", a page each.
std::string page_path(const std::string& path, const std::string& name, size_t scenarios) {
  if (path.empty() || scenarios == 1) return path;
  size_t slash = path.rfind('/'), dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + "-" + name;
  return path.substr(0, dot) + "-" + name + path.substr(dot);
}

nlohmann::json run_one(const ScenarioDef& d, bool quick, const ScratchDir& scratch, int& failures,
                       const std::string& html_path) {
  nlohmann::json out = {{"name", d.name}, {"seed", d.seed}, {"invariant", d.invariant}};
  if (numa_nodes() < d.numa_nodes) {
    out["verdict"] = fmt::format("skipped: needs {} NUMA nodes", d.numa_nodes);
    return out;
  }
  if (std::string why = d.needs_thp ? thp_unavailable() : ""; !why.empty()) {
    out["verdict"] = "skipped: " + why;
    return out;
  }
  std::string workload = self_dir() + "/workloads/" + d.workload;
  if (access(workload.c_str(), X_OK) != 0) throw ToolError("workload " + workload + " is missing (build it first)");
  std::string rec = scratch.file(std::string(d.name) + ".hsr"), stats_path = scratch.file(std::string(d.name) + ".stats");
  RecordOptions ro;
  ro.output = rec;
  ro.quiet = true;
  ro.command = {workload};
  for (const auto& a : quick ? d.quick_args : d.args) ro.command.push_back(a);
  ro.command.push_back("--stats");
  ro.command.push_back(stats_path);
  auto before = read_vmstat();
  run_record(ro, ReportOptions{});
  auto after = read_vmstat();
  nlohmann::json vmstat = nlohmann::json::object();
  for (const auto& [k, v] : after)
    if (before.count(k) && v != before[k]) vmstat[k] = v - before[k];

  AnalyzedForPage analysis = analyze_for_page(rec);
  nlohmann::json report = analysis.page.report;
  int exit_code = analysis.command_exit;
  unlink(rec.c_str());
  nlohmann::json stats = nlohmann::json::object();
  std::ifstream sf(stats_path);
  if (sf) stats = nlohmann::json::parse(sf, nullptr, false);
  unlink(stats_path.c_str());
  if (exit_code != 0) {
    out["verdict"] = fmt::format("failed: the workload exited with status {}", exit_code);
    failures++;
    return out;
  }
  Verdict v = d.verdict(report, vmstat, stats);
  out["verdict"] = v.verdict;
  out["evidence"] = v.evidence;
  if (!html_path.empty()) {
    analysis.page.title = fmt::format("holdscope scenario {} (seed {})", d.name, d.seed);
    analysis.page.verdicts = nlohmann::json::array(
        {{{"name", d.name}, {"invariant", d.invariant}, {"verdict", v.verdict}, {"evidence", v.evidence.dump(2)}}});
    write_output_file(html_path, html_page(analysis.page));
  }
  out["other_sleeping_under_lock"] = other_sleeping_work(report);
  out["kernel"] = report["kernel"];
  out["drops"] = report["drops"];
  out["report"] = std::move(report);  // the whole report, so runs on two kernels can be diffed figure by figure
  return out;
}

void print_one(const nlohmann::json& s) {
  std::cout << fmt::format("scenario {} (seed {})\n", s["name"].get<std::string>(), s["seed"].get<std::string>());
  std::cout << fmt::format("  invariant: {}\n", s["invariant"].get<std::string>());
  std::cout << fmt::format("  verdict:   {}\n", s["verdict"].get<std::string>());
  if (s.contains("evidence")) {
    std::cout << "  evidence:\n";
    for (const auto& [k, v] : s["evidence"].items()) {
      if (k == "violating_stacks" || k == "workload") continue;
      std::cout << fmt::format("    {:<36} {}\n", k, v.dump());
    }
    if (s["evidence"].contains("workload"))
      std::cout << fmt::format("    {:<36} {}\n", "workload figures", s["evidence"]["workload"].dump());
    for (const auto& st : s["evidence"].value("violating_stacks", nlohmann::json::array())) {
      std::cout << fmt::format("    broke it ({}):\n", st["mode"].get<std::string>());
      for (const auto& f : st["stack"]) std::cout << "      " << f.get<std::string>() << "\n";
    }
  }
  if (s.contains("other_sleeping_under_lock")) {
    const auto& o = s["other_sleeping_under_lock"];
    std::cout << fmt::format("  other sleeping work under mmap_lock: may-sleep allocations {} under read, {} under write",
                             o["may_sleep_allocations"]["read"].get<uint64_t>(),
                             o["may_sleep_allocations"]["write"].get<uint64_t>());
    for (const auto& g : o["sleeping"])
      std::cout << fmt::format("; {} under {} x{}", g["kind"].get<std::string>(), g["mode"].get<std::string>(),
                               g["count"].get<uint64_t>());
    std::cout << "\n";
  }
  std::cout << "\n";
}

}  // namespace

std::vector<std::string> scenario_names() {
  std::vector<std::string> n;
  for (const auto& d : scenarios()) n.push_back(d.name);
  return n;
}

int run_scenarios(const ScenarioOptions& o) {
  require_root();
  std::vector<const ScenarioDef*> chosen;
  for (const auto& d : scenarios())
    if (o.which == "all" || o.which == d.name) chosen.push_back(&d);
  if (chosen.empty()) {
    std::string names;
    for (const auto& n : scenario_names()) names += " " + n;
    throw ToolError("no scenario " + o.which + " (known:" + names + ", all)");
  }
  if (!o.json_path.empty()) check_output_target(o.json_path);
  for (const auto* d : chosen)
    if (!o.html_path.empty()) check_output_target(page_path(o.html_path, d->name, chosen.size()));
  ScratchDir scratch("scenario");
  int failures = 0, violations = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const auto* d : chosen) {
    nlohmann::json s = run_one(*d, o.quick, scratch, failures, page_path(o.html_path, d->name, chosen.size()));
    if (s["verdict"] == "violated") violations++;
    print_one(s);
    all.push_back(std::move(s));
  }
  if (!o.json_path.empty()) {
    write_output_file(o.json_path, nlohmann::json{{"scenarios", all}}.dump(2) + "\n");
  }
  if (failures) return 1;
  return o.fail_on_violation && violations ? 2 : 0;
}

}  // namespace holdscope
