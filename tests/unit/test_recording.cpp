#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <algorithm>
#include <sstream>

#include "analyzers/analyzer.h"
#include "analyzers/recording.h"
#include "synthetic.h"

using namespace holdscope;
using namespace holdscope::test;

namespace {

std::string make_recording(size_t n_events) {
  auto ctx = context();
  ctx.symbols = SymbolTable({{0xffffffff81000000ull, "do_mmap"}, {0xffffffff81001000ull, "vm_mmap_pgoff"}});
  ctx.stacks[7] = {0xffffffff81000010ull, 0xffffffff81000020ull};
  std::ostringstream out;
  RecordingWriter w(out);
  for (size_t i = 0; i < n_events; i++) {
    w.add(start(us(10 * i), 100, kMmA, true));
    auto a = acquired(us(10 * i + 1), 100, kMmA, true);
    a.stack_id = 7;
    w.add(a);
    w.add(released(us(10 * i + 5), 100, kMmA, true));
  }
  w.finish(ctx);
  return out.str();
}

Report report_of(const std::string& bytes) {
  std::istringstream in(bytes);
  RecordingReader r(in);
  Analyzer a(r.context());
  r.for_each_event([&](const hs_event& e) { a.feed(e); });
  return a.finish();
}

}  // namespace

TEST_CASE("a recording round-trips: context, stacks, symbols and every event") {
  std::string bytes = make_recording(5000);  // more than one event chunk
  std::istringstream in(bytes);
  RecordingReader r(in);
  CHECK(r.event_count() == 15000);
  CHECK(r.context().kernel == "6.18.0-test");
  CHECK(r.context().gfp.value_of("GFP_KERNEL") == 0xcc0);
  CHECK(r.context().caches.at(kVmaCache).name == "vm_area_struct");
  CHECK(r.context().comms.at(100).comm == "worker");
  Report rep = report_of(bytes);
  CHECK(rep.holds.write.count == 5000);
  CHECK(rep.holds.write.max_ns == us(4));
  REQUIRE_FALSE(rep.longest_holds.empty());
  REQUIRE(rep.longest_holds[0].stack.size() == 2);
  CHECK(rep.longest_holds[0].stack[0] == "do_mmap+0x10");
}

TEST_CASE("a truncated recording is refused at every cut point") {
  std::string bytes = make_recording(50);
  for (size_t cut : {size_t(0), size_t(4), size_t(23), size_t(40), bytes.size() / 2, bytes.size() - 5, bytes.size() - 1}) {
    INFO("cut at " << cut);
    CHECK_THROWS_AS(report_of(bytes.substr(0, cut)), RecordingError);
  }
}

TEST_CASE("a corrupted recording is refused, never reported") {
  std::string bytes = make_recording(50);
  SECTION("bad magic") {
    bytes[0] = 'X';
    CHECK_THROWS_WITH(report_of(bytes), Catch::Matchers::ContainsSubstring("not a holdscope recording"));
  }
  SECTION("another format version") {
    bytes[8] = 99;
    CHECK_THROWS_WITH(report_of(bytes), Catch::Matchers::ContainsSubstring("unsupported recording version"));
  }
  SECTION("a flipped bit in an event") {
    bytes[24 + 16 + 100] ^= 0x10;
    CHECK_THROWS_WITH(report_of(bytes), Catch::Matchers::ContainsSubstring("checksum"));
  }
  SECTION("a flipped bit in the metadata") {
    bytes[bytes.size() - 60] ^= 0x01;
    CHECK_THROWS_AS(report_of(bytes), RecordingError);
  }
}

TEST_CASE("allocations counted in the kernel travel in the recording and join the streamed ones in the report") {
  auto ctx = context();
  ctx.symbols = SymbolTable({{0xffffffff81000000ull, "do_mmap"}, {0xffffffff81001000ull, "vm_mmap_pgoff"}});
  ctx.stacks[7] = {0xffffffff81000010ull, 0xffffffff81000020ull};
  // 40 vm_area_struct allocations under the write lock counted in the kernel, 3 of them failed; 2 more streamed
  // (same cache, gfp, lock mode, no stack) and 5 page allocations of order 1 counted with stack 7.
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_SLAB, 2, 0xffffffff81000040ull, kVmaCache, kGfpKernel, -1, 40, 3});
  ctx.alloc_counts.push_back(AllocCount{HS_ALLOC_PAGE, 1, 0x1000000ea, 1, kGfpKernel, 7, 5, 0});
  ctx.counters.alloc_map_full = 6;  // allocations the kernel could not count: drops, not silence
  std::ostringstream out;
  RecordingWriter w(out);
  w.add(acquired_folded(us(0), us(1), 100, kMmA, true));
  w.add(slab_alloc(us(2), 100, kGfpKernel));
  w.add(slab_alloc(us(3), 100, kGfpKernel));
  w.add(released(us(9), 100, kMmA, true));
  w.finish(ctx);
  std::string bytes = out.str();
  {
    std::istringstream in(bytes);
    RecordingReader r(in);
    REQUIRE(r.context().alloc_counts.size() == 2);
    CHECK(r.context().alloc_counts[0].count == 40);
    CHECK(r.context().alloc_counts[1].stack_id == 7);
    CHECK(r.context().counters.alloc_map_full == 6);
  }
  Report rep = report_of(bytes);
  auto slab = std::find_if(rep.allocations.begin(), rep.allocations.end(),
                           [](const AllocGroup& g) { return g.kind == "slab" && g.mode == "write"; });
  REQUIRE(slab != rep.allocations.end());
  CHECK(slab->cache == "vm_area_struct");
  CHECK(slab->count == 42);
  CHECK(slab->failed == 3);
  CHECK(rep.drops.map_full == 6);
  CHECK(slab->bytes == 39 * ctx.caches.at(kVmaCache).size);
  auto page = std::find_if(rep.allocations.begin(), rep.allocations.end(),
                           [](const AllocGroup& g) { return g.kind == "page"; });
  REQUIRE(page != rep.allocations.end());
  CHECK(page->mode == "read");
  CHECK(page->order == 1);
  CHECK(page->count == 5);
  CHECK(page->bytes == 5 * 8192);
  REQUIRE(page->stack.size() == 2);
  CHECK(page->stack[0] == "do_mmap+0x10");

  SECTION("an allocation count of an unknown kind is refused") {
    auto bad = ctx;
    bad.alloc_counts[0].kind = 7;
    std::ostringstream o;
    RecordingWriter bw(o);
    bw.finish(bad);
    std::istringstream in(o.str());
    CHECK_THROWS_WITH(RecordingReader(in), Catch::Matchers::ContainsSubstring("allocation count of unknown kind"));
  }
}

TEST_CASE("stack frames: a BPF trampoline is named, an address past the last symbol stays raw") {
  SymbolTable t({{0xffffffff81000000ull, "do_mmap"},
                 {0xffffffff81001000ull, "vm_mmap_pgoff"},
                 {0xffffffffa0014000ull, "bpf_trampoline_6442491244"}});
  CHECK(t.resolve(0xffffffff81000010ull) == "do_mmap+0x10");
  CHECK(t.resolve(0xffffffffa00147e6ull) == "[bpf trampoline]");
  CHECK(t.resolve(0xffffffffa0016000ull) == "0xffffffffa0016000");
}
