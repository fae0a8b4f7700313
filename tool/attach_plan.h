// Per attach point, the mode that will run (direct fentry/fexit or inference from tracepoints), the functions it
// brackets, and why. Shared by the loader and `holdscope doctor`, so what doctor predicts is what record does.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "analyzers/attach_points.h"
#include "analyzers/symbols.h"
#include "tool/fentry_probe.h"

struct btf;

namespace holdscope {

struct AttachChoice {
  std::string name;
  AttachMode mode = AttachMode::unavailable;
  std::string why;
  std::vector<std::string> functions;  // direct: the functions bracketed
  std::vector<FentryProbe> probes;     // every candidate function, probed
  std::vector<std::pair<std::string, bool>> tracepoints;  // what inference needs, and whether present
};

// What --mode asks of an attach point: auto takes direct where fentry attaches, inferred otherwise.
enum class ModeRequest { automatic, direct, inferred };
using ModeRequests = std::map<std::string, ModeRequest>;  // by attach point name

// "auto", "direct" or "inferred" for all points, or "POINT=MODE[,POINT=MODE...]" (others auto). Throws on bad text.
ModeRequests parse_mode_request(const std::string& text);

// Decides every attach point. A forced "direct" that cannot attach is an error naming the reason; a forced
// "inferred" is honoured even where fentry works.
std::vector<AttachChoice> plan_attach_points(const struct btf* vmlinux, const SymbolTable& kallsyms,
                                             const std::string& tracefs,
                                             const ModeRequests& requested, bool probe);

// The kallsyms name of a function: exact, or the compiler's clone (foo.constprop.0, foo.isra.0, ...).
std::string kallsyms_name(const SymbolTable& syms, const std::string& fn);

}  // namespace holdscope
