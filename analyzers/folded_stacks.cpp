#include "analyzers/folded_stacks.h"

#include <algorithm>

namespace holdscope {

namespace {

constexpr int kWriteMode = static_cast<int>(LockMode::write);

bool is_alloc(uint16_t type) { return type == HS_EV_PAGE_ALLOC || type == HS_EV_SLAB_ALLOC || type == HS_EV_KMALLOC; }

// "do_mmap+0x1c3" -> "do_mmap": a flame graph merges the calls of one function made from different lines.
std::string function_of(const std::string& frame) {
  size_t plus = frame.find('+');
  return plus == std::string::npos || plus == 0 ? frame : frame.substr(0, plus);
}

}  // namespace

void FoldedStacks::on_event(const hs_event& e, int mode) {
  if (!is_alloc(e.type) || mode == 0) return;  // outside the lock (as the allocations section decides)
  allocs_[Key{mode == kWriteMode, e.stack_id, ctx_.gfp.may_sleep(e.arg)}]++;
}

void FoldedStacks::on_hold(const HoldEnded& h) {
  hold_ns_[Key{h.write, h.stack_id, false}] += h.end - std::min(h.end, h.start);
}

std::vector<FoldedLine> FoldedStacks::lines(const std::map<Key, uint64_t>& m, bool allocations) const {
  // Stacks that differ only in call-site offsets are one line: merged by their frames.
  std::map<std::vector<std::string>, uint64_t> merged;
  for (const auto& [k, value] : m) {
    if (value == 0) continue;
    std::vector<std::string> frames;
    frames.push_back(k.write ? "[write]" : "[read]");
    if (allocations) frames.push_back(k.may_sleep ? "[may_sleep]" : "[no_sleep]");
    auto stack = names_.stack(k.stack_id);  // innermost first
    if (stack.empty()) frames.push_back("[no_stack]");
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) frames.push_back(function_of(*it));
    merged[std::move(frames)] += value;
  }
  std::vector<FoldedLine> out;
  for (auto& [frames, value] : merged) out.push_back(FoldedLine{frames, value});
  std::stable_sort(out.begin(), out.end(), [](const FoldedLine& a, const FoldedLine& b) { return a.value > b.value; });
  return out;
}

std::vector<FoldedLine> FoldedStacks::holds() const { return lines(hold_ns_, false); }

std::vector<FoldedLine> FoldedStacks::allocations() const {
  auto all = allocs_;
  for (const auto& a : ctx_.alloc_counts) all[Key{a.mode == kWriteMode, a.stack_id, ctx_.gfp.may_sleep(a.gfp)}] += a.count;
  return lines(all, true);
}

void write_folded(const std::vector<FoldedLine>& lines, std::ostream& out) {
  for (const auto& l : lines) {
    for (size_t i = 0; i < l.frames.size(); i++) {
      if (i) out << ';';
      std::string f = l.frames[i];
      // ';' separates frames and the last space the value: neither may appear inside one.
      std::replace_if(f.begin(), f.end(), [](char c) { return c == ';' || c == ' ' || c == '\n'; }, '_');
      out << f;
    }
    out << ' ' << l.value << '\n';
  }
}

}  // namespace holdscope
