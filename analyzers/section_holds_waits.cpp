#include "analyzers/section_holds_waits.h"

#include <algorithm>

namespace holdscope {

template <typename Rec>
void HoldsWaitsSection::keep_longest(std::vector<Rec>& v, Rec rec) {
  if (top_ == 0) return;
  if (v.size() < top_) {
    v.push_back(std::move(rec));
    return;
  }
  auto min = std::min_element(v.begin(), v.end(), [](const Rec& a, const Rec& b) { return a.duration_ns < b.duration_ns; });
  if (min->duration_ns < rec.duration_ns) *min = std::move(rec);
}

uint64_t HoldsWaitsSection::longest_holds_min() const {
  uint64_t m = UINT64_MAX;
  for (const auto& h : longest_holds_) m = std::min(m, h.duration_ns);
  return m;
}

void HoldsWaitsSection::on_hold(const HoldEnded& h) {
  uint64_t d = h.end - std::min<uint64_t>(h.end, h.start);
  auto& p = procs_[h.tgid];
  if (h.write) {
    hold_w_.add(d);
    p.hold_w.add(d);
  } else {
    hold_r_.add(d);
    p.hold_r.add(d);
  }
  if (longest_holds_.size() < top_ || d > longest_holds_min())
    keep_longest(longest_holds_, HoldRecord{TaskRef{h.tid, h.tgid, names_.comm(h.tid), h.write}, h.mm,
                                            names_.since_start(h.start), d, names_.stack(h.stack_id)});
}

void HoldsWaitsSection::on_wait(const WaitEnded& w) {
  uint64_t d = w.end - std::min<uint64_t>(w.end, w.start);
  auto& p = procs_[w.tgid];
  (w.write ? wait_w_ : wait_r_).add(d);
  (w.write ? p.wait_w : p.wait_r).add(d);
  for (const auto& h : w.holders) {
    auto& b = blocked_by_[{names_.comm(w.tid), h.comm, h.write}];
    b.first++;
    b.second += d;
  }
  keep_longest(longest_waits_, WaitRecord{TaskRef{w.tid, w.tgid, names_.comm(w.tid), w.write}, w.mm,
                                          names_.since_start(w.start), d, w.holders});
}

void HoldsWaitsSection::finish(Report& r) {
  r.holds = {hold_r_.summarize(), hold_w_.summarize()};
  r.waits = {wait_r_.summarize(), wait_w_.summarize()};
  for (auto& [tgid, p] : procs_) {
    ProcessStats ps;
    ps.tgid = tgid;
    auto c = ctx_.comms.find(tgid);
    if (c != ctx_.comms.end()) {
      ps.comm = c->second.comm;
    } else {
      for (const auto& [tid, tn] : ctx_.comms)
        if (tn.tgid == tgid) {
          ps.comm = tn.comm;
          break;
        }
    }
    ps.holds = {p.hold_r.summarize(), p.hold_w.summarize()};
    ps.waits = {p.wait_r.summarize(), p.wait_w.summarize()};
    r.processes.push_back(std::move(ps));
  }
  std::sort(r.processes.begin(), r.processes.end(), [](const ProcessStats& a, const ProcessStats& b) {
    return a.holds.read.total_ns + a.holds.write.total_ns > b.holds.read.total_ns + b.holds.write.total_ns;
  });
  auto by_duration = [](const auto& a, const auto& b) { return a.duration_ns > b.duration_ns; };
  std::sort(longest_holds_.begin(), longest_holds_.end(), by_duration);
  std::sort(longest_waits_.begin(), longest_waits_.end(), by_duration);
  r.longest_holds = std::move(longest_holds_);
  r.longest_waits = std::move(longest_waits_);
  for (const auto& [k, v] : blocked_by_)
    r.waits_blocked_by.push_back(
        BlockedBy{std::get<0>(k), std::get<1>(k), held_mode_name(std::get<2>(k)), v.first, v.second});
  std::sort(r.waits_blocked_by.begin(), r.waits_blocked_by.end(),
            [](const BlockedBy& a, const BlockedBy& b) { return a.total_ns > b.total_ns; });
}

}  // namespace holdscope
