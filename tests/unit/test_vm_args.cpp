#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
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

TEST_CASE("vm: every file a command writes comes back, in either option form; the recording can stay in the guest") {
  std::vector<std::string> args = {"record", "--output=/r/run.hsr", "--html", "a/page.html", "--perfetto=t.json",
                                   "--folded-holds", "h.folded", "--folded-allocs=/x/a.folded", "--top", "5", "--",
                                   "prog", "--html=x"};
  auto files = map_output_files(args);
  REQUIRE(files.size() == 5);
  CHECK(files[0] == std::make_pair(std::string("run.hsr"), std::string("/r/run.hsr")));
  CHECK(files[2] == std::make_pair(std::string("t.json"), std::string("t.json")));
  CHECK(args == std::vector<std::string>{"record", "--output=/out/run.hsr", "--html", "/out/page.html",
                                         "--perfetto=/out/t.json", "--folded-holds", "/out/h.folded",
                                         "--folded-allocs=/out/a.folded", "--top", "5", "--", "prog", "--html=x"});
  std::vector<std::string> no_output = {"record", "--quiet", "--json", "r.json", "--", "true"};
  CHECK(map_output_files(no_output).size() == 1);  // compare's form: only the report comes back
  std::vector<std::string> empty_name = {"record", "--json=dir/"};
  CHECK_THROWS_AS(map_output_files(empty_name), ToolError);
}

TEST_CASE("vm: memory sizes") {
  CHECK(parse_mem_mib("2G") == 2048);
  CHECK(parse_mem_mib("512M") == 512);
  CHECK(parse_mem_mib("1536") == 1536);
  CHECK_THROWS_AS(parse_mem_mib("2T"), ToolError);
  CHECK_THROWS_AS(parse_mem_mib("lots"), ToolError);
  CHECK_THROWS_AS(parse_mem_mib("-1G"), ToolError);
}

TEST_CASE("vm: the guest names files, but only the files asked for are written, and only where the user said") {
  char tmpl[] = "/tmp/holdscope-unit-vm-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = tmpl, wanted = dir + "/report.json", planted = dir + "/victim";
  std::ofstream(planted) << "keep";
  std::vector<std::string> args = {"record", "--json", wanted, "--", "true"};
  GuestFileReceiver rx(map_output_files(args));
  auto send = [&](const std::string& name, const std::string& b64) {
    CHECK(rx.feed("HOLDSCOPE-FILE-BEGIN " + name));
    CHECK(rx.feed(b64));
    CHECK(rx.feed("HOLDSCOPE-FILE-END"));
  };
  send(planted, "aGFja2Vk");        // "hacked", to a path of the guest's choosing
  send("../victim", "aGFja2Vk");
  send("victim", "aGFja2Vk");
  send("report.json", "e30K");      // "{}\n", the file asked for
  CHECK_FALSE(rx.feed("an ordinary console line"));
  std::ifstream v(planted);
  std::string kept;
  std::getline(v, kept);
  CHECK(kept == "keep");
  std::ifstream w(wanted);
  std::string got;
  std::getline(w, got);
  CHECK(got == "{}");
  struct stat st;
  REQUIRE(stat(wanted.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // it may hold kernel addresses
  unlink(wanted.c_str());
  unlink(planted.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("vm: two output files with the same name are refused (the guest returns files by name)") {
  std::vector<std::string> args = {"record", "-o", "/a/x.hsr", "--json", "/b/x.hsr"};
  CHECK_THROWS_AS(map_output_files(args), ToolError);
}

TEST_CASE("vm: kernels by name, with the parameters they were built with and those added after @") {
  char dir[] = "/tmp/holdscope-unit-kernels-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string cache = dir;
  setenv("HOLDSCOPE_KERNEL_CACHE", cache.c_str(), 1);
  mkdir((cache + "/seeds").c_str(), 0700);
  std::ofstream(cache + "/seeds/vmlinuz") << "image";
  std::ofstream(cache + "/seeds/cmdline") << "holdscope_base=1\n";
  auto k = holdscope::resolve_kernel("seeds@holdscope_seed000=1");
  CHECK(k.image == cache + "/seeds/vmlinuz");
  CHECK(k.cmdline == "holdscope_base=1 holdscope_seed000=1");
  CHECK(holdscope::resolve_kernel("seeds").cmdline == "holdscope_base=1");
  CHECK(holdscope::resolve_kernel(cache + "/seeds/vmlinuz@quiet").cmdline == "quiet");
  CHECK_THROWS_AS(holdscope::resolve_kernel("nosuch"), holdscope::ToolError);
  CHECK_THROWS_AS(holdscope::resolve_kernel("6.12"), holdscope::ToolError);  // not fetched in this cache
  for (const char* f : {"/seeds/vmlinuz", "/seeds/cmdline"}) unlink((cache + f).c_str());
  rmdir((cache + "/seeds").c_str());
  rmdir(dir);
  unsetenv("HOLDSCOPE_KERNEL_CACHE");
}
