#include "analyzers/diff.h"

#include <fmt/format.h>

#include "analyzers/attach_points.h"
#include "analyzers/untrusted_text.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

namespace holdscope {

namespace {

// A member of an object, or an empty object when there is none: a report read from a file may lack any key, and
// reading a missing key of a const json is undefined behaviour.
const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() ? kEmpty : *it;
}

double binomial(size_t n, size_t k) {
  double r = 1;
  for (size_t i = 1; i <= k; i++) r = r * double(n - k + i) / double(i);
  return r;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

void add_summary(std::map<std::string, double>& f, const std::string& prefix, const nlohmann::json& s) {
  for (const char* k : {"count", "p50_ns", "p90_ns", "p99_ns", "max_ns", "total_ns"})
    if (member(s, k).is_number()) f[prefix + "." + k] = member(s, k).get<double>();
}

}  // namespace

static std::map<std::string, double> single_report_figures(const nlohmann::json& r);

std::map<std::string, double> report_figures(const nlohmann::json& r) {
  if (!r.contains("scenarios")) return single_report_figures(r);
  std::map<std::string, double> f;
  for (const auto& s : member(r, "scenarios")) {
    std::string name = s.value("name", "?") + ":";
    if (s.contains("report"))
      for (const auto& [k, v] : single_report_figures(member(s, "report"))) f[name + k] = v;
    const nlohmann::json ev = s.value("evidence", nlohmann::json::object());
    for (const auto& [k, v] : ev.items())
      if (v.is_number()) f[name + "evidence." + k] = v.get<double>();
    if (ev.contains("workload"))
      for (const auto& [k, v] : member(ev, "workload").items())
        if (v.is_number()) f[name + "workload." + k] = v.get<double>();
  }
  return f;
}

static std::map<std::string, double> single_report_figures(const nlohmann::json& r) {
  std::map<std::string, double> f;
  for (const char* what : {"holds", "waits"})
    for (const char* mode : {"read", "write"})
      if (r.contains(what) && member(r, what).contains(mode)) add_summary(f, std::string(what) + "." + mode, member(member(r, what), mode));
  // Allocations and sleeping work summed by kind and mode: stacks differ between kernels, these totals do not.
  for (const char* kind : {"page", "slab"})
    for (const char* mode : {"read", "write"})
      for (const char* k : {"count", "bytes"}) f[fmt::format("alloc.{}.{}.{}", kind, mode, k)] = 0;
  for (const char* mode : {"read", "write"}) f[fmt::format("alloc.may_sleep.{}.count", mode)] = 0;
  for (const auto& a : r.value("allocations_under_lock", nlohmann::json::array())) {
    std::string kind = a.value("kind", ""), mode = a.value("mode", "");
    f[fmt::format("alloc.{}.{}.count", kind, mode)] += a.value("count", 0.0);
    f[fmt::format("alloc.{}.{}.bytes", kind, mode)] += a.value("bytes", 0.0);
    if (a.value("may_sleep", false)) f[fmt::format("alloc.may_sleep.{}.count", mode)] += a.value("count", 0.0);
  }
  for (const auto& s : r.value("sleeping_under_lock", nlohmann::json::array())) {
    std::string key = fmt::format("sleep.{}.{}", s.value("kind", ""), s.value("mode", ""));
    f[key + ".count"] += s.value("count", 0.0);
    f[key + ".total_ns"] += s.value("total_ns", 0.0);
  }
  if (r.contains("lru_drains"))
    for (int i = 0; i < kLockModes; i++)
      f[fmt::format("lru_drain.calls.{}", lock_mode_name(i))] = member(member(r, "lru_drains"), "calls").value(lock_mode_name(i), 0.0);
  if (r.contains("anon_vma_clone"))
    for (const char* k : {"nowait_attempts", "nowait_failures", "gfp_kernel_retries", "may_sleep_under_anon_vma_lock"})
      f[std::string("anon_vma_clone.") + k] = member(r, "anon_vma_clone").value(k, 0.0);
  for (const auto& p : r.value("attach_points", nlohmann::json::array())) {
    std::string name = "attach." + p.value("name", "?");
    if (p.contains("calls") && p["calls"].is_number()) f[name + ".calls"] = p["calls"].get<double>();
    for (const auto& fn : p.value("functions", nlohmann::json::array()))
      add_summary(f, name + "." + fn.value("name", "?") + ".time_inside", member(fn, "time_inside"));
  }
  if (r.contains("khugepaged")) {
    for (const char* k : {"attempted", "succeeded", "blocked_waits"}) f[std::string("khugepaged.") + k] = 0;
    for (int i = 0; i < kLockModes; i++) f[fmt::format("khugepaged.alloc_under.{}", lock_mode_name(i))] = 0;
    for (const auto& m : member(r, "khugepaged").value("mms", nlohmann::json::array())) {
      for (const char* k : {"attempted", "succeeded", "blocked_waits"}) f[std::string("khugepaged.") + k] += m.value(k, 0.0);
      for (int i = 0; i < kLockModes; i++)
        f[fmt::format("khugepaged.alloc_under.{}", lock_mode_name(i))] +=
            member(m, "huge_page_allocated_under").value(lock_mode_name(i), 0.0);
      f["khugepaged.write_hold.max_ns"] = std::max(f["khugepaged.write_hold.max_ns"], member(m, "write_hold").value("max_ns", 0.0));
    }
  }
  const nlohmann::json by_lock = r.contains("slow_path") ? member(r, "slow_path").value("by_lock", nlohmann::json::object())
                                                        : nlohmann::json::object();
  for (const auto& [mode, b] : by_lock.items())
    for (const char* k : {"entries", "reclaim_ns", "compaction_ns"})
      f[fmt::format("slow_path.{}.{}", mode, k)] = b.value(k, 0.0);
  if (r.contains("drops"))
    for (const auto& [k, v] : member(r, "drops").items())
      if (v.is_number()) f["drops." + k] = v.get<double>();
  return f;
}

DiffResult diff_reports(const std::vector<nlohmann::json>& a, const std::vector<nlohmann::json>& b) {
  DiffResult d;
  d.runs_a = a.size();
  d.runs_b = b.size();
  auto kernel_of = [](const nlohmann::json& r) -> std::string {
    if (r.contains("kernel")) return r.value("kernel", "");
    const auto& s = r.value("scenarios", nlohmann::json::array());
    return s.empty() ? "" : s[0].value("kernel", "");
  };
  // Reports come from files: every name in them is untrusted text.
  if (!a.empty()) d.kernel_a = escape_untrusted(kernel_of(a[0]));
  if (!b.empty()) d.kernel_b = escape_untrusted(kernel_of(b[0]));
  std::vector<std::map<std::string, double>> fa, fb;
  std::set<std::string> names;
  auto verdicts_of = [](const nlohmann::json& r, std::map<std::string, std::vector<std::string>>& out) {
    for (const auto& s : r.value("scenarios", nlohmann::json::array()))
      out[escape_untrusted(s.value("name", "?"))].push_back(escape_untrusted(s.value("verdict", "?")));
  };
  std::map<std::string, std::vector<std::string>> va, vb;
  for (const auto& r : a) verdicts_of(r, va);
  for (const auto& r : b) verdicts_of(r, vb);
  std::set<std::string> scen;
  for (const auto& [k, v] : va) scen.insert(k);
  for (const auto& [k, v] : vb) scen.insert(k);
  for (const auto& name : scen) {
    VerdictChange c{name, va[name], vb[name], false};
    std::set<std::string> sa(c.a.begin(), c.a.end()), sb(c.b.begin(), c.b.end());
    c.changed = sa != sb;
    d.verdicts.push_back(std::move(c));
  }
  for (const auto& r : a) {
    fa.push_back(report_figures(r));
    for (const auto& [k, v] : fa.back()) names.insert(k);
  }
  for (const auto& r : b) {
    fb.push_back(report_figures(r));
    for (const auto& [k, v] : fb.back()) names.insert(k);
  }
  double p_sep = (a.empty() || b.empty()) ? 1 : std::min(1.0, 2.0 / binomial(a.size() + b.size(), a.size()));
  for (const auto& name : names) {
    DiffRow row;
    row.figure = escape_untrusted(name);
    for (const auto& f : fa) row.a.push_back(f.count(name) ? f.at(name) : 0);
    for (const auto& f : fb) row.b.push_back(f.count(name) ? f.at(name) : 0);
    row.mean_a = mean(row.a);
    row.mean_b = mean(row.b);
    if (row.mean_a != 0)
      row.change_pct = (row.mean_b - row.mean_a) / row.mean_a * 100;
    else
      row.change_pct = row.mean_b == 0 ? 0 : std::numeric_limits<double>::infinity();
    auto [amin, amax] = std::minmax_element(row.a.begin(), row.a.end());
    auto [bmin, bmax] = std::minmax_element(row.b.begin(), row.b.end());
    row.separated = !row.a.empty() && !row.b.empty() && (*amax < *bmin || *bmax < *amin);
    row.p_separation = p_sep;
    row.significant = row.separated && p_sep <= 0.05;
    d.rows.push_back(std::move(row));
  }
  return d;
}

nlohmann::json diff_to_json(const DiffResult& d) {
  nlohmann::json j = {{"kernel_a", d.kernel_a}, {"kernel_b", d.kernel_b}, {"runs_a", d.runs_a}, {"runs_b", d.runs_b},
                      {"method", "non-overlapping ranges; p = 2/C(nA+nB,nA) under exchangeable runs; significant if p <= 0.05"}};
  auto& vs = j["verdicts"] = nlohmann::json::array();
  for (const auto& v : d.verdicts) vs.push_back({{"scenario", v.scenario}, {"a", v.a}, {"b", v.b}, {"changed", v.changed}});
  auto& rows = j["figures"] = nlohmann::json::array();
  for (const auto& r : d.rows) {
    nlohmann::json change = std::isinf(r.change_pct) ? nlohmann::json(nullptr) : nlohmann::json(r.change_pct);
    rows.push_back({{"figure", r.figure}, {"a", r.a}, {"b", r.b}, {"mean_a", r.mean_a}, {"mean_b", r.mean_b},
                    {"change_pct", change}, {"separated", r.separated}, {"p_separation", r.p_separation},
                    {"significant", r.significant}});
  }
  return j;
}

void render_diff(const DiffResult& d, std::ostream& out) {
  out << fmt::format("A: {} ({} run{})   B: {} ({} run{})\n", d.kernel_a, d.runs_a, d.runs_a == 1 ? "" : "s", d.kernel_b,
                     d.runs_b, d.runs_b == 1 ? "" : "s");
  out << "significance: * = ranges do not overlap and p = 2/C(nA+nB,nA) <= 0.05 (exchangeable runs)\n\n";
  for (const auto& v : d.verdicts) {
    auto join = [](const std::vector<std::string>& x) {
      std::string s;
      for (const auto& e : x) s += (s.empty() ? "" : ", ") + e;
      return s;
    };
    out << fmt::format("  verdict {:<24} A: {:<20} B: {:<20}{}\n", v.scenario, join(v.a), join(v.b),
                       v.changed ? "  CHANGED" : "");
  }
  if (!d.verdicts.empty()) out << "\n";
  size_t w = 6;
  for (const auto& r : d.rows) w = std::max(w, r.figure.size());
  out << fmt::format("  {:<{}} {:>16} {:>16} {:>9}\n", "figure", w, "A", "B", "change");
  for (const auto& r : d.rows) {
    if (r.mean_a == 0 && r.mean_b == 0) continue;
    std::string change = std::isinf(r.change_pct) ? "new" : fmt::format("{:+.1f}%", r.change_pct);
    out << fmt::format("  {:<{}} {:>16.0f} {:>16.0f} {:>9} {}\n", r.figure, w, r.mean_a, r.mean_b, change,
                       r.significant ? "*" : "");
  }
}

}  // namespace holdscope
