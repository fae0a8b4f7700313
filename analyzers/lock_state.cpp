#include "analyzers/lock_state.h"

#include <algorithm>

namespace holdscope {

namespace {

// Holds kept after their release, per mm, to name the holders of a wait whose start arrives after the reorder window
// has passed it (a start folded into a late acquire event): the long holds of the last seconds, which are what a long
// wait waits behind.
constexpr uint64_t kPastHoldMinNs = 100'000;
constexpr uint64_t kPastHoldKeepNs = 10'000'000'000;
constexpr size_t kPastHoldsPerMm = 64;
constexpr uint64_t kSweepEveryNs = 1'000'000'000;
constexpr size_t kHoldersPerWait = 8;

}  // namespace

TaskState* LockState::find(uint32_t tid) {
  auto it = tasks_.find(tid);
  return it == tasks_.end() ? nullptr : &it->second;
}

LockMode LockState::mode_of(uint32_t tid) const {
  auto it = tasks_.find(tid);
  if (it == tasks_.end() || it->second.holds.empty()) return LockMode::none;
  return it->second.holds_write() ? LockMode::write : LockMode::read;
}

void LockState::remove_holder(uint64_t mm, uint32_t tid) {
  auto it = holders_by_mm_.find(mm);
  if (it == holders_by_mm_.end()) return;
  auto& v = it->second;
  auto h = std::find_if(v.begin(), v.end(), [tid](const TaskRef& t) { return t.tid == tid; });
  if (h != v.end()) v.erase(h);
  if (v.empty()) holders_by_mm_.erase(it);
}

void LockState::remove_waiter(uint64_t mm, uint32_t tid) {
  auto it = waiters_by_mm_.find(mm);
  if (it == waiters_by_mm_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), tid), v.end());
  if (v.empty()) waiters_by_mm_.erase(it);
}

void LockState::add_holder(uint64_t mm, const TaskRef& t) {
  holders_by_mm_[mm].push_back(t);
  // Everyone already waiting on this lock waited, in part, behind this task.
  auto w = waiters_by_mm_.find(mm);
  if (w == waiters_by_mm_.end()) return;
  for (uint32_t wt : w->second) {
    if (wt == t.tid) continue;
    auto ts = tasks_.find(wt);
    if (ts == tasks_.end() || !ts->second.wait) continue;
    auto& hs = ts->second.wait->holders;
    if (std::none_of(hs.begin(), hs.end(), [&](const TaskRef& x) { return x.tid == t.tid; }) &&
        hs.size() < kHoldersPerWait)
      hs.push_back(t);
  }
}

void LockState::end_hold(const hs_event& e, const Hold& h, uint64_t end) {
  uint64_t d = end - std::min<uint64_t>(end, h.start);
  if (d >= kPastHoldMinNs) {
    auto& q = past_by_mm_[h.mm];
    q.push_back(PastHold{names_.task(e, h.write), h.start, end});
    if (q.size() > kPastHoldsPerMm) q.pop_front();
  }
  // The acquisition's stack when it was taken, else the one taken at the release of a long hold.
  int32_t stack = h.stack_id >= 0 ? h.stack_id : (e.type == HS_EV_LOCK_RELEASED ? e.stack_id : -1);
  listener_.on_hold(HoldEnded{e.pid, e.tgid, h.mm, h.write, h.start, end, stack});
}

// late: processed after later events (a rebuilt start beyond the reorder window): holds that began and ended since
// its timestamp were missed by add_holder, so they are taken from the recent past.
void LockState::on_start(const hs_event& e, bool late) {
  auto& t = tasks_[e.pid];
  if (t.wait) {
    unmatched_++;  // the previous attempt never returned
    remove_waiter(t.wait->mm, e.pid);
  }
  PendingWait w{e.mm, e.write != 0, e.ts, {}};
  auto add = [&](const TaskRef& h) {
    if (h.tid != e.pid && w.holders.size() < kHoldersPerWait &&
        std::none_of(w.holders.begin(), w.holders.end(), [&](const TaskRef& x) { return x.tid == h.tid; }))
      w.holders.push_back(h);
  };
  if (late)
    if (auto p = past_by_mm_.find(e.mm); p != past_by_mm_.end())
      for (const auto& h : p->second)
        if (h.end > e.ts) add(h.who);
  if (auto it = holders_by_mm_.find(e.mm); it != holders_by_mm_.end())
    for (const auto& h : it->second) add(h);
  t.wait = std::move(w);
  waiters_by_mm_[e.mm].push_back(e.pid);
  seen_.insert(seen_key(e.pid, e.mm));
}

void LockState::on_acquired(const hs_event& e) {
  auto& t = tasks_[e.pid];
  bool write = e.write != 0;
  bool success = e.flag & HS_ACQ_F_SUCCESS;
  bool has_wait = t.wait && t.wait->mm == e.mm;
  auto held = std::find_if(t.holds.begin(), t.holds.end(), [&](const Hold& h) { return h.mm == e.mm; });

  // mmap_write_downgrade: acquire_returned(read) with no start_locking, while this task holds the write lock.
  if (success && !write && !has_wait && held != t.holds.end() && held->write) {
    end_hold(e, *held, e.ts);
    held->write = false;
    held->start = e.ts;
    for (auto& h : holders_by_mm_[e.mm])
      if (h.tid == e.pid) h.write = false;
    downgrades_++;
    seen_.insert(seen_key(e.pid, e.mm));
    return;
  }
  if (t.wait && !has_wait) {
    unmatched_++;
    remove_waiter(t.wait->mm, e.pid);
    t.wait.reset();
  }
  if (has_wait) {
    remove_waiter(e.mm, e.pid);
    if (success) listener_.on_wait(WaitEnded{e.pid, e.tgid, e.mm, write, t.wait->start, e.ts, t.wait->holders});
    t.wait.reset();
  } else if (seen_.count(seen_key(e.pid, e.mm))) {
    unmatched_++;  // its start_locking was lost
  }
  seen_.insert(seen_key(e.pid, e.mm));
  if (!success) {
    (write ? trylock_failures_write_ : trylock_failures_read_)++;
    return;
  }
  t.holds.push_back(Hold{e.mm, write, e.ts, e.stack_id});
  add_holder(e.mm, names_.task(e, write));
}

void LockState::on_released(const hs_event& e) {
  auto it = tasks_.find(e.pid);
  bool found = false;
  if (it != tasks_.end()) {
    auto& hs = it->second.holds;
    auto h = std::find_if(hs.begin(), hs.end(), [&](const Hold& x) { return x.mm == e.mm; });
    if (h != hs.end()) {
      end_hold(e, *h, e.ts);
      hs.erase(h);
      remove_holder(e.mm, e.pid);
      found = true;
    }
  }
  if (!found) {
    if (seen_.count(seen_key(e.pid, e.mm)))
      unmatched_++;
    else
      holds_open_at_start_++;
  }
  seen_.insert(seen_key(e.pid, e.mm));
  if (it != tasks_.end() && it->second.idle(e.ts)) tasks_.erase(it);
}

void LockState::on_exit(const hs_event& e) {
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end()) return;
  // A hold still open when its task exits lost its release: count it, and let nobody wait behind it any longer.
  for (const auto& h : it->second.holds) {
    unmatched_++;
    remove_holder(h.mm, e.pid);
  }
  if (it->second.wait) {
    unmatched_++;
    remove_waiter(it->second.wait->mm, e.pid);
  }
  tasks_.erase(it);
}

void LockState::expire(uint64_t now) {
  if (now < next_sweep_) return;
  for (auto it = past_by_mm_.begin(); it != past_by_mm_.end();) {
    auto& q = it->second;
    while (!q.empty() && q.front().end + kPastHoldKeepNs < now) q.pop_front();
    it = q.empty() ? past_by_mm_.erase(it) : std::next(it);
  }
  next_sweep_ = now + kSweepEveryNs;
}

void LockState::finish(Report& r) const {
  for (const auto& [tid, t] : tasks_) r.holds_open_at_end += t.holds.size();
  r.trylock_failures_read += trylock_failures_read_;
  r.trylock_failures_write += trylock_failures_write_;
  r.downgrades += downgrades_;
  r.holds_open_at_start += holds_open_at_start_;
  r.drops.unmatched += unmatched_;
}

}  // namespace holdscope
