#include "analyzers/section_khugepaged.h"

#include <algorithm>

namespace holdscope {

namespace {

constexpr uint64_t kStaleCollapseNs = 1'000'000'000;  // an inferred collapse whose tracepoint never came
constexpr size_t kKeptCollapses = 20;
constexpr size_t kRecentCollapsesPerMm = 4;
constexpr size_t kBlockedWaitsKept = 64;
constexpr size_t kTasksBeforeStaleSweep = 1024;
constexpr uint64_t kScanSucceed = 1;  // enum scan_result's SCAN_SUCCEED, the same in 6.1 through 6.18
constexpr int kAllocUnseen = 3;       // alloc_under's last slot: no huge page allocation seen in the collapse

// The bracketed functions of a collapse: madvise_collapse is not one (it runs collapse_huge_page inside), a scan of
// an mm slot is one whose status comes from the tracepoint, and collapse_huge_page is an attempt by itself.
constexpr const char* kMadviseCollapse = "madvise_collapse";
constexpr const char* kScanMmSlot = "khugepaged_scan_mm_slot";
constexpr const char* kCollapseHugePage = "collapse_huge_page";

bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }

}  // namespace

KhugepagedSection::KhugepagedSection(const TraceContext& ctx, const AttachLayout& layout, const Names& names,
                                     AttachTasks& tasks, AttachPointsSection& points)
    : ctx_(ctx), layout_(layout), names_(names), tasks_(tasks), points_(points) {}

void KhugepagedSection::on_open_frame(const hs_event& e, Frame& f) {
  if (f.point != kKhugepaged || layout_.slot_name[f.slot] == kMadviseCollapse) return;
  Collapse c;
  c.tid = e.pid;
  c.mm = e.mm;
  c.start = e.ts;
  f.collapse = std::move(c);
}

void KhugepagedSection::on_close_frame(const hs_event& e, Frame& f) {
  if (!f.collapse) return;
  Collapse& c = *f.collapse;
  const std::string& fn = layout_.slot_name[f.slot];
  bool attempted = c.alloc_mode >= 0 || c.status || fn == kCollapseHugePage;
  if (!c.status && fn != kScanMmSlot) c.status = e.arg2;
  if (attempted) finalize(c, e.ts);
}

Collapse* KhugepagedSection::open_collapse(uint32_t tid) {
  auto it = tasks_.find(tid);
  if (it == tasks_.end()) return nullptr;
  if (layout_.direct(kKhugepaged)) {
    for (auto f = it->second.frames.rbegin(); f != it->second.frames.rend(); ++f)
      if (f->collapse) return &*f->collapse;
    return nullptr;
  }
  return it->second.collapse ? &*it->second.collapse : nullptr;
}

void KhugepagedSection::on_alloc(const hs_event& e, int mode) {
  if (e.type == HS_EV_PAGE_ALLOC && e.order >= HS_HUGE_ORDER) on_huge_alloc(e, mode);
}

void KhugepagedSection::on_huge_alloc(const hs_event& e, int mode) {
  if (!layout_.direct(kKhugepaged)) {
    auto& t = tasks_[e.pid];
    // A new anchor: the previous one was a huge page that no collapse followed (a THP fault, say).
    t.collapse.emplace();
    t.collapse->tid = e.pid;
    t.collapse->start = e.ts;
    if (tasks_.size() > kTasksBeforeStaleSweep) drop_stale(e.ts);
  }
  Collapse* c = open_collapse(e.pid);
  if (!c || c->alloc_mode >= 0) return;
  c->alloc_mode = mode;
  c->seq.push_back(LockStep{"huge_page", lock_mode_name(mode), e.ts, 0});
  if (layout_.direct(kKhugepaged)) return;  // counted as an allocation inside the bracket
  points_.point(kKhugepaged).page_allocs++;
  points_.note_stack(kKhugepaged, mode, e.stack_id);
}

void KhugepagedSection::drop_stale(uint64_t now) {
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    auto& t = it->second;
    if (t.collapse && now - std::min<uint64_t>(now, t.collapse->start) > kStaleCollapseNs) t.collapse.reset();
    it = t.idle() ? tasks_.erase(it) : std::next(it);
  }
}

void KhugepagedSection::on_collapse_tp(const hs_event& e) {
  if (layout_.direct(kKhugepaged)) {
    if (Collapse* c = open_collapse(e.pid)) {
      c->status = e.arg;
      if (!c->mm) c->mm = e.mm;
    }
    return;
  }
  auto& t = tasks_[e.pid];
  Collapse c = t.collapse ? std::move(*t.collapse) : Collapse{e.pid, e.mm, e.ts, -1, {}, {}, {}, {}};
  t.collapse.reset();
  c.mm = e.mm;
  c.status = e.arg;
  finalize(c, e.ts);
  if (t.idle()) tasks_.erase(e.pid);
}

void KhugepagedSection::on_scan_tp(const hs_event& e) {
  // In inferred mode the scan tracepoint closes a pmd's scan: an anchor older than it belonged to something else.
  if (layout_.direct(kKhugepaged)) return;
  auto it = tasks_.find(e.pid);
  if (it == tasks_.end() || !it->second.collapse) return;
  it->second.collapse.reset();
  if (it->second.idle()) tasks_.erase(it);
}

void KhugepagedSection::finalize(Collapse& c, uint64_t end) {
  auto& m = mms_[c.mm];
  m.out.mm = c.mm;
  m.out.attempted++;
  bool ok = c.status && *c.status == kScanSucceed;
  if (ok) m.out.succeeded++;
  m.out.alloc_under[c.alloc_mode < 0 ? kAllocUnseen : c.alloc_mode]++;
  uint64_t w = 0;
  for (const auto& [a, b] : c.writes) w += b - a;
  m.write_hold.add(w);
  m.out.blocked_waits += c.blocked.size();
  for (const auto& b : c.blocked) m.out.blocked_max_ns = std::max(m.out.blocked_max_ns, b.wait_ns);
  RecentCollapse rc{c.writes, c.tid, -1};
  if (m.out.collapses.size() < kKeptCollapses) {
    CollapseRecord rec;
    rec.tid = c.tid;
    rec.comm = names_.comm(c.tid);
    rec.start_ns = c.start >= ctx_.start_ns ? c.start - ctx_.start_ns : 0;
    rec.duration_ns = end - std::min<uint64_t>(end, c.start);
    rec.succeeded = ok;
    if (c.status) {
      auto n = ctx_.collapse_status.find(static_cast<int64_t>(*c.status));
      rec.result = n != ctx_.collapse_status.end() ? n->second : std::to_string(*c.status);
    } else {
      rec.result = "?";
    }
    rec.alloc_under = c.alloc_mode < 0 ? "unseen" : lock_mode_name(c.alloc_mode);
    rec.write_hold_ns = w;
    for (auto s : c.seq) {
      s.start_ns = s.start_ns >= c.start ? s.start_ns - c.start : 0;
      rec.sequence.push_back(std::move(s));
    }
    rec.blocked = std::move(c.blocked);
    rc.kept = static_cast<int>(m.out.collapses.size());
    m.out.collapses.push_back(std::move(rec));
  }
  if (!rc.writes.empty()) {
    m.recent.push_back(std::move(rc));
    if (m.recent.size() > kRecentCollapsesPerMm) m.recent.pop_front();
  }
}

void KhugepagedSection::on_hold(const HoldEnded& h) {
  Collapse* c = open_collapse(h.tid);
  if (c) {
    if (!c->mm) c->mm = h.mm;
    if (c->mm == h.mm) {
      c->seq.push_back(LockStep{held_mode_name(h.write), "", h.start, h.end - std::min<uint64_t>(h.end, h.start)});
      if (h.write) {
        c->writes.emplace_back(h.start, h.end);
        writing_collapsers_.insert(h.tid);
      }
    }
  }
  auto m = mms_.find(h.mm);
  if (m != mms_.end() && !m->second.out.tgid) {
    // The owner of the mm: the first task other than a collapser seen taking its lock.
    bool collapser = std::any_of(m->second.recent.begin(), m->second.recent.end(),
                                 [&](const RecentCollapse& rc) { return rc.tid == h.tid; });
    if (!collapser && !m->second.recent.empty()) {
      auto n = ctx_.comms.find(h.tid);
      if (n != ctx_.comms.end()) {
        m->second.out.tgid = n->second.tgid;
        auto leader = ctx_.comms.find(n->second.tgid);
        m->second.out.comm = leader != ctx_.comms.end() ? leader->second.comm : n->second.comm;
      }
    }
  }
}

void KhugepagedSection::on_wait(const WaitEnded& w) {
  uint32_t tid = w.tid;
  uint64_t mm = w.mm, start = w.start, end = w.end;
  BlockedWait b{tid, names_.comm(tid), held_mode_name(w.write), end - std::min<uint64_t>(end, start)};
  auto blocked_by = [&](const std::vector<std::pair<uint64_t, uint64_t>>& writes) {
    return std::any_of(writes.begin(), writes.end(), [&](const auto& x) { return overlaps(start, end, x.first, x.second); });
  };
  for (auto it = writing_collapsers_.begin(); it != writing_collapsers_.end();) {
    Collapse* c = open_collapse(*it);
    if (!c || c->writes.empty()) {
      it = writing_collapsers_.erase(it);
      continue;
    }
    if (*it != tid && c->mm == mm && blocked_by(c->writes) && c->blocked.size() < kBlockedWaitsKept)
      c->blocked.push_back(b);
    ++it;
  }
  auto m = mms_.find(mm);
  if (m == mms_.end()) return;
  for (const auto& rc : m->second.recent) {
    if (rc.tid == tid || !blocked_by(rc.writes)) continue;
    m->second.out.blocked_waits++;
    m->second.out.blocked_max_ns = std::max(m->second.out.blocked_max_ns, b.wait_ns);
    if (rc.kept >= 0 && m->second.out.collapses[rc.kept].blocked.size() < kBlockedWaitsKept)
      m->second.out.collapses[rc.kept].blocked.push_back(b);
  }
}

void KhugepagedSection::finish(Report& r) {
  r.khugepaged.mode = layout_.direct(kKhugepaged) ? AttachMode::direct : AttachMode::inferred;
  // An inferred anchor still open has no collapse tracepoint after it: a huge page that was not khugepaged's.
  for (auto& [mm, m] : mms_) {
    m.out.write_hold = m.write_hold.summarize();
    r.khugepaged.mms.push_back(std::move(m.out));
  }
}

}  // namespace holdscope
