// Live holdscope doctor: its diagnosis against the probes it ran, and its failure naming what is missing.
#include <catch2/catch_test_macros.hpp>
#include <set>
#include <string>

#include "live_helpers.h"

TEST_CASE("doctor: the diagnosis matches the probes, and it fails naming what is missing") {
  REQUIRE_LIVE();
  std::string j = tmp("doctor.json");
  Run r = run(kHoldscope + " doctor --json " + j);
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("holdscope can run here.") != std::string::npos);
  json d = json::parse(slurp(j));
  unlink(j.c_str());
  CHECK(d["ok"] == true);
  CHECK(d["btf"]["present"] == true);
  for (const auto& t : d["tracepoints"])
    if (t["required"] == true) CHECK(t["available"] == true);
  std::set<std::string> names;
  for (const auto& a : d["attach_points"]) {
    names.insert(a["name"].get<std::string>());
    bool any_fentry = false;
    for (const auto& f : a["functions"]) {
      any_fentry |= f["fentry"].get<bool>();
      if (f["fentry"] == false) CHECK_FALSE(f["why"].get<std::string>().empty());  // every refusal says why
    }
    INFO(a.dump());
    CHECK(a["mode"] == (any_fentry ? "direct" : "inferred"));
  }
  CHECK(names == std::set<std::string>{"lru_drain", "khugepaged", "anon_vma_clone", "alloc_slowpath"});
  // It loaded and attached the object record uses, and says so: a pass here is a prediction of record's.
  CHECK(d["trial"]["ok"] == true);
  CHECK(r.out.find("the BPF object loads and attaches as record would") != std::string::npos);

  Run unpriv = run_unprivileged({kHoldscope, "doctor"});
  INFO(unpriv.err);
  CHECK(unpriv.status != 0);
  CHECK(unpriv.err.find("cannot run here: missing root") != std::string::npos);
}
