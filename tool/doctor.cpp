#include "tool/doctor.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "tool/attach_plan.h"
#include "tool/fentry_probe.h"
#include "tool/output_file.h"
#include "tool/probes.h"
#include "tool/system_info.h"
#include "tool/tracer.h"

namespace holdscope {

namespace {

std::string lockdown_state() {
  const char* path = "/sys/kernel/security/lockdown";
  if (access(path, R_OK) != 0) mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return "unknown (no /sys/kernel/security/lockdown)";
  auto a = line.find('['), b = line.find(']');
  return a != std::string::npos && b != std::string::npos ? line.substr(a + 1, b - a - 1) : line;
}

void mute_libbpf() {
  libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
}

}  // namespace

int run_doctor(const std::string& json_path) {
  mute_libbpf();
  nlohmann::json j;
  std::vector<std::string> missing;
  struct utsname u;
  uname(&u);
  j["kernel"] = u.release;
  j["arch"] = u.machine;
  bool root = geteuid() == 0;
  j["root"] = root;
  if (!root) missing.push_back("root (BPF needs CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)");
  j["lockdown"] = lockdown_state();

  std::string btf_path;
  try {
    btf_path = vmlinux_btf_path();
  } catch (const ToolError& e) {
    missing.push_back("kernel BTF");
  }
  j["btf"] = {{"path", btf_path}, {"present", !btf_path.empty()}};
  struct btf* vmlinux = btf_path.empty() ? nullptr : btf__parse(btf_path.c_str(), nullptr);

  std::string tracefs;
  try {
    tracefs = tracefs_root();
  } catch (const ToolError& e) {
    missing.push_back("tracefs");
  }
  j["tracefs"] = tracefs;

  auto tp_available = [&](const std::string& cat, const std::string& name) {
    return !tracefs.empty() && tracepoint_exists(tracefs, cat, name);
  };
  auto& tps = j["tracepoints"] = nlohmann::json::array();
  for (const auto& t : kTracepoints) {
    bool ok = tp_available(t.category, t.name);
    RawArgs args = ok ? check_raw_args(vmlinux, t) : RawArgs{};
    ok = ok && args.ok;
    tps.push_back({{"name", std::string(t.category) + ":" + t.name}, {"attach", t.how}, {"required", t.required},
                   {"available", ok}});
    if (!args.ok) tps.back()["why"] = args.why;
    if (!ok && t.required) missing.push_back(std::string("tracepoint ") + t.category + ":" + t.name);
  }

  SymbolTable syms;
  try {
    syms = read_kallsyms();
  } catch (const ToolError&) {
  }
  auto& aps = j["attach_points"] = nlohmann::json::array();
  ModeRequests auto_all;  // empty: every point auto
  for (const auto& c : plan_attach_points(vmlinux, syms, tracefs, auto_all, root)) {
    nlohmann::json a = {{"name", c.name}, {"mode", to_string(c.mode)}, {"why", c.why}, {"functions", nlohmann::json::array()},
                        {"inferred_tracepoints", nlohmann::json::array()}};
    for (const auto& p : c.probes)
      a["functions"].push_back({{"name", p.function}, {"btf", p.in_btf}, {"symbol", p.symbol}, {"fentry", p.attachable},
                                {"why", p.why}});
    for (const auto& [t, ok] : c.tracepoints) a["inferred_tracepoints"].push_back({{"name", t}, {"available", ok}});
    aps.push_back(std::move(a));
  }
  if (vmlinux) btf__free(vmlinux);

  // The probes above can all pass while the object itself does not load (a verifier or map difference on a
  // kernel built with an unusual configuration): load and attach exactly what record would, then let it go.
  if (missing.empty()) {
    try {
      TracerOptions to;
      to.filter_targets = true;  // no target: nothing is streamed while it is attached
      to.kallsyms = &syms;
      Tracer trial(to);
      trial.start([](const hs_event&) {});
      j["trial"] = {{"ok", true}};
    } catch (const ToolError& e) {
      j["trial"] = {{"ok", false}, {"why", e.what()}};
      missing.push_back(std::string("a loadable BPF object (") + e.what() + ")");
    }
  }
  j["ok"] = missing.empty();
  j["missing"] = missing;

  std::cout << fmt::format("kernel      {} ({})\n", j["kernel"].get<std::string>(), j["arch"].get<std::string>());
  std::cout << fmt::format("root        {}\n", root ? "yes" : "no");
  std::cout << fmt::format("lockdown    {}\n", j["lockdown"].get<std::string>());
  std::cout << fmt::format("BTF         {}\n", btf_path.empty() ? "missing" : btf_path);
  std::cout << fmt::format("tracefs     {}\n\n", tracefs.empty() ? "missing" : tracefs);
  std::cout << "tracepoints\n";
  for (const auto& t : tps)
    std::cout << fmt::format("  {:<3} {:<45} {}{}{}\n", t["available"].get<bool>() ? "ok" : "--", t["name"].get<std::string>(),
                             t["attach"].get<std::string>(), t["required"].get<bool>() ? ", required" : "",
                             t.contains("why") ? " (" + t["why"].get<std::string>() + ")" : "");
  std::cout << "\nattach points\n";
  for (const auto& a : aps) {
    std::cout << fmt::format("  {:<15} mode {:<11} {}\n", a["name"].get<std::string>(), a["mode"].get<std::string>(),
                             a["why"].get<std::string>());
    for (const auto& f : a["functions"])
      std::cout << fmt::format("      fentry {:<3} {:<26} {}\n", f["fentry"].get<bool>() ? "ok" : "--",
                               f["name"].get<std::string>(),
                               f["fentry"].get<bool>() ? f["symbol"].get<std::string>() : f["why"].get<std::string>());
  }
  if (j.contains("trial"))
    std::cout << fmt::format("\ntrial       {}\n", j["trial"]["ok"].get<bool>()
                                                      ? "the BPF object loads and attaches as record would"
                                                      : "the BPF object does not load: " + j["trial"]["why"].get<std::string>());
  std::cout << "\n";
  if (missing.empty()) {
    std::cout << "holdscope can run here.\n";
  } else {
    std::string m;
    for (const auto& x : missing) m += (m.empty() ? "" : ", ") + x;
    std::cout << "holdscope cannot run here: missing " << m << "\n";
  }
  if (!json_path.empty()) {
    write_output_file(json_path, j.dump(2) + "\n");
  }
  return missing.empty() ? 0 : 1;
}

}  // namespace holdscope
