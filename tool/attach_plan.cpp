#include "tool/attach_plan.h"

#include <optional>

#include "tool/probes.h"
#include "tool/system_info.h"

namespace holdscope {

std::string kallsyms_name(const SymbolTable& syms, const std::string& fn) {
  std::string clone;
  for (const auto& s : syms.symbols()) {
    if (s.name == fn) return fn;
    if (clone.empty() && s.name.size() > fn.size() && s.name.compare(0, fn.size(), fn) == 0 && s.name[fn.size()] == '.')
      clone = s.name;
  }
  return clone;
}

namespace {

std::optional<ModeRequest> parse_request(const std::string& m) {
  if (m == "auto") return ModeRequest::automatic;
  if (m == "direct") return ModeRequest::direct;
  if (m == "inferred") return ModeRequest::inferred;
  return std::nullopt;
}

}  // namespace

ModeRequests parse_mode_request(const std::string& text) {
  ModeRequests out;
  if (text.find('=') == std::string::npos) {
    auto all = parse_request(text);
    if (!all) throw ToolError("--mode must be auto, direct, inferred or POINT=MODE,...; got '" + text + "'");
    for (const auto& ap : attach_points()) out[ap.name] = *all;
    return out;
  }
  for (const auto& ap : attach_points()) out[ap.name] = ModeRequest::automatic;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() : comma + 1;
    auto eq = item.find('=');
    std::string point = item.substr(0, eq), mode = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (!out.count(point)) throw ToolError("--mode: unknown attach point '" + point + "' (" + attach_point_list() + ")");
    auto want = parse_request(mode);
    if (!want) throw ToolError("--mode: " + point + " must be auto, direct or inferred; got '" + mode + "'");
    out[point] = *want;
  }
  return out;
}

std::vector<AttachChoice> plan_attach_points(const struct btf* vmlinux, const SymbolTable& kallsyms,
                                             const std::string& tracefs,
                                             const ModeRequests& requested, bool probe) {
  std::vector<AttachChoice> out;
  for (const auto& ap : attach_points()) {
    AttachChoice c;
    c.name = ap.name;
    auto req = requested.find(ap.name);
    ModeRequest want = req == requested.end() ? ModeRequest::automatic : req->second;

    std::map<std::string, const FentryProbe*> by_name;
    for (const auto& fn : ap.functions()) {
      c.probes.push_back(probe ? probe_fentry(vmlinux, fn, kallsyms_name(kallsyms, fn))
                               : FentryProbe{fn, false, kallsyms_name(kallsyms, fn), false, "needs root"});
    }
    for (const auto& p : c.probes) by_name[p.function] = &p;
    if (want != ModeRequest::inferred) {
      for (const auto& set : ap.function_sets) {
        if (!by_name.at(set.front())->attachable) continue;
        for (const auto& fn : set)
          if (by_name.at(fn)->attachable) c.functions.push_back(fn);
        break;
      }
    }
    bool inferred_ok = true;
    for (const auto& t : ap.tracepoints) {
      auto colon = t.find(':');
      bool ok = !tracefs.empty() && tracepoint_exists(tracefs, t.substr(0, colon), t.substr(colon + 1));
      inferred_ok &= ok;
      c.tracepoints.emplace_back(t, ok);
    }
    std::string joined;
    for (const auto& f : c.functions) joined += (joined.empty() ? "" : ", ") + f;
    const FentryProbe& first = c.probes.front();
    if (!c.functions.empty()) {
      c.mode = AttachMode::direct;
      c.why = (want == ModeRequest::direct ? "requested; fentry/fexit on " : "fentry attaches: fentry/fexit on ") + joined;
    } else if (want == ModeRequest::direct) {
      throw ToolError("--mode direct: " + std::string(ap.name) + " cannot be observed directly here: " +
                      first.function + ": " + first.why);
    } else if (inferred_ok) {
      c.mode = AttachMode::inferred;
      c.why = (want == ModeRequest::inferred ? std::string("requested") : "fentry unavailable (" + first.function + ": " + first.why + ")") +
              "; inferred from " + ap.inferred_from;
    } else {
      c.mode = AttachMode::unavailable;
      c.why = "neither fentry (" + first.why + ") nor the tracepoints inference needs";
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace holdscope
