#include "analyzers/monitor_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace holdscope {

namespace {

uint64_t minus(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

std::string duration(uint64_t ns) {
  if (ns >= 1'000'000'000) return fmt::format("{:.2f} s", ns / 1e9);
  if (ns >= 1'000'000) return fmt::format("{:.2f} ms", ns / 1e6);
  if (ns >= 1'000) return fmt::format("{:.1f} us", ns / 1e3);
  return fmt::format("{} ns", ns);
}

std::vector<std::pair<GroupKey, const GroupStats*>> by_hold_time(const std::map<GroupKey, GroupStats>& groups,
                                                                 size_t top) {
  std::vector<std::pair<GroupKey, const GroupStats*>> v;
  for (const auto& [k, g] : groups)
    if (!g.empty()) v.emplace_back(k, &g);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second->hold_ns() > b.second->hold_ns(); });
  if (v.size() > top) v.resize(top);
  return v;
}

nlohmann::json hist_json(const LockHistogram& h) {
  return {{"count", h.count},
          {"total_ns", h.sum_ns},
          {"p50_ns", h.quantile_ns(0.5)},
          {"p99_ns", h.quantile_ns(0.99)},
          {"max_ns", h.max_ns}};
}

nlohmann::json work_json(const WorkCounts& w) {
  return {{"page_allocations", w.pages},   {"slab_allocations", w.slabs},   {"kmalloc_allocations", w.kmallocs},
          {"may_sleep_allocations", w.may_sleep}, {"direct_reclaims", w.reclaims}, {"direct_reclaim_ns", w.reclaim_ns},
          {"compactions", w.compactions}, {"lru_drains", w.lru_drains}};
}

nlohmann::json group_json(const GroupStats& g) {
  nlohmann::json j;
  for (int m = 0; m < kHeldModes; m++) {
    const char* mode = to_string(static_cast<HeldMode>(m));
    j["holds"][mode] = hist_json(g.hold[m]);
    j["waits"][mode] = hist_json(g.wait[m]);
    j["under_lock"][mode] = work_json(g.work[m]);
  }
  return j;
}

}  // namespace

LockHistogram& LockHistogram::operator+=(const LockHistogram& o) {
  for (size_t i = 0; i < buckets.size(); i++) buckets[i] += o.buckets[i];
  count += o.count;
  sum_ns += o.sum_ns;
  max_ns = std::max(max_ns, o.max_ns);
  return *this;
}

LockHistogram LockHistogram::since(const LockHistogram& earlier) const {
  LockHistogram d;
  for (size_t i = 0; i < buckets.size(); i++) d.buckets[i] = minus(buckets[i], earlier.buckets[i]);
  d.count = minus(count, earlier.count);
  d.sum_ns = minus(sum_ns, earlier.sum_ns);
  d.max_ns = d.count ? max_ns : 0;
  return d;
}

uint64_t LockHistogram::quantile_ns(double q) const {
  uint64_t n = 0;
  for (uint64_t b : buckets) n += b;
  if (n == 0) return 0;
  // The rank of the quantile among n sorted values, 1-based.
  double rank = std::max(1.0, std::ceil(q * static_cast<double>(n)));
  uint64_t seen = 0;
  for (int i = 0; i < HS_MON_BUCKETS; i++) {
    if (buckets[i] == 0) continue;
    if (static_cast<double>(seen + buckets[i]) >= rank) {
      double lo = static_cast<double>(bucket_low_ns(i)), hi = static_cast<double>(bucket_low_ns(i + 1));
      double at = lo + (hi - lo) * (rank - static_cast<double>(seen)) / static_cast<double>(buckets[i]);
      uint64_t v = std::min(static_cast<uint64_t>(at), bucket_low_ns(i + 1) - 1);  // inside the bucket
      return max_ns ? std::min(v, max_ns) : v;
    }
    seen += buckets[i];
  }
  return max_ns;
}

WorkCounts& WorkCounts::operator+=(const WorkCounts& o) {
  pages += o.pages;
  slabs += o.slabs;
  kmallocs += o.kmallocs;
  may_sleep += o.may_sleep;
  reclaims += o.reclaims;
  reclaim_ns += o.reclaim_ns;
  compactions += o.compactions;
  lru_drains += o.lru_drains;
  return *this;
}

WorkCounts WorkCounts::since(const WorkCounts& e) const {
  WorkCounts d;
  d.pages = minus(pages, e.pages);
  d.slabs = minus(slabs, e.slabs);
  d.kmallocs = minus(kmallocs, e.kmallocs);
  d.may_sleep = minus(may_sleep, e.may_sleep);
  d.reclaims = minus(reclaims, e.reclaims);
  d.reclaim_ns = minus(reclaim_ns, e.reclaim_ns);
  d.compactions = minus(compactions, e.compactions);
  d.lru_drains = minus(lru_drains, e.lru_drains);
  return d;
}

bool WorkCounts::empty() const { return allocations() == 0 && reclaims == 0 && compactions == 0 && lru_drains == 0; }

WorkCounts work_from_kernel(const hs_mon_work& w) {
  WorkCounts c;
  c.pages = w.pages;
  c.slabs = w.slabs;
  c.kmallocs = w.kmallocs;
  c.may_sleep = w.may_sleep;
  c.reclaims = w.reclaims;
  c.reclaim_ns = w.reclaim_ns;
  c.compactions = w.compactions;
  c.lru_drains = w.lru_drains;
  return c;
}

GroupStats& GroupStats::operator+=(const GroupStats& o) {
  for (int m = 0; m < kHeldModes; m++) {
    hold[m] += o.hold[m];
    wait[m] += o.wait[m];
    work[m] += o.work[m];
  }
  return *this;
}

GroupStats GroupStats::since(const GroupStats& e) const {
  GroupStats d;
  for (int m = 0; m < kHeldModes; m++) {
    d.hold[m] = hold[m].since(e.hold[m]);
    d.wait[m] = wait[m].since(e.wait[m]);
    d.work[m] = work[m].since(e.work[m]);
  }
  return d;
}

bool GroupStats::empty() const {
  for (int m = 0; m < kHeldModes; m++)
    if (hold[m].count || wait[m].count || !work[m].empty()) return false;
  return true;
}

MonitorLosses MonitorLosses::since(const MonitorLosses& e) const {
  return {minus(table_full, e.table_full), minus(slow_holds_lost, e.slow_holds_lost), minus(stacks, e.stacks),
          minus(task_storage, e.task_storage), minus(held_overflow, e.held_overflow), minus(scope_full, e.scope_full)};
}

std::map<GroupKey, GroupStats> reading_delta(const MonitorReading& now, const MonitorReading& before) {
  std::map<GroupKey, GroupStats> d;
  for (const auto& [k, g] : now.groups) {
    auto it = before.groups.find(k);
    GroupStats x = it == before.groups.end() ? g.since(GroupStats{}) : g.since(it->second);
    if (!x.empty()) d[k] = x;
  }
  return d;
}

GroupStats IntervalReport::total() const {
  GroupStats t;
  for (const auto& [k, g] : groups) t += g;
  return t;
}

void render_interval(const IntervalReport& r, const GroupNamer& name, size_t top, std::ostream& out) {
  GroupStats t = r.total();
  out << fmt::format("holdscope monitor: {:.1f} s interval\n", (r.end_ns - r.start_ns) / 1e9);
  out << fmt::format("  {:<6} {:>9} {:>11} {:>10} {:>10} {:>10}   {:>9} {:>11} {:>10}\n", "mode", "holds", "total",
                     "p50", "p99", "max", "waits", "wait total", "wait max");
  for (int m = 0; m < kHeldModes; m++) {
    const auto& h = t.hold[m];
    const auto& w = t.wait[m];
    out << fmt::format("  {:<6} {:>9} {:>11} {:>10} {:>10} {:>10}   {:>9} {:>11} {:>10}\n",
                       to_string(static_cast<HeldMode>(m)), h.count, duration(h.sum_ns), duration(h.quantile_ns(0.5)),
                       duration(h.quantile_ns(0.99)), duration(h.max_ns), w.count, duration(w.sum_ns),
                       duration(w.max_ns));
  }
  WorkCounts all = t.work[0];
  all += t.work[1];
  out << fmt::format("  under the lock: {} allocations ({} may sleep), {} direct reclaims ({}), {} compactions, "
                     "{} LRU drains\n",
                     all.allocations(), all.may_sleep, all.reclaims, duration(all.reclaim_ns), all.compactions,
                     all.lru_drains);
  auto rows = by_hold_time(r.groups, top);
  if (!rows.empty()) {
    out << fmt::format("  {:<40} {:>11} {:>10} {:>10} {:>11} {:>9} {:>9}\n", "by hold time", "hold total",
                       "p99 write", "p99 read", "wait total", "may-sleep", "sleeping");
    for (const auto& [k, g] : rows) {
      WorkCounts w = g->work[0];
      w += g->work[1];
      std::string n = name(k);
      if (n.size() > 40) n = "..." + n.substr(n.size() - 37);
      out << fmt::format("  {:<40} {:>11} {:>10} {:>10} {:>11} {:>9} {:>9}\n", n, duration(g->hold_ns()),
                         duration(g->hold[1].quantile_ns(0.99)), duration(g->hold[0].quantile_ns(0.99)),
                         duration(g->wait[0].sum_ns + g->wait[1].sum_ns), w.may_sleep,
                         w.reclaims + w.compactions + w.lru_drains);
    }
  }
  if (r.losses.total())
    out << fmt::format("  lost: {} (table full {}, slow-hold records {}, stacks {}, task storage {}, held table {}, "
                       "scope {})\n",
                       r.losses.total(), r.losses.table_full, r.losses.slow_holds_lost, r.losses.stacks,
                       r.losses.task_storage, r.losses.held_overflow, r.losses.scope_full);
  else
    out << "  lost: 0\n";
}

nlohmann::json interval_to_json(const IntervalReport& r, const GroupNamer& name, size_t top) {
  nlohmann::json j;
  j["type"] = "interval";
  j["start_ns"] = r.start_ns;
  j["end_ns"] = r.end_ns;
  j["total"] = group_json(r.total());
  j["groups"] = nlohmann::json::array();
  for (const auto& [k, g] : by_hold_time(r.groups, top)) {
    nlohmann::json gj = group_json(*g);
    gj["name"] = name(k);
    gj["cgroup_id"] = k.cgroup;
    if (k.tgid) gj["pid"] = k.tgid;
    j["groups"].push_back(std::move(gj));
  }
  j["lost"] = {{"table_full", r.losses.table_full},       {"slow_holds", r.losses.slow_holds_lost},
               {"stacks", r.losses.stacks},               {"task_storage", r.losses.task_storage},
               {"held_overflow", r.losses.held_overflow}, {"scope_full", r.losses.scope_full}};
  return j;
}

std::vector<std::string> LabelBudget::add(const std::map<GroupKey, GroupStats>& delta, const GroupNamer& name) {
  std::map<std::string, GroupStats> by_name;
  for (const auto& [k, g] : delta) by_name[name(k)] += g;
  for (auto& [n, idle] : idle_) idle++;
  for (const auto& [n, g] : by_name) {
    auto it = labelled_.find(n);
    if (it == labelled_.end() && labelled_.size() < limit_) it = labelled_.emplace(n, GroupStats{}).first;
    if (it != labelled_.end()) {
      it->second += g;
      idle_[n] = 0;
    } else {
      other_ += g;
    }
  }
  std::vector<std::string> gone;
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (it->second >= idle_ticks_) {
      gone.push_back(it->first);
      labelled_.erase(it->first);
      it = idle_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

}  // namespace holdscope
