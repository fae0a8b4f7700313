#include "analyzers/section_sleeping_work.h"

#include <algorithm>

namespace holdscope {

namespace {

constexpr const char* kSleepKindNames[] = {"direct_reclaim", "compaction", "lru_drain"};

}  // namespace

void SleepingWorkSection::on_begin(const hs_event& e, int mode, bool reclaim, TaskState& t) {
  auto& slot = reclaim ? t.reclaim : t.compaction;
  if (slot) unmatched_++;
  slot = Timed{e.ts, e.stack_id, mode == static_cast<int>(LockMode::write), (e.flag & HS_RECLAIM_F_MEMCG) != 0};
}

void SleepingWorkSection::on_end(const hs_event& e, bool reclaim, TaskState* t) {
  if (!t) return;
  auto& slot = reclaim ? t->reclaim : t->compaction;
  if (!slot) return;  // began before the hold, or before the trace: not work under the lock
  auto& a = groups_[Key{reclaim ? kSleepReclaim : kSleepCompaction,
                        static_cast<int>(slot->write ? LockMode::write : LockMode::read), slot->memcg, slot->stack_id}];
  a.count++;
  a.total_ns += e.ts - std::min<uint64_t>(e.ts, slot->start);
  slot.reset();
}

void SleepingWorkSection::on_drain_work(int mode, int32_t stack_id, bool first_of_call) {
  auto& a = groups_[Key{kSleepLruDrain, mode, false, stack_id}];
  a.works++;
  if (first_of_call) a.count++;
}

void SleepingWorkSection::add_drain_time(int mode, int32_t stack_id, uint64_t ns) {
  groups_[Key{kSleepLruDrain, mode, false, stack_id}].total_ns += ns;
}

void SleepingWorkSection::finish(Report& r) {
  for (const auto& [k, a] : groups_) {
    SleepGroup g;
    g.kind = kSleepKindNames[k.kind];
    g.mode = lock_mode_name(k.mode);
    g.memcg = k.memcg;
    g.count = a.count;
    g.total_ns = a.total_ns;
    g.works = a.works;
    g.stack = names_.stack(k.stack);
    r.sleeping.push_back(std::move(g));
  }
  std::stable_sort(r.sleeping.begin(), r.sleeping.end(), [](const SleepGroup& a, const SleepGroup& b) {
    return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.count > b.count;
  });
  r.drops.unmatched += unmatched_;
}

}  // namespace holdscope
