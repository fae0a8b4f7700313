// Folded stacks ("root;caller;callee value" lines), the input of flame graph tools (flamegraph.pl, inferno,
// speedscope, d3-flame-graph): hold time by the stack that took the lock, and allocations under the lock by their
// stack. Each line's first frame says the lock mode ("[write]"/"[read]"), the allocations' second whether the
// allocation may sleep ("[may_sleep]"/"[no_sleep]"), so a flame graph shows them apart.
#pragma once
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "analyzers/analysis_pass.h"
#include "analyzers/context.h"
#include "analyzers/names.h"

namespace holdscope {

struct FoldedLine {
  std::vector<std::string> frames;  // root first
  uint64_t value = 0;
};

class FoldedStacks : public AnalysisPass {
 public:
  explicit FoldedStacks(const TraceContext& ctx) : ctx_(ctx), names_(ctx) {}
  void on_event(const hs_event& e, int mode) override;
  void on_hold(const HoldEnded& h) override;

  // Hold time in nanoseconds by the stack the lock was taken at; heaviest first.
  std::vector<FoldedLine> holds() const;
  // Allocations made under the lock, streamed and counted in the kernel, by stack; heaviest first.
  std::vector<FoldedLine> allocations() const;

 private:
  struct Key {
    bool write;
    int32_t stack_id;
    bool may_sleep;  // allocations only
    bool operator<(const Key& o) const {
      return std::tie(write, stack_id, may_sleep) < std::tie(o.write, o.stack_id, o.may_sleep);
    }
  };
  std::vector<FoldedLine> lines(const std::map<Key, uint64_t>& m, bool allocations) const;
  const TraceContext& ctx_;
  Names names_;
  std::map<Key, uint64_t> hold_ns_;
  std::map<Key, uint64_t> allocs_;
};

// One line per entry: frames joined by ';' (a ';' or a space inside a frame becomes '_'), a space, the value.
void write_folded(const std::vector<FoldedLine>& lines, std::ostream& out);

}  // namespace holdscope
