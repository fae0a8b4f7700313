#include "tool/commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "analyzers/analyze_recording.h"
#include "analyzers/diff.h"
#include "analyzers/recording.h"
#include "tool/cgroup_names.h"
#include "tool/child.h"
#include "tool/html_page.h"
#include "tool/output_file.h"
#include "tool/record_progress.h"
#include "tool/running_process.h"
#include "tool/settings_journal.h"
#include "tool/system_info.h"
#include "tool/trace_context.h"

namespace holdscope {

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr double kSystemTraceSeconds = 10;  // tracing the whole system with no duration given
constexpr int kPollMs = 100;

void install_signal_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the poll must return so the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void write_json(const Report& r, const std::string& path) { write_output_file(path, report_to_json(r).dump(2) + "\n"); }

Report analyze_file(const std::string& path, const ReportOptions& rep) {
  return analyze_and_export(path, rep.top, rep.cgroup, rep.exports);
}

}  // namespace

int run_record(const RecordOptions& ro, const ReportOptions& rep) {
  require_root();
  undo_changes_of_dead_workloads();
  if (!rep.json_path.empty()) check_output_target(rep.json_path);
  rep.exports.check();
  std::optional<RunningProcess> process;
  if (ro.pid) process.emplace(ro.pid);
  // Written beside -o and put in place only once complete: a failed run leaves whatever -o named as it was.
  OutputFile output(ro.output, ro.previous);
  std::ostream& out = output.stream();
  RecordProgress progress(ro.quiet);

  install_signal_handlers();  // before the slow part: a Ctrl-C while loading still ends with a valid recording
  std::string tracefs = tracefs_root();
  SymbolTable kallsyms = read_kallsyms();
  TraceContext ctx = system_context(tracefs, kallsyms, ro.command);
  if (process) {
    ctx.scope = "process";
    ctx.command = process->command();  // also what makes the tracer filter by target
  }
  TracerOptions to = tracer_options(ro.tracer, ctx, kallsyms);
  if (!ro.cgroup.empty()) {
    CgroupNames names;
    to.filter_cgroup = names.id_of(ro.cgroup);
    ctx.cgroup_filter = names.name(to.filter_cgroup);
  }
  Tracer tracer(to);
  add_attach_points(ctx, tracer);
  progress.attached(tracer);

  std::optional<Child> child;
  if (!ro.command.empty()) {
    child.emplace(ro.command);
    tracer.add_target(child->pid());
  }
  if (process) tracer.add_target(process->pid());
  RecordingWriter writer(out);
  tracer.start([&](const hs_event& e) { writer.add(e); });
  refresh_kallsyms(ctx, kallsyms);
  ctx.start_ns = monotonic_ns();
  if (child) child->release();

  double dur = ro.duration_s > 0 ? ro.duration_s : (child ? 0 : kSystemTraceSeconds);
  uint64_t deadline = dur > 0 ? ctx.start_ns + static_cast<uint64_t>(dur * 1e9) : UINT64_MAX;
  if (process) {
    dur = ro.duration_s;
    deadline = dur > 0 ? ctx.start_ns + static_cast<uint64_t>(dur * 1e9) : UINT64_MAX;
    progress.tracing_process(process->pid(), dur);
  } else if (!child) {
    progress.tracing_system(dur);
  }
  while (!g_stop) {
    tracer.poll(kPollMs);
    if (output.error()) throw ToolError("cannot write " + ro.output + ": " + strerror(output.error()));
    if (child && child->exited()) break;
    if (process && process->exited()) break;
    if (monotonic_ns() >= deadline) break;
  }
  ctx.end_ns = monotonic_ns();
  tracer.stop();
  if (child) ctx.command_exit = child->end();

  add_trace_results(ctx, tracer, kallsyms);
  name_cgroups(ctx);
  writer.finish(ctx);
  output.commit();

  progress.recorded(writer.events_written(), ro.output, ctx.counters,
                    child ? std::optional<int>(ctx.command_exit) : std::nullopt);
  if (!rep.json_path.empty() || rep.exports.any()) {
    Report r = analyze_file(ro.output, rep);
    if (!rep.json_path.empty()) write_json(r, rep.json_path);
  }
  return 0;
}

int run_report(const std::string& path, const ReportOptions& rep) {
  Report r = analyze_file(path, rep);
  if (rep.text) render_text(r, std::cout, rep.top);
  if (!rep.json_path.empty()) write_json(r, rep.json_path);
  return 0;
}

static std::vector<nlohmann::json> read_reports(const std::string& list) {
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string path = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? list.size() + 1 : comma + 1;
    if (path.empty()) continue;
    std::ifstream in(path);
    if (!in) throw ToolError("cannot open " + path + ": " + strerror(errno));
    try {
      out.push_back(nlohmann::json::parse(in));
    } catch (const nlohmann::json::exception&) {
      throw ToolError(path + " is not a holdscope JSON report");
    }
    if (!out.back().is_object() || !(out.back().contains("holds") || out.back().contains("scenarios")))
      throw ToolError(path + " is not a holdscope JSON report or scenario output (no \"holds\", no \"scenarios\")");
  }
  if (out.empty()) throw ToolError("no report files given");
  return out;
}

int run_diff(const std::string& side_a, const std::string& side_b, const std::string& json_path,
             const std::string& html_path) {
  if (!html_path.empty()) check_output_target(html_path);
  DiffResult d = diff_reports(read_reports(side_a), read_reports(side_b));
  render_diff(d, std::cout);
  if (!json_path.empty()) {
    write_output_file(json_path, diff_to_json(d).dump(2) + "\n");
  }
  if (!html_path.empty()) write_output_file(html_path, html_diff_page("holdscope diff: " + side_a + " vs " + side_b, diff_to_json(d)));
  return 0;
}

int run_live(RecordOptions ro, const ReportOptions& rep) {
  char tmpl[] = "/tmp/holdscope-XXXXXX.hsr";
  int fd = mkstemps(tmpl, 4);
  if (fd < 0) throw ToolError(std::string("cannot create a temporary recording: ") + strerror(errno));
  close(fd);
  struct Unlink {
    std::string p;
    ~Unlink() { unlink(p.c_str()); }
  } guard{tmpl};
  ro.output = tmpl;
  ro.command.clear();
  ReportOptions no_json = rep;
  no_json.json_path.clear();
  run_record(ro, no_json);
  return run_report(tmpl, rep);
}

}  // namespace holdscope
