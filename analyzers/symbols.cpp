#include "analyzers/symbols.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace holdscope {

constexpr uint64_t kMaxFunctionSize = 1 << 20;
constexpr uint64_t kTrampolineSize = 4096;

SymbolTable::SymbolTable(std::vector<Symbol> syms) : syms_(std::move(syms)) {
  std::sort(syms_.begin(), syms_.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
}

SymbolTable SymbolTable::from_kallsyms(std::istream& in) {
  std::vector<Symbol> syms;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string addr, type, name;
    if (!(ls >> addr >> type >> name)) continue;
    if (type != "t" && type != "T") continue;
    if (name.rfind("__pfx_", 0) == 0) continue;  // padding before functions, never a return address of interest
    uint64_t a = std::stoull(addr, nullptr, 16);
    if (a == 0) continue;
    syms.push_back({a, name});
  }
  return SymbolTable(std::move(syms));
}

const Symbol* SymbolTable::find(uint64_t addr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), addr,
                             [](uint64_t a, const Symbol& s) { return a < s.addr; });
  if (it == syms_.begin()) return nullptr;
  return &*std::prev(it);
}

const Symbol* SymbolTable::by_name(const std::string& name) const {
  for (const auto& s : syms_)
    if (s.name == name) return &s;
  return nullptr;
}

std::string SymbolTable::resolve(uint64_t addr) const {
  char buf[64];
  const Symbol* s = find(addr);
  // A stack walked from an fentry/fexit program passes through the trampoline that called it: one page of generated
  // code, listed in kallsyms (module [bpf]) while it is attached, as bpf_trampoline_<key>.
  if (s != nullptr && s->name.rfind("bpf_trampoline_", 0) == 0 && addr - s->addr < kTrampolineSize)
    return "[bpf trampoline]";
  // A symbol is only trusted up to its successor and within a plausible function size: an address past the last text
  // symbol (BPF programs, modules loaded later) is shown raw rather than as a wrong name.
  if (s == nullptr || s == &syms_.back() || addr - s->addr > kMaxFunctionSize) {
    snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
    return buf;
  }
  snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(addr - s->addr));
  return s->name + buf;
}

SymbolTable SymbolTable::subset(const std::vector<uint64_t>& addrs) const {
  std::vector<Symbol> out;
  for (uint64_t a : addrs) {
    auto it = std::upper_bound(syms_.begin(), syms_.end(), a, [](uint64_t x, const Symbol& s) { return x < s.addr; });
    if (it == syms_.begin()) continue;
    out.push_back(*std::prev(it));
    if (it != syms_.end()) out.push_back(*it);
  }
  std::sort(out.begin(), out.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
  out.erase(std::unique(out.begin(), out.end(), [](const Symbol& a, const Symbol& b) { return a.addr == b.addr; }),
            out.end());
  return SymbolTable(std::move(out));
}

}  // namespace holdscope
