// Kernel symbols for stack addresses, in the format of /proc/kallsyms. A recording stores only the symbols its own
// stacks need, so it can be reported on another machine.
#pragma once
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace holdscope {

struct Symbol {
  uint64_t addr;
  std::string name;
};

class SymbolTable {
 public:
  SymbolTable() = default;
  explicit SymbolTable(std::vector<Symbol> syms);
  // Text symbols (t/T) only; the addresses must be real (root, kptr_restrict permitting).
  static SymbolTable from_kallsyms(std::istream& in);

  // "function+0xoff", or the hex address when outside every known symbol.
  std::string resolve(uint64_t addr) const;
  const Symbol* find(uint64_t addr) const;
  const Symbol* by_name(const std::string& name) const;
  // The symbols containing these addresses plus each one's successor (which bounds its size).
  SymbolTable subset(const std::vector<uint64_t>& addrs) const;
  const std::vector<Symbol>& symbols() const { return syms_; }
  bool empty() const { return syms_.empty(); }

 private:
  std::vector<Symbol> syms_;  // sorted by address
};

}  // namespace holdscope
