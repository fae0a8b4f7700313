#include "analyzers/verdicts.h"

#include <algorithm>

#include "analyzers/attach_points.h"

namespace holdscope {

namespace {

uint64_t u(const nlohmann::json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<uint64_t>() : 0; }

nlohmann::json top_frames(const nlohmann::json& stack, size_t n) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < stack.size() && i < n; i++) out.push_back(stack[i]);
  return out;
}

bool starts_with_any(const std::string& f, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (f.rfind(p, 0) == 0) return true;
  return false;
}

// A frame of the migration machinery itself (where target pages are allocated), not a syscall entry like
// kernel_migrate_pages: the name must be followed by its offset.
bool is_migration_frame(const std::string& f) {
  return starts_with_any(f, {"migrate_pages+", "migrate_pages_batch+", "migrate_pages_sync+", "unmap_and_move+",
                        "alloc_migration_target+", "alloc_migration_target_by_mpol+", "new_page+", "new_folio+"});
}

// A frame of the two system calls the seed-004 invariant is about (NUMA balancing also migrates, from a fault, under
// the read lock: that is other sleeping work, not this invariant's).
bool is_mbind_or_migrate_pages_frame(const std::string& f) {
  return starts_with_any(f, {"do_mbind+", "kernel_mbind+", "__x64_sys_mbind+", "do_migrate_pages+", "kernel_migrate_pages+",
                        "migrate_to_node+", "__x64_sys_migrate_pages+"});
}

// A frame of the population of an mlock()ed (or MAP_POPULATE) range.
bool is_population_frame(const std::string& f) {
  return starts_with_any(f, {"__mm_populate+", "populate_vma_page_range+", "__get_user_pages+", "faultin_page+"});
}

}  // namespace

Verdict verdict_migrate_prep(const nlohmann::json& report, const nlohmann::json&, const nlohmann::json& stats) {
  Verdict v;
  const auto& d = report.at("lru_drains");
  uint64_t none = u(d["calls"], "none"), read = u(d["calls"], "read"), write = u(d["calls"], "write");
  v.evidence = {{"drain_calls_without_lock", none}, {"drain_calls_under_read", read}, {"drain_calls_under_write", write},
                {"per_cpu_works", u(d, "works")}, {"by_syscall", d.value("by_syscall", nlohmann::json::object())},
                {"workload", stats}};
  if (read + write > 0) {
    auto stacks = nlohmann::json::array();
    for (const auto& s : report.value("sleeping_under_lock", nlohmann::json::array()))
      if (s.value("kind", "") == "lru_drain") stacks.push_back({{"mode", s["mode"]}, {"stack", top_frames(s["stack"], 8)}});
    v.evidence["violating_stacks"] = stacks;
    v.verdict = "violated";
  } else if (none > 0) {
    v.verdict = "holds";
  } else {
    v.verdict = "inconclusive: no LRU drain was issued (no other CPU had pages pending)";
  }
  return v;
}

Verdict verdict_mbind_migrate(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats) {
  Verdict v;
  uint64_t under[2] = {0, 0};
  auto stacks = nlohmann::json::array();
  for (const auto& a : report.value("allocations_under_lock", nlohmann::json::array())) {
    if (a.value("kind", "") != "page") continue;
    bool migration = false, syscall = false;
    for (const auto& f : a.value("stack", nlohmann::json::array())) {
      migration |= is_migration_frame(f.get<std::string>());
      syscall |= is_mbind_or_migrate_pages_frame(f.get<std::string>());
    }
    if (!migration || !syscall) continue;
    bool write = a.value("mode", "") == "write";
    under[write] += u(a, "count");
    if (stacks.size() < 5) stacks.push_back({{"mode", a["mode"]}, {"count", a["count"]}, {"stack", top_frames(a["stack"], 10)}});
  }
  uint64_t migrated = u(vmstat, "pgmigrate_success");
  v.evidence = {{"migration_allocations_under_write", under[1]},
                {"migration_allocations_under_read", under[0]},
                {"pages_migrated", migrated},
                {"write_hold_max_ns", report["holds"]["write"].value("max_ns", 0)},
                {"write_hold_p99_ns", report["holds"]["write"].value("p99_ns", 0)},
                {"workload", stats}};
  if (under[0] + under[1] > 0) {
    v.evidence["violating_stacks"] = stacks;
    v.verdict = "violated";
  } else if (migrated > 0) {
    v.verdict = "holds";
  } else {
    v.verdict = "inconclusive: no page was migrated";
  }
  return v;
}

Verdict verdict_anon_vma_clone(const nlohmann::json& report, const nlohmann::json&, const nlohmann::json& stats) {
  Verdict v;
  const auto& a = report.at("anon_vma_clone");
  uint64_t tries = u(a, "nowait_attempts"), failed = u(a, "nowait_failures"), retries = u(a, "gfp_kernel_retries"),
           bad = u(a, "may_sleep_under_anon_vma_lock");
  uint64_t reclaims = 0;
  for (const auto& s : report.value("sleeping_under_lock", nlohmann::json::array()))
    if (s.value("kind", "") == "direct_reclaim") reclaims += u(s, "count");
  v.evidence = {{"mode", a.value("mode", to_string(AttachMode::inferred))}, {"nowait_attempts", tries}, {"nowait_failures", failed},
                {"gfp_kernel_retries", retries}, {"may_sleep_under_anon_vma_lock", bad},
                {"direct_reclaims_under_mmap_lock", reclaims}, {"workload", stats}};
  if (bad > 0) {
    v.evidence["violating_stacks"] = nlohmann::json::array();
    for (const auto& st : a.value("may_sleep_stacks", nlohmann::json::array()))
      v.evidence["violating_stacks"].push_back({{"mode", "anon_vma lock"}, {"stack", top_frames(st, 8)}});
    v.verdict = "violated";
  } else if (failed > 0) {
    v.verdict = "holds";
  } else {
    v.verdict = "inconclusive: no GFP_NOWAIT try failed, so the retry path was never exercised";
  }
  return v;
}

Verdict verdict_khugepaged(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats) {
  Verdict v;
  const auto& k = report.at("khugepaged");
  uint64_t attempted = 0, succeeded = 0, blocked = 0, blocked_max = 0, write_max = 0, under[4] = {0, 0, 0, 0};
  auto violating = nlohmann::json::array();
  auto sequences = nlohmann::json::array();
  for (const auto& m : k.value("mms", nlohmann::json::array())) {
    attempted += u(m, "attempted");
    succeeded += u(m, "succeeded");
    blocked += u(m, "blocked_waits");
    blocked_max = std::max(blocked_max, u(m, "blocked_max_ns"));
    write_max = std::max(write_max, u(m["write_hold"], "max_ns"));
    const auto& a = m["huge_page_allocated_under"];
    for (int i = 0; i < kLockModes; i++) under[i] += u(a, lock_mode_name(i));
    under[kLockModes] += u(a, "unseen");  // allocated where the trace did not see it
    for (const auto& c : m.value("collapses", nlohmann::json::array())) {
      nlohmann::json brief = {{"comm", c["comm"]}, {"result", c["result"]},
                              {"huge_page_allocated_under", c["huge_page_allocated_under"]},
                              {"write_hold_ns", c["write_hold_ns"]}, {"blocked", c["blocked"].size()}};
      std::string seq;
      for (const auto& s : c["lock_sequence"])
        seq += (seq.empty() ? "" : " -> ") + (s["what"] == "huge_page" ? "alloc(" + s["lock"].get<std::string>() + ")"
                                                                       : s["what"].get<std::string>());
      brief["lock_sequence"] = seq;
      if (c["huge_page_allocated_under"] == "write" && violating.size() < 5) violating.push_back(brief);
      if (sequences.size() < 3) sequences.push_back(brief);
    }
  }
  v.evidence = {{"mode", k.value("mode", to_string(AttachMode::inferred))},
                {"collapses_attempted", attempted},
                {"collapses_succeeded", succeeded},
                {"huge_page_allocated_under", {{"none", under[0]}, {"read", under[1]}, {"write", under[2]}, {"unseen", under[3]}}},
                {"huge_pages_allocated_under_write", under[2]},  // the invariant's figure, where diffs look for it
                {"write_hold_max_ns", write_max},
                {"waits_blocked_by_collapses", blocked},
                {"longest_blocked_wait_ns", blocked_max},
                {"thp_collapse_alloc", u(vmstat, "thp_collapse_alloc")},
                {"example_collapses", sequences},
                {"workload", stats}};
  if (under[2] > 0) {
    v.evidence["violating_collapses"] = violating;
    v.verdict = "violated";
  } else if (under[0] + under[1] > 0) {
    v.verdict = "holds";
  } else if (attempted > 0) {
    v.verdict = "inconclusive: collapses happened but no huge page allocation was seen";
  } else {
    v.verdict = "inconclusive: no collapse happened";
  }
  return v;
}

Verdict verdict_mlock_populate(const nlohmann::json& report, const nlohmann::json&, const nlohmann::json& stats) {
  Verdict v;
  uint64_t populated[2] = {0, 0};
  auto stacks = nlohmann::json::array();
  for (const auto& a : report.value("allocations_under_lock", nlohmann::json::array())) {
    if (a.value("kind", "") != "page") continue;
    bool population = false;
    for (const auto& f : a.value("stack", nlohmann::json::array())) population |= is_population_frame(f.get<std::string>());
    if (!population) continue;
    bool write = a.value("mode", "") == "write";
    populated[write] += u(a, "count");
    if (write && stacks.size() < 5) stacks.push_back({{"mode", "write"}, {"count", a["count"]}, {"stack", top_frames(a["stack"], 10)}});
  }
  // The mlocking thread's longest write hold, against the time its longest mlock() call took.
  uint64_t mlocker_write_max = 0;
  for (const auto& h : report.value("longest_holds", nlohmann::json::array()))
    if (h["task"].value("comm", "") == "mlocker" && h["task"].value("mode", "") == "write")
      mlocker_write_max = std::max(mlocker_write_max, u(h, "duration_ns"));
  // The /proc reader's stall that the seed names: its waits behind the mlocking thread's write holds. Its total stall
  // also includes waits behind the faulting threads' writes, queued behind the population's read hold: rwsem
  // fairness, on a fixed kernel too.
  auto reader_blocked_by = nlohmann::json::array();
  uint64_t reader_behind_mlock_write = 0;
  for (const auto& b : report.value("waits_blocked_by", nlohmann::json::array())) {
    if (b.value("waiter", "") != "ps-reader") continue;
    if (reader_blocked_by.size() < 5) reader_blocked_by.push_back(b);
    if (b.value("holder", "") == "mlocker" && b.value("holder_mode", "") == "write") reader_behind_mlock_write += u(b, "total_ns");
  }
  uint64_t mlock_max = u(stats, "mlock_max_ns");
  v.evidence = {{"population_allocations_under_read", populated[0]},
                {"population_allocations_under_write", populated[1]},
                {"mlocker_longest_write_hold_ns", mlocker_write_max},
                {"longest_mlock_call_ns", mlock_max},
                {"reader_max_ns", u(stats, "reader_max_ns")},
                {"reader_p99_ns", u(stats, "reader_p99_ns")},
                {"reader_blocked_by", reader_blocked_by},
                {"reader_wait_behind_mlocker_write_ns", reader_behind_mlock_write},
                {"workload", stats}};
  bool spans = mlock_max > 0 && mlocker_write_max * 2 >= mlock_max && mlocker_write_max >= 10'000'000;
  if (populated[1] > 0 || spans) {
    v.evidence["violating_stacks"] = stacks;
    v.verdict = "violated";
  } else if (populated[0] > 0 && u(stats, "reader_ops") > 0) {
    v.verdict = "holds";
  } else if (populated[0] == 0) {
    v.verdict = "inconclusive: no page of the mlocked region was seen being faulted in";
  } else {
    v.verdict = "inconclusive: the /proc reader never ran";
  }
  return v;
}

nlohmann::json other_sleeping_work(const nlohmann::json& report) {
  nlohmann::json out = {{"sleeping", nlohmann::json::array()}};
  for (const auto& s : report.value("sleeping_under_lock", nlohmann::json::array()))
    out["sleeping"].push_back({{"kind", s["kind"]}, {"mode", s["mode"]}, {"count", s["count"]},
                               {"total_ns", s["total_ns"]}, {"stack", top_frames(s["stack"], 6)}});
  uint64_t may_sleep[2] = {0, 0};
  for (const auto& a : report.value("allocations_under_lock", nlohmann::json::array()))
    if (a.value("may_sleep", false)) may_sleep[a.value("mode", "") == "write"] += u(a, "count");
  out["may_sleep_allocations"] = {{"read", may_sleep[0]}, {"write", may_sleep[1]}};
  return out;
}

}  // namespace holdscope
