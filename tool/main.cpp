// holdscope: how long mmap_lock is held, and what the kernel does while holding it.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "analyzers/recording.h"
#include "tool/attach_plan.h"
#include "tool/commands.h"
#include "tool/compare.h"
#include "tool/monitor.h"
#include "tool/doctor.h"
#include "tool/scenario.h"
#include "tool/vm.h"
#include "tool/system_info.h"

using namespace holdscope;

namespace {

constexpr size_t kMaxTop = 100000;
constexpr double kMaxDurationS = 365.0 * 24 * 3600;
constexpr uint64_t kMaxStackMinHoldUs = 3600ull * 1000 * 1000;
constexpr uint32_t kMaxRingbufMb = 1024;  // the kernel's ring buffer holds at most a few GiB; 1 GiB is plenty

// A finite number of seconds in [0, kMaxDurationS]: CLI::Range lets NaN through, and inf or 1e300 overflow the
// nanosecond deadline.
const CLI::Validator kSeconds(
    [](std::string& s) -> std::string {
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(s, &used);
      } catch (...) {
        used = 0;
      }
      if (used != s.size() || !std::isfinite(v) || v < 0 || v > kMaxDurationS)
        return "'" + s + "' is not a number of seconds from 0 to " + std::to_string(static_cast<uint64_t>(kMaxDurationS));
      return "";
    },
    "SECONDS");

const CLI::Validator kPowerOfTwoMb(
    [](std::string& s) -> std::string {
      char* end = nullptr;
      unsigned long v = std::strtoul(s.c_str(), &end, 10);
      if (s.empty() || *end || s[0] == '-' || v == 0 || v > kMaxRingbufMb || (v & (v - 1)))
        return "'" + s + "' is not a power of two from 1 to " + std::to_string(kMaxRingbufMb);
      return "";
    },
    "MiB");

// The files a report can be exported to besides JSON (record and report share them).
void add_export_options(CLI::App* cmd, holdscope::ExportPaths& exports) {
  cmd->add_option("--folded-holds", exports.folded_holds,
                  "also write hold time (ns) by the stack that took the lock, as folded stacks for flame graphs");
  cmd->add_option("--folded-allocs", exports.folded_allocs,
                  "also write allocations under the lock by stack (may-sleep ones apart), as folded stacks");
  cmd->add_option("--perfetto", exports.perfetto,
                  "also write a timeline of waits and holds (Chrome JSON trace events: ui.perfetto.dev, chrome://tracing, "
                  "DevTools; every allocation under the lock in it with record --stream-allocs)");
  cmd->add_option("--html", exports.html,
                  "also write the report as one self-contained HTML page (histograms, flame graphs, longest holds)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"holdscope: mmap_lock hold times and the sleeping work done under mmap_lock, from tracepoints.\n"
               "With no subcommand: trace the whole system for 10 s (or until Ctrl-C) and print the report."};
  app.set_version_flag("--version", "holdscope 0.1");
  // A usage error is one line, like every other error.
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return "holdscope: " + std::string(e.what()) + " (see --help)\n"; });
  RecordOptions live;
  ReportOptions live_rep;
  bool verbose = false;
  app.add_option("-d,--duration", live.duration_s, "seconds to trace (default 10)")->check(kSeconds);
  app.add_option("--json", live_rep.json_path, "also write the report as JSON to this file");
  app.add_option("--top", live_rep.top, "rows per table, and longest holds and waits kept")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, kMaxTop));
  app.add_flag("-v,--verbose", verbose, "print libbpf's messages");
  std::string live_mode = "auto", rec_mode = "auto";
  const std::string mode_help = "per attach point (" + attach_point_list() +
                                "): direct (fentry/fexit), inferred (tracepoints) or auto (direct where the kernel "
                                "allows); one mode for all, or POINT=MODE,...";
  app.add_option("--mode", live_mode, mode_help)->capture_default_str();

  RecordOptions rec;
  ReportOptions rec_rep;
  rec_rep.text = false;
  auto* record = app.add_subcommand("record", "trace CMD (its threads, children and the kernel threads working on its "
                                              "address spaces) or, without CMD, the whole system; write a recording");
  auto* output_opt = record->add_option("-o,--output", rec.output, "recording file (default: " +
                                                                      std::string(kDefaultRecording) +
                                                                      " here, the previous one kept as .old)");
  auto* pid_opt = record->add_option("-p,--pid", rec.pid, "trace a running process (its threads, the children it "
                                                          "forks from now on, and kernel threads working on its address "
                                                          "space) until it exits, --duration ends or Ctrl-C")
                      ->check(CLI::PositiveNumber);
  record->add_option("-d,--duration", rec.duration_s, "seconds; the command is terminated at the end (default: until "
                                                      "CMD exits; 10 s without CMD)")
      ->check(kSeconds);
  record->add_option("--json", rec_rep.json_path, "also write the report as JSON to this file");
  add_export_options(record, rec_rep.exports);
  record->add_option("--top", rec_rep.top, "longest holds and waits kept in the JSON")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, kMaxTop));
  record->add_option("--ringbuf-mb", rec.tracer.ringbuf_mb, "ring buffer size in MiB (power of two)")
      ->capture_default_str()
      ->check(kPowerOfTwoMb);
  record->add_flag("--no-lock-stacks", [&](int64_t) { rec.tracer.lock_stacks = 0; },
                   "capture no kernel stacks for mmap_lock holds (cheapest)");
  record->add_flag("--acquire-stacks", [&](int64_t) { rec.tracer.lock_stacks = 1; },
                   "capture the kernel stack of every mmap_lock acquisition (costly on lock-heavy loads); by default "
                   "a hold gets one, taken at its release, when it lasted at least --stack-min-hold-us and is among "
                   "the 32 longest so far on its CPU (the longest-holds table needs no others)");
  record->add_flag("--no-alloc-stacks", [&](int64_t) { rec.tracer.alloc_stacks = 0; },
                   "no kernel stacks for allocations under the lock (cheapest; they are then grouped by kind, mode, "
                   "cache/order and gfp only)");
  record->add_flag("--exact-alloc-stacks", [&](int64_t) { rec.tracer.alloc_stacks = 2; },
                   "a stack walk for every allocation under the lock; by default one per call path (slab/kmalloc: call "
                   "site; pages: system call or fault, gfp, order) and lock mode, reused by its later allocations and "
                   "refreshed at random once in 1024");
  record->add_flag("--stream-allocs", rec.tracer.stream_allocs,
                   "stream every allocation under the lock with its time, so that --perfetto shows each inside its "
                   "hold; by default most are counted in the kernel, without a time (costlier: see docs/overhead.md)");
  record->add_option("--stack-min-hold-us", rec.tracer.stack_min_hold_us,
                     "holds at least this long may get a kernel stack at release (see --acquire-stacks)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, kMaxStackMinHoldUs));
  record->add_option("--cgroup", rec.cgroup, "trace only the tasks of this memory cgroup (a path in the memory "
                                              "controller's hierarchy, v1 or v2, e.g. /system.slice/x.service)");
  record->add_flag("-q,--quiet", rec.quiet, "no progress messages");
  record->add_option("--mode", rec_mode, mode_help)->capture_default_str();
  record->add_option("command", rec.command, "-- CMD ARGS...")->excludes(pid_opt);

  std::string report_path;
  ReportOptions rep;
  auto* report = app.add_subcommand("report", "print the report of a recording");
  report->add_option("recording", report_path, "recording file (.hsr)")->required()->check(CLI::ExistingFile);
  report->add_option("--json", rep.json_path, "also write the report as JSON to this file");
  add_export_options(report, rep.exports);
  report->add_option("--top", rep.top, "rows per table, and longest holds and waits kept")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, kMaxTop));
  report->add_option("--cgroup", rep.cgroup, "only the tasks of this memory cgroup, as the recording names it (its "
                                             "\"holds per memory cgroup\" table)");
  std::string doctor_json;
  auto* doctor = app.add_subcommand("doctor", "show the kernel, lockdown, BTF, each tracepoint and function holdscope "
                                              "wants, and the mode (direct fentry or inferred) each attach point would use");
  doctor->add_option("--json", doctor_json, "also write the diagnosis as JSON to this file");
  std::string diff_a, diff_b, diff_json;
  auto* diff = app.add_subcommand("diff", "compare two reports (or two sets of repeated runs) figure by figure");
  diff->add_option("A", diff_a, "report JSON of A, or a comma-separated list of repeated runs")->required();
  diff->add_option("B", diff_b, "report JSON of B, or a comma-separated list of repeated runs")->required();
  diff->add_option("--json", diff_json, "also write the comparison as JSON to this file");
  std::string diff_html;
  diff->add_option("--html", diff_html, "also write the comparison as one self-contained HTML page");
  VmOptions vm;
  auto* vmcmd = app.add_subcommand("vm", "boot another kernel under QEMU and run holdscope ARGS... inside it; files "
                                          "named by --json/-o come back to the host");
  vmcmd->add_option("--kernel", vm.kernel, "6.1 / 6.12 (holdscope kernels fetch), a name from holdscope kernels build, or a vmlinuz path; NAME@PARAMS adds kernel parameters")->required();
  vmcmd->add_option("--numa", vm.numa, "NUMA nodes")->capture_default_str()->check(CLI::Range(1, 8));
  vmcmd->add_option("--mem", vm.mem, "guest memory, e.g. 2G")->capture_default_str();
  vmcmd->add_option("--cpus", vm.cpus, "guest CPUs")->capture_default_str()->check(CLI::Range(1, 64));
  vmcmd->add_option("--timeout", vm.timeout_s, "seconds before the guest is declared hung")
      ->capture_default_str()
      ->check(CLI::Range(1, 7 * 24 * 3600));
  vmcmd->add_option("--add", vm.add, "put FILE into the guest at the same path (your own workload or script; a "
                                     "dynamic executable comes with its libraries); repeatable")
      ->check(CLI::ExistingFile)
      ->allow_extra_args(false);  // one FILE per --add: the `--` after it then still starts holdscope's own arguments
  vmcmd->add_option("--append", vm.append, "more kernel command-line parameters, e.g. \"slab_merge\"");
  vmcmd->add_option("args", vm.args, "-- holdscope arguments");
  auto* kernels = app.add_subcommand("kernels", "manage the Debian kernels used by holdscope vm");
  std::vector<std::string> fetch_series;
  auto* fetch = kernels->add_subcommand("fetch", "download and unpack Debian cloud kernels (6.1 from bookworm, 6.12 "
                                                 "from bookworm-backports) into /var/cache/holdscope/kernels");
  fetch->add_option("series", fetch_series, "6.1 6.12")->required();
  KernelBuildOptions kb;
  auto* kbuild = kernels->add_subcommand("build", "build a guest kernel from Debian's linux-source-6.12 (tinyconfig + "
                                                  "what holdscope needs), cached by a hash of its inputs");
  kbuild->add_option("name", kb.name, "the name holdscope vm --kernel and compare --kernels then take")->required();
  kbuild->add_option("--patch", kb.patches, "a patch to apply (repeatable), e.g. kernels/patches/*.patch")
      ->check(CLI::ExistingFile);
  kbuild->add_option("--config", kb.config, "a config fragment (CONFIG_X=y lines) on top of kernels/config/holdscope.config")
      ->check(CLI::ExistingFile);
  kbuild->add_option("--cmdline", kb.cmdline, "kernel parameters this kernel always boots with");
  kernels->require_subcommand(1);
  ScenarioOptions sc;
  auto* scenario = app.add_subcommand("scenario", "run a bundled workload reproducing a seed patch's scenario under "
                                                  "tracing, and say whether its invariant holds, with the evidence");
  scenario->add_option("name", sc.which, "migrate-prep, khugepaged-collapse, anon-vma-clone, mlock-populate, mbind-migrate, or all")->required();
  scenario->add_option("--json", sc.json_path, "also write the verdicts and evidence as JSON");
  scenario->add_option("--html", sc.html_path, "also write an HTML page per scenario: verdict, evidence and its report "
                                               "(several scenarios: FILE-NAME.html each)");
  scenario->add_flag("--fail-on-violation", sc.fail_on_violation, "exit 2 when an invariant is violated (for CI)");
  scenario->add_flag("--quick", sc.quick, "small sizes, for tests");
  CompareOptions cmp;
  std::vector<std::string> cmp_what;
  auto* compare = app.add_subcommand("compare", "run a scenario, or your own command, on two kernels in guests (2 NUMA "
                                                "nodes), --runs times each, and print the diff: compare --kernels "
                                                "6.1,6.12 scenario NAME");
  compare->add_option("--kernels", cmp.kernels, "two kernels, A,B: 6.1, 6.12, names from kernels build or vmlinuz paths; NAME@PARAMS adds kernel parameters (a bug switch)")->required();
  compare->add_option("--runs", cmp.runs, "runs per kernel (4 lets differences reach significance)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  compare->add_option("--json", cmp.json_path, "also write the comparison as JSON");
  compare->add_option("--timeout", cmp.timeout_s, "seconds per guest run")
      ->capture_default_str()
      ->check(CLI::Range(1, 7 * 24 * 3600));
  compare->add_flag("--quick", cmp.quick, "small scenario sizes");
  compare->add_option("--add", cmp.add, "a program or file your command needs, put into the guests at the same path "
                                        "(repeatable)")
      ->allow_extra_args(false);
  compare->add_option("what", cmp_what, "scenario NAME|all, or -- CMD ARGS... (your own workload, recorded in each "
                                        "guest; its reports are compared)")->required();
  MonitorOptions mon;
  auto* monitor = app.add_subcommand("monitor", "run until Ctrl-C with everything aggregated in the kernel: a table per "
                                                "interval, slow holds with their stacks, Prometheus metrics");
  monitor->add_option("-i,--interval", mon.interval_s, "seconds between tables (0: only one at the end)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  monitor->add_option("-d,--duration", mon.duration_s, "stop after this many seconds (default: until Ctrl-C/SIGTERM)")
      ->check(kSeconds);
  monitor->add_option("-p,--pid", mon.pid, "only this process (its threads, and kernel threads working on its address "
                                           "space); ends when it exits")
      ->check(CLI::PositiveNumber);
  monitor->add_option("--cgroup", mon.cgroup, "only tasks in this memory cgroup (a path in the memory hierarchy, e.g. "
                                              "/system.slice/foo.service)");
  monitor->add_flag("--per-process", mon.per_process, "tables by process (in its cgroup) rather than by cgroup");
  monitor->add_option("--threshold-ms", mon.threshold_ms, "print every hold at least this long when it ends, with its "
                                                          "task, mode, kernel stack and what was done inside it")
      ->check(CLI::Range(0.001, 3.6e6));
  monitor->add_option("--prometheus", mon.prometheus, "serve Prometheus metrics at ADDR:PORT/metrics, e.g. 127.0.0.1:9808");
  monitor->add_option("--prometheus-cgroups", mon.prometheus_cgroups, "memory cgroups with their own label; the rest "
                                                                     "are summed as cgroup=\"other\"")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000}));
  monitor->add_option("--json", mon.json_path, "also write each interval and each slow hold as a JSON line to this file");
  monitor->add_option("--top", mon.top, "rows per table")->capture_default_str()->check(CLI::Range(size_t{1}, kMaxTop));
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  live.tracer.verbose = rec.tracer.verbose = verbose;
  try {
    live.tracer.modes = parse_mode_request(live_mode);
    rec.tracer.modes = parse_mode_request(rec_mode);
    if (*record) {
      if (output_opt->count() == 0) {
        rec.output = kDefaultRecording;
        rec.previous = PreviousFile::keep_as_old;
      }
      return run_record(rec, rec_rep);
    }
    if (*report) return run_report(report_path, rep);
    if (*doctor) return run_doctor(doctor_json);
    if (*diff) return run_diff(diff_a, diff_b, diff_json, diff_html);
    if (*vmcmd) return run_vm(vm);
    if (*scenario) return run_scenarios(sc);
    if (*monitor) {
      mon.verbose = verbose;
      return run_monitor(mon);
    }
    if (*compare) {
      if (cmp_what[0] == "scenario") {
        if (cmp_what.size() != 2) throw ToolError("usage: compare --kernels A,B scenario NAME|all, or -- CMD ARGS...");
        cmp.scenario = cmp_what[1];
      } else {
        cmp.command = cmp_what;
        if (cmp.quick) throw ToolError("--quick sizes a scenario; it means nothing for your own command");
      }
      return run_compare(cmp);
    }
    if (*fetch) return run_kernels_fetch(fetch_series);
    if (*kbuild) return run_kernels_build(kb);
    return run_live(live, live_rep);
  } catch (const ToolError& e) {
    std::cerr << "holdscope: " << e.what() << "\n";
  } catch (const RecordingError& e) {
    std::cerr << "holdscope: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "holdscope: " << e.what() << "\n";
  }
  return 1;
}
