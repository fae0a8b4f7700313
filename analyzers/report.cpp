#include "analyzers/report.h"

#include <algorithm>

#include <fmt/format.h>

namespace holdscope {

namespace {

nlohmann::json summary_json(const Summary& s) {
  return {{"count", s.count}, {"total_ns", s.total_ns}, {"p50_ns", s.p50_ns},
          {"p90_ns", s.p90_ns}, {"p99_ns", s.p99_ns},   {"max_ns", s.max_ns}};
}

nlohmann::json modes_json(const ModeSummaries& m) {
  return {{"read", summary_json(m.read)}, {"write", summary_json(m.write)}};
}

nlohmann::json task_json(const TaskRef& t) {
  return {{"tid", t.tid}, {"tgid", t.tgid}, {"comm", t.comm}, {"mode", held_mode_name(t.write)}};
}

std::string dur(uint64_t ns) {
  if (ns >= 1'000'000'000) return fmt::format("{:.2f}s", ns / 1e9);
  if (ns >= 1'000'000) return fmt::format("{:.2f}ms", ns / 1e6);
  if (ns >= 1'000) return fmt::format("{:.1f}us", ns / 1e3);
  return fmt::format("{}ns", ns);
}

std::string bytes_str(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.1f}G", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.1f}M", b / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f}K", b / 1024.0);
  return fmt::format("{}B", b);
}

void summary_row(std::ostream& out, const char* label, const Summary& s) {
  out << fmt::format("  {:<6} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}\n", label, s.count, dur(s.p50_ns),
                     dur(s.p90_ns), dur(s.p99_ns), dur(s.max_ns), dur(s.total_ns));
}

void stack_lines(std::ostream& out, const std::vector<std::string>& stack, size_t depth, const char* indent) {
  if (stack.empty()) {
    out << indent << "(no stack)\n";
    return;
  }
  for (size_t i = 0; i < stack.size() && i < depth; i++) out << indent << stack[i] << "\n";
}

nlohmann::json by_lock_json(const std::array<uint64_t, 3>& a) {
  return {{"none", a[0]}, {"read", a[1]}, {"write", a[2]}};
}

nlohmann::json attach_points_json(const Report& r) {
  auto out = nlohmann::json::array();
  for (const auto& p : r.attach_points) {
    nlohmann::json j = {{"name", p.name}, {"mode", to_string(p.mode)}, {"why", p.why}};
    j["calls"] = p.calls ? nlohmann::json(*p.calls) : nlohmann::json(nullptr);
    j["calls_by_lock"] = p.calls_by_lock ? by_lock_json(*p.calls_by_lock) : nlohmann::json(nullptr);
    auto& fns = j["functions"] = nlohmann::json::array();
    for (const auto& f : p.functions)
      fns.push_back({{"name", f.name}, {"calls", f.calls}, {"calls_by_lock", by_lock_json(f.calls_by_lock)},
                     {"time_inside", summary_json(f.time_inside)}, {"open_at_end", f.open_at_end}});
    j["inside"] = {{"page_allocs", p.page_allocs}, {"slab_allocs", p.slab_allocs},
                   {"may_sleep_allocs", p.may_sleep_allocs}, {"reclaims", p.reclaims},
                   {"reclaim_ns", p.reclaim_ns}, {"compactions", p.compactions}, {"compaction_ns", p.compaction_ns}};
    auto& st = j["held_lock_stacks"] = nlohmann::json::array();
    for (const auto& s : p.held_lock_stacks) st.push_back({{"mode", s.mode}, {"count", s.count}, {"stack", s.stack}});
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::json khugepaged_json(const KhugepagedReport& k) {
  auto mms = nlohmann::json::array();
  for (const auto& m : k.mms) {
    auto cs = nlohmann::json::array();
    for (const auto& c : m.collapses) {
      auto seq = nlohmann::json::array();
      for (const auto& s : c.sequence)
        seq.push_back({{"what", s.what}, {"lock", s.lock}, {"start_ns", s.start_ns}, {"duration_ns", s.duration_ns}});
      auto bl = nlohmann::json::array();
      for (const auto& b : c.blocked)
        bl.push_back({{"tid", b.tid}, {"comm", b.comm}, {"mode", b.mode}, {"wait_ns", b.wait_ns}});
      cs.push_back({{"tid", c.tid}, {"comm", c.comm}, {"start_ns", c.start_ns}, {"duration_ns", c.duration_ns},
                    {"succeeded", c.succeeded}, {"result", c.result}, {"huge_page_allocated_under", c.alloc_under},
                    {"write_hold_ns", c.write_hold_ns}, {"lock_sequence", seq}, {"blocked", bl}});
    }
    mms.push_back({{"mm", m.mm},
                   {"tgid", m.tgid},
                   {"comm", m.comm},
                   {"attempted", m.attempted},
                   {"succeeded", m.succeeded},
                   {"huge_page_allocated_under",
                    {{"none", m.alloc_under[0]}, {"read", m.alloc_under[1]}, {"write", m.alloc_under[2]},
                     {"unseen", m.alloc_under[3]}}},
                   {"write_hold", summary_json(m.write_hold)},
                   {"blocked_waits", m.blocked_waits},
                   {"blocked_max_ns", m.blocked_max_ns},
                   {"collapses", cs}});
  }
  return {{"mode", to_string(k.mode)}, {"mms", mms}};
}

nlohmann::json slow_path_json(const SlowPathReport& s) {
  nlohmann::json by = nlohmann::json::object();
  for (int i = 0; i < kLockModes; i++) {
    const auto& b = s.by_lock[i];
    by[lock_mode_name(i)] = {{"entries", b.entries},       {"failed", b.failed},           {"reclaims", b.reclaims},
                    {"reclaim_ns", b.reclaim_ns}, {"compactions", b.compactions}, {"compaction_ns", b.compaction_ns}};
  }
  return {{"mode", to_string(s.mode)}, {"by_lock", by}};
}

void render_attach_points(const Report& r, std::ostream& out) {
  out << "attach points\n";
  for (const auto& p : r.attach_points) {
    out << fmt::format("  {:<15} {:<9} {}\n", p.name, to_string(p.mode), p.why);
    if (p.calls) {
      out << fmt::format("      calls {}", *p.calls);
      if (p.calls_by_lock)
        out << fmt::format(" (caller held mmap_lock: none {}, read {}, write {})", (*p.calls_by_lock)[0],
                           (*p.calls_by_lock)[1], (*p.calls_by_lock)[2]);
      out << "\n";
    }
    for (const auto& f : p.functions)
      out << fmt::format("      {:<26} {:>7} calls, time inside p50 {} p99 {} max {} total {}\n", f.name, f.calls,
                         dur(f.time_inside.p50_ns), dur(f.time_inside.p99_ns), dur(f.time_inside.max_ns),
                         dur(f.time_inside.total_ns));
    if (p.page_allocs || p.slab_allocs || p.reclaims || p.compactions)
      out << fmt::format("      inside: {} page and {} slab allocations ({} may sleep), {} reclaims {}, {} compactions {}\n",
                         p.page_allocs, p.slab_allocs, p.may_sleep_allocs, p.reclaims, dur(p.reclaim_ns), p.compactions,
                         dur(p.compaction_ns));
    for (const auto& s : p.held_lock_stacks) {
      out << fmt::format("      {}x with mmap_lock held for {}:\n", s.count, s.mode);
      stack_lines(out, s.stack, 5, "          ");
    }
  }
  out << "\n";
}

void render_khugepaged(const KhugepagedReport& k, std::ostream& out) {
  out << fmt::format("khugepaged and MADV_COLLAPSE ({})\n", to_string(k.mode));
  if (k.mms.empty()) out << "  no collapse seen\n";
  for (const auto& m : k.mms) {
    out << fmt::format("  mm 0x{:x} ({}[{}]): {} collapses attempted, {} succeeded; huge page allocated with mmap_lock "
                       "none {}, read {}, write {}, unseen {}\n",
                       m.mm, m.comm.empty() ? "?" : m.comm, m.tgid, m.attempted, m.succeeded, m.alloc_under[0],
                       m.alloc_under[1], m.alloc_under[2], m.alloc_under[3]);
    out << fmt::format("      write hold per collapse p50 {} max {}; {} waits of other tasks blocked, longest {}\n",
                       dur(m.write_hold.p50_ns), dur(m.write_hold.max_ns), m.blocked_waits, dur(m.blocked_max_ns));
    for (size_t i = 0; i < m.collapses.size() && i < 5; i++) {
      const auto& c = m.collapses[i];
      std::string seq;
      for (const auto& s : c.sequence)
        seq += (seq.empty() ? "" : " -> ") +
               (s.what == "huge_page" ? "alloc huge page (lock " + s.lock + ")" : s.what + " " + dur(s.duration_ns));
      out << fmt::format("      +{} {}[{}] {}: {}\n", dur(c.start_ns), c.comm, c.tid, c.result, seq.empty() ? "-" : seq);
    }
  }
  out << "\n";
}

void render_slow_path(const SlowPathReport& s, std::ostream& out) {
  out << fmt::format("allocator slow path ({})\n", to_string(s.mode));
  for (int i = 0; i < kLockModes; i++) {
    const auto& b = s.by_lock[i];
    out << fmt::format("  mmap_lock {:<5} {:>7} entries ({} failed), direct reclaim {}x {}, compaction {}x {}\n",
                       lock_mode_name(i), b.entries, b.failed, b.reclaims, dur(b.reclaim_ns), b.compactions, dur(b.compaction_ns));
  }
  out << "\n";
}

}  // namespace

nlohmann::json report_to_json(const Report& r) {
  nlohmann::json j;
  j["kernel"] = r.kernel;
  j["scope"] = r.scope;
  j["command"] = r.command;
  j["duration_ns"] = r.duration_ns;
  j["events"] = r.events;
  j["holds"] = modes_json(r.holds);
  j["waits"] = modes_json(r.waits);
  j["trylock_failures"] = {{"read", r.trylock_failures_read}, {"write", r.trylock_failures_write}};
  j["downgrades"] = r.downgrades;
  j["holds_open_at_start"] = r.holds_open_at_start;
  j["holds_open_at_end"] = r.holds_open_at_end;
  auto& procs = j["processes"] = nlohmann::json::array();
  for (const auto& p : r.processes)
    procs.push_back({{"tgid", p.tgid}, {"comm", p.comm}, {"holds", modes_json(p.holds)}, {"waits", modes_json(p.waits)}});
  auto& cgroups = j["cgroups"] = nlohmann::json::array();
  for (const auto& c : r.cgroups)
    cgroups.push_back({{"id", c.id},
                       {"path", c.path},
                       {"tasks", c.tasks},
                       {"holds", modes_json(c.holds)},
                       {"waits", modes_json(c.waits)},
                       {"allocations", c.allocations},
                       {"may_sleep_allocations", c.may_sleep_allocations}});
  if (!r.cgroup_filter.empty()) j["cgroup_filter"] = r.cgroup_filter;
  auto& lh = j["longest_holds"] = nlohmann::json::array();
  for (const auto& h : r.longest_holds)
    lh.push_back({{"task", task_json(h.task)},
                  {"mode", held_mode_name(h.task.write)},
                  {"mm", fmt::format("0x{:x}", h.mm)},
                  {"start_ns", h.start_ns},
                  {"duration_ns", h.duration_ns},
                  {"stack", h.stack}});
  auto& lw = j["longest_waits"] = nlohmann::json::array();
  for (const auto& w : r.longest_waits) {
    auto holders = nlohmann::json::array();
    for (const auto& t : w.holders) holders.push_back(task_json(t));
    lw.push_back({{"task", task_json(w.task)},
                  {"mode", held_mode_name(w.task.write)},
                  {"mm", fmt::format("0x{:x}", w.mm)},
                  {"start_ns", w.start_ns},
                  {"duration_ns", w.duration_ns},
                  {"holders", holders}});
  }
  auto& bb = j["waits_blocked_by"] = nlohmann::json::array();
  for (const auto& b : r.waits_blocked_by)
    bb.push_back({{"waiter", b.waiter}, {"holder", b.holder}, {"holder_mode", b.holder_mode}, {"count", b.count},
                  {"total_ns", b.total_ns}});
  auto& al = j["allocations_under_lock"] = nlohmann::json::array();
  for (const auto& a : r.allocations) {
    nlohmann::json g = {{"kind", a.kind},   {"mode", a.mode},           {"gfp", a.gfp},
                        {"gfp_value", a.gfp_value}, {"may_sleep", a.may_sleep}, {"count", a.count},
                        {"bytes", a.bytes}, {"failed", a.failed},       {"stack", a.stack}};
    if (a.kind == "page")
      g["order"] = a.order;
    else
      g["cache"] = a.cache;
    al.push_back(std::move(g));
  }
  auto& sl = j["sleeping_under_lock"] = nlohmann::json::array();
  for (const auto& s : r.sleeping) {
    nlohmann::json g = {{"kind", s.kind}, {"mode", s.mode}, {"count", s.count}, {"total_ns", s.total_ns}, {"stack", s.stack}};
    if (s.kind == "direct_reclaim") g["memcg"] = s.memcg;
    if (s.kind == "lru_drain") g["works"] = s.works;
    sl.push_back(std::move(g));
  }
  nlohmann::json by_sc = nlohmann::json::object();
  for (const auto& [sc, c] : r.lru_drains.by_syscall) by_sc[sc] = {{"none", c[0]}, {"read", c[1]}, {"write", c[2]}};
  j["lru_drains"] = {{"calls", {{"none", r.lru_drains.calls_none}, {"read", r.lru_drains.calls_read},
                                {"write", r.lru_drains.calls_write}}},
                     {"works", r.lru_drains.works},
                     {"inferred_calls", r.lru_drains.inferred_calls},
                     {"queued_calls", r.lru_drains.queued_calls},
                     {"by_syscall", by_sc}};
  const auto& ac = r.anon_vma_clone;
  j["anon_vma_clone"] = {{"mode", to_string(ac.mode)},
                         {"nowait_attempts", ac.nowait_attempts},
                         {"nowait_failures", ac.nowait_failures},
                         {"gfp_kernel_retries", ac.gfp_kernel_retries},
                         {"may_sleep_under_anon_vma_lock", ac.may_sleep_under_lock},
                         {"may_sleep_stacks", ac.may_sleep_stacks}};
  j["attach_points"] = attach_points_json(r);
  j["khugepaged"] = khugepaged_json(r.khugepaged);
  j["slow_path"] = slow_path_json(r.slow_path);
  j["analyzer_state"] = {{"tracked_tasks_peak", r.analyzer_state.tracked_tasks_peak},
                         {"tracked_tasks_end", r.analyzer_state.tracked_tasks_end},
                         {"tracked_locks_end", r.analyzer_state.tracked_locks_end}};
  j["drops"] = {{"ringbuf", r.drops.ringbuf},           {"map_full", r.drops.map_full},
                {"stack", r.drops.stack},               {"unmatched", r.drops.unmatched},
                {"out_of_order", r.drops.out_of_order}, {"held_overflow", r.drops.held_overflow},
                {"untraced_processes", r.drops.untraced_processes}};
  return j;
}

void render_text(const Report& r, std::ostream& out, size_t top) {
  out << fmt::format("holdscope report: kernel {}, {} traced, scope {}", r.kernel, dur(r.duration_ns), r.scope);
  if (!r.command.empty()) {
    out << " (";
    for (size_t i = 0; i < r.command.size(); i++) out << (i ? " " : "") << r.command[i];
    out << ")";
  }
  if (!r.cgroup_filter.empty()) out << ", memory cgroup " << r.cgroup_filter;
  out << fmt::format(", {} events\n\n", r.events);

  const std::string header = fmt::format("  {:<6} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "mode", "count", "p50", "p90", "p99", "max", "total");
  out << "mmap_lock holds\n" << header;
  summary_row(out, "read", r.holds.read);
  summary_row(out, "write", r.holds.write);
  out << fmt::format("  downgrades {}, trylock/killable failures read {} write {}, open at start {} at end {}\n\n",
                     r.downgrades, r.trylock_failures_read, r.trylock_failures_write, r.holds_open_at_start,
                     r.holds_open_at_end);

  out << "mmap_lock waits (start_locking to acquire_returned)\n" << header;
  summary_row(out, "read", r.waits.read);
  summary_row(out, "write", r.waits.write);
  out << "\n";

  out << "holds per process (by total hold time)\n";
  out << fmt::format("  {:>7} {:<16} {:>8} {:>10} {:>10} {:>8} {:>10} {:>10}\n", "tgid", "comm", "reads", "r.p99",
                     "r.max", "writes", "w.p99", "w.max");
  for (size_t i = 0; i < r.processes.size() && i < top; i++) {
    const auto& p = r.processes[i];
    out << fmt::format("  {:>7} {:<16} {:>8} {:>10} {:>10} {:>8} {:>10} {:>10}\n", p.tgid, p.comm, p.holds.read.count,
                       dur(p.holds.read.p99_ns), dur(p.holds.read.max_ns), p.holds.write.count,
                       dur(p.holds.write.p99_ns), dur(p.holds.write.max_ns));
  }
  if (r.processes.size() > top) out << fmt::format("  ... {} more\n", r.processes.size() - top);
  out << "\n";

  // Recordings from before cgroups were recorded know none: no table rather than one row of "?".
  if (std::any_of(r.cgroups.begin(), r.cgroups.end(), [](const CgroupStats& c) { return c.id != 0; })) {
    out << "holds per memory cgroup (by total hold time)\n";
    out << fmt::format("  {:<28} {:>5} {:>8} {:>10} {:>8} {:>10} {:>10} {:>9} {:>9}\n", "cgroup", "tasks", "reads",
                       "r.p99", "writes", "w.p99", "w.max", "allocs", "may-sleep");
    for (size_t i = 0; i < r.cgroups.size() && i < top; i++) {
      const auto& c = r.cgroups[i];
      out << fmt::format("  {:<28} {:>5} {:>8} {:>10} {:>8} {:>10} {:>10} {:>9} {:>9}\n", c.path, c.tasks,
                         c.holds.read.count, dur(c.holds.read.p99_ns), c.holds.write.count, dur(c.holds.write.p99_ns),
                         dur(c.holds.write.max_ns), c.allocations, c.may_sleep_allocations);
    }
    if (r.cgroups.size() > top) out << fmt::format("  ... {} more\n", r.cgroups.size() - top);
    out << "\n";
  }

  out << "longest holds\n";
  for (size_t i = 0; i < r.longest_holds.size() && i < top; i++) {
    const auto& h = r.longest_holds[i];
    out << fmt::format("  {:>10} {:<5} {}[{}] tgid {} mm 0x{:x} at +{}\n", dur(h.duration_ns),
                       held_mode_name(h.task.write), h.task.comm, h.task.tid, h.task.tgid, h.mm, dur(h.start_ns));
    stack_lines(out, h.stack, 6, "        ");
  }
  out << "\n";

  out << "longest waits, with the tasks holding the lock meanwhile\n";
  for (size_t i = 0; i < r.longest_waits.size() && i < top; i++) {
    const auto& w = r.longest_waits[i];
    out << fmt::format("  {:>10} {:<5} {}[{}] mm 0x{:x} at +{}; held by:", dur(w.duration_ns),
                       held_mode_name(w.task.write), w.task.comm, w.task.tid, w.mm, dur(w.start_ns));
    if (w.holders.empty()) out << " (nobody seen)";
    for (const auto& h : w.holders) out << fmt::format(" {}[{}]/{}", h.comm, h.tid, held_mode_name(h.write));
    out << "\n";
  }
  out << "\n";

  out << "who waited behind whom (all waits; a wait behind two holders counts for both)\n";
  for (size_t i = 0; i < r.waits_blocked_by.size() && i < top; i++) {
    const auto& b = r.waits_blocked_by[i];
    out << fmt::format("  {:<16} behind {:<16} ({:<5}) {:>7} waits, total {:>10}\n", b.waiter, b.holder, b.holder_mode,
                       b.count, dur(b.total_ns));
  }
  out << "\n";

  out << "allocations under mmap_lock (by stack)\n";
  for (size_t i = 0; i < r.allocations.size() && i < top; i++) {
    const auto& a = r.allocations[i];
    std::string what = a.kind == "page" ? fmt::format("page order {}", a.order) : fmt::format("slab {}", a.cache);
    out << fmt::format("  {:>8}x {:>8} {:<5} {:<28} {}{}{}\n", a.count, bytes_str(a.bytes), a.mode, what, a.gfp,
                       a.may_sleep ? "  [may-sleep]" : "", a.failed ? fmt::format("  [{} failed]", a.failed) : "");
    stack_lines(out, a.stack, 5, "             ");
  }
  if (r.allocations.size() > top) out << fmt::format("  ... {} more groups\n", r.allocations.size() - top);
  out << "\n";

  out << "sleeping work under mmap_lock\n";
  if (r.sleeping.empty()) out << "  none seen\n";
  for (const auto& s : r.sleeping) {
    out << fmt::format("  {:<15} {:<5} {:>6}x total {:>10}{}{}\n", s.kind, s.mode, s.count, dur(s.total_ns),
                       s.memcg ? "  (memcg limit)" : "", s.kind == "lru_drain" ? fmt::format("  {} per-cpu works", s.works) : "");
    stack_lines(out, s.stack, 6, "        ");
  }
  out << fmt::format("  lru_add_drain calls: {} without mmap_lock, {} under read, {} under write ({} per-cpu works)\n",
                     r.lru_drains.calls_none, r.lru_drains.calls_read, r.lru_drains.calls_write, r.lru_drains.works);
  for (const auto& [sc, c] : r.lru_drains.by_syscall)
    out << fmt::format("    {:<16} {} without mmap_lock, {} under read, {} under write\n", sc, c[0], c[1], c[2]);
  out << "\n";

  const auto& ac = r.anon_vma_clone;
  out << fmt::format("anon_vma_clone ({}): {} GFP_NOWAIT tries, {} failed, {} GFP_KERNEL retries after dropping the "
                     "lock, {} may-sleep tries under the anon_vma lock\n",
                     to_string(ac.mode), ac.nowait_attempts, ac.nowait_failures, ac.gfp_kernel_retries, ac.may_sleep_under_lock);
  for (const auto& st : ac.may_sleep_stacks) stack_lines(out, st, 6, "        ");
  out << "\n";
  render_attach_points(r, out);
  render_khugepaged(r.khugepaged, out);
  render_slow_path(r.slow_path, out);

  out << fmt::format("drops: ringbuf {}, map_full {}, stack {}, unmatched {}, out_of_order {}, held_overflow {}\n",
                     r.drops.ringbuf, r.drops.map_full, r.drops.stack, r.drops.unmatched, r.drops.out_of_order,
                     r.drops.held_overflow);
  if (r.drops.untraced_processes)
    out << fmt::format("  {} process{} of the traced command found no room in the scope map and {} not traced: every "
                       "hold of {} is missing from this report\n",
                       r.drops.untraced_processes, r.drops.untraced_processes == 1 ? "" : "es",
                       r.drops.untraced_processes == 1 ? "was" : "were", r.drops.untraced_processes == 1 ? "it" : "theirs");
}

}  // namespace holdscope
