// Scenario verdicts: each a pure function of the report JSON, the /proc/vmstat deltas over the run, and the
// workload's own figures, so that every rule can be tested on synthetic inputs with both outcomes.
// A verdict is "holds", "violated", or "inconclusive: <why>" when the run did not exercise the invariant at all
// (no drain issued, nothing migrated): a verdict reached while the workload did nothing is not a verdict.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace holdscope {

struct Verdict {
  std::string verdict;
  nlohmann::json evidence;
};

// seed 000: no LRU drain is issued while the caller holds mmap_lock.
Verdict verdict_migrate_prep(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats);
// seed 001: khugepaged (and MADV_COLLAPSE) allocate the huge page with no mmap_lock held for write.
Verdict verdict_khugepaged(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats);
// seed 002: nothing allocated under the anon_vma lock may sleep (NOWAIT first; GFP_KERNEL only after dropping it).
Verdict verdict_anon_vma_clone(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats);
// seed 003: mlock faults the region in under the read lock; no write hold spans the population.
Verdict verdict_mlock_populate(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats);
// seed 004 (6.7+): no migration target page is allocated under mmap_lock.
Verdict verdict_mbind_migrate(const nlohmann::json& report, const nlohmann::json& vmstat, const nlohmann::json& stats);

// Sleeping work under mmap_lock the run revealed, whatever the scenario's own invariant: (kind, mode, count, time,
// top frames) per group, and may-sleep allocation totals per mode.
nlohmann::json other_sleeping_work(const nlohmann::json& report);

}  // namespace holdscope
