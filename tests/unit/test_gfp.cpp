#include <catch2/catch_test_macros.hpp>
#include <stdexcept>

#include "analyzers/gfp.h"

using holdscope::GfpTable;

// Excerpts of mm_page_alloc's print fmt: 6.18 spells bits as shifts, 6.1 as hex literals; both end with a sentinel.
static const char* kFmt618 =
    R"(print fmt: "gfp_flags=%s", (REC->gfp_flags) ? __print_flags(REC->gfp_flags, "|", )"
    R"({( unsigned long)((((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)) | (( gfp_t)((((1UL))) << (18))) | (( gfp_t)((((1UL))) << (19))) | (( gfp_t)((((1UL))) << (13)))) & ~(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))), "GFP_TRANSHUGE_LIGHT"}, )"
    R"({( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))), "GFP_KERNEL"}, )"
    R"({( unsigned long)((( gfp_t)((((1UL))) << (11))) | (( gfp_t)((((1UL))) << (13)))), "GFP_NOWAIT"}, )"
    R"({( unsigned long)(( gfp_t)((((1UL))) << (8))), "__GFP_ZERO"}, )"
    R"({( unsigned long)(( gfp_t)((((1UL))) << (10))), "__GFP_DIRECT_RECLAIM"}, )"
    R"({( unsigned long)(( gfp_t)((((1UL))) << (11))), "__GFP_KSWAPD_RECLAIM"}, { 0, ((void *)0) } ) : "none")";

static const char* kFmt61 =
    R"(print fmt: "gfp_flags=%s", (REC->gfp_flags) ? __print_flags(REC->gfp_flags, "|", )"
    R"({(unsigned long)(((( gfp_t)(0x400u|0x800u)) | (( gfp_t)0x40u) | (( gfp_t)0x80u))), "GFP_KERNEL"}, )"
    R"({(unsigned long)((( gfp_t)0x800u)), "GFP_NOWAIT"}, )"
    R"({(unsigned long)(( gfp_t)0x100u), "__GFP_ZERO"}, {(unsigned long)(( gfp_t)0x400u), "__GFP_DIRECT_RECLAIM"}) : "none")";

TEST_CASE("gfp table from the 6.18 print format (shifts, masks, sentinel)") {
  GfpTable t = GfpTable::from_print_fmt(kFmt618);
  REQUIRE(t.flags().size() == 6);
  CHECK(t.value_of("GFP_KERNEL") == 0xcc0);
  CHECK(t.value_of("GFP_NOWAIT") == 0x2800);
  CHECK(t.value_of("GFP_TRANSHUGE_LIGHT") == ((1 << 6 | 1 << 7 | 1 << 20 | 1 << 1 | 1 << 3 | 1 << 18 | 1 << 19 | 1 << 13)));
  CHECK(t.decode(0xcc0 | 0x100) == "GFP_KERNEL|__GFP_ZERO");
  CHECK(t.decode(0x2800) == "GFP_NOWAIT");
  CHECK(t.decode(0x1) == "0x1");
  CHECK(t.decode(0) == "0");
  CHECK(t.may_sleep(0xcc0));
  CHECK_FALSE(t.may_sleep(0x2800));
}

TEST_CASE("gfp table from the 6.1 print format (hex literals)") {
  GfpTable t = GfpTable::from_print_fmt(kFmt61);
  CHECK(t.value_of("GFP_KERNEL") == 0xcc0);
  CHECK(t.value_of("GFP_NOWAIT") == 0x800);
  CHECK(t.decode(0xcc0) == "GFP_KERNEL");
  CHECK(t.may_sleep(0xcc0));
}

TEST_CASE("a print format without a flag list is an error, not an empty table") {
  CHECK_THROWS_AS(GfpTable::from_print_fmt("print fmt: \"order=%d\", REC->order"), std::runtime_error);
  CHECK_THROWS_AS(GfpTable::from_print_fmt(R"(__print_flags(REC->gfp_flags, "|", {( unsigned long)(1 +), "X"}))"),
                  std::runtime_error);
}
