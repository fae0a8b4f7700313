// Folded stacks: known answers on a synthetic stream (hold time and allocation counts by stack).
#include <catch2/catch_test_macros.hpp>
#include <sstream>

#include "analyzers/analyzer.h"
#include "analyzers/folded_stacks.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;

namespace {

constexpr uint64_t kMmapFn = 0xffffffff81000000ull;
constexpr uint64_t kSyscallFn = 0xffffffff81001000ull;
constexpr uint64_t kAllocFn = 0xffffffff81002000ull;
constexpr int32_t kMmapStack = 7;
constexpr int32_t kAllocStack = 8;

TraceContext context_with_stacks() {
  auto c = context();
  c.symbols = SymbolTable({{kMmapFn, "do_mmap"}, {kSyscallFn, "__x64_sys_mmap"}, {kAllocFn, "vm_area_alloc"},
                           {kAllocFn + 0x1000, "next_fn"}});
  c.stacks[kMmapStack] = {kMmapFn + 0x10, kSyscallFn + 0x20};  // innermost first, as the kernel gives them
  c.stacks[kAllocStack] = {kAllocFn + 0x8, kMmapFn + 0x30, kSyscallFn + 0x20};
  return c;
}

std::string folded(const std::vector<FoldedLine>& lines) {
  std::ostringstream out;
  write_folded(lines, out);
  return out.str();
}

}  // namespace

TEST_CASE("folded stacks: hold time by the taking stack, allocations by theirs, may-sleep apart", "[folded]") {
  auto ctx = context_with_stacks();
  // Five allocations the kernel counted rather than streamed, under a read hold.
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 1, 0, kVmaCache, kGfpKernel, kAllocStack, 5, 0});
  auto taken = acquired(us(10), 100, kMmA, true);
  taken.stack_id = kMmapStack;
  auto sleeping_alloc = page_alloc(us(20), 100, 0, kGfpKernel);
  sleeping_alloc.stack_id = kAllocStack;
  auto atomic_alloc = slab_alloc(us(30), 100, kGfpNowait);
  atomic_alloc.stack_id = kAllocStack;
  auto outside = page_alloc(us(400), 100, 0, kGfpKernel);  // after the release: not under the lock
  outside.stack_id = kAllocStack;
  std::vector<hs_event> s = {
      start(us(5), 100, kMmA, true), taken, sleeping_alloc, sleeping_alloc, atomic_alloc,
      released(us(310), 100, kMmA, true), outside,
      hold(0, us(500), us(600), 200, kMmB, false),  // a hold with no stack
  };
  FoldedStacks f(ctx);
  AnalyzerOptions opts;
  opts.passes = {&f};
  analyze(ctx, s, opts);

  CHECK(folded(f.holds()) ==
        "[write];__x64_sys_mmap;do_mmap 300000\n"
        "[read];[no_stack] 100000\n");
  CHECK(folded(f.allocations()) ==
        "[read];[may_sleep];__x64_sys_mmap;do_mmap;vm_area_alloc 5\n"
        "[write];[may_sleep];__x64_sys_mmap;do_mmap;vm_area_alloc 2\n"
        "[write];[no_sleep];__x64_sys_mmap;do_mmap;vm_area_alloc 1\n");
}

TEST_CASE("folded stacks: a frame's separators are replaced, not passed through", "[folded]") {
  std::vector<FoldedLine> lines = {FoldedLine{{"[write]", "a;b c"}, 3}};
  CHECK(folded(lines) == "[write];a_b_c 3\n");
}
