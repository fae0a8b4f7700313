#include <catch2/catch_test_macros.hpp>

#include "tool/system_info.h"
#include "tool/vm.h"

using namespace holdscope;

TEST_CASE("vm: output files named on the command line are written in the guest's /out and mapped back") {
  std::vector<std::string> args = {"record", "-o", "/tmp/run.hsr", "--json", "out/r.json", "--", "prog", "--json", "x"};
  auto files = map_output_files(args);
  REQUIRE(files.size() == 2);
  CHECK(files[0] == std::make_pair(std::string("run.hsr"), std::string("/tmp/run.hsr")));
  CHECK(files[1] == std::make_pair(std::string("r.json"), std::string("out/r.json")));
  CHECK(args == std::vector<std::string>{"record", "-o", "/out/run.hsr", "--json", "/out/r.json", "--", "prog",
                                         "--json", "x"});  // the traced command's own arguments are left alone
}

TEST_CASE("vm: memory sizes") {
  CHECK(parse_mem_mib("2G") == 2048);
  CHECK(parse_mem_mib("512M") == 512);
  CHECK(parse_mem_mib("1536") == 1536);
  CHECK_THROWS_AS(parse_mem_mib("2T"), ToolError);
  CHECK_THROWS_AS(parse_mem_mib("lots"), ToolError);
  CHECK_THROWS_AS(parse_mem_mib("-1G"), ToolError);
}
