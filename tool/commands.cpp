#include "tool/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analyzers/analyze_recording.h"
#include "analyzers/diff.h"
#include "analyzers/recording.h"
#include "tool/output_file.h"
#include "tool/settings_journal.h"
#include "tool/system_info.h"

namespace holdscope {

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void install_signal_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the poll must return so the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// The traced command: forked stopped on a pipe, released only once the probes are attached so its first mmap_lock
// acquisition is seen. Reaped (and killed if still running) on every exit path.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int go[2], err[2];
    if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw ToolError("pipe: " + std::string(strerror(errno)));
    pid_ = fork();
    if (pid_ < 0) throw ToolError("fork: " + std::string(strerror(errno)));
    if (pid_ == 0) {
      close(go[1]);
      close(err[0]);
      // A traced command does not outlive holdscope: killed with it, its changes are undone at the next start.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      char c;
      if (read(go[0], &c, 1) != 1) _exit(127);  // the tracer gave up before starting us
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      int e = errno;
      (void)!write(err[1], &e, sizeof e);
      _exit(127);
    }
    close(go[0]);
    close(err[1]);
    go_fd_ = go[1];
    err_fd_ = err[0];
    name_ = argv[0];
  }
  ~Child() {
    if (go_fd_ >= 0) close(go_fd_);
    if (err_fd_ >= 0) close(err_fd_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      undo_workload_changes(pid_);  // the run failed with the command still running: it could not undo its own
    }
  }
  pid_t pid() const { return pid_; }
  void release() {
    (void)!write(go_fd_, "g", 1);
    close(go_fd_);
    go_fd_ = -1;
    int e = 0;
    ssize_t n = read(err_fd_, &e, sizeof e);  // EOF (0) means exec succeeded: the pipe closed on exec
    close(err_fd_);
    err_fd_ = -1;
    if (n == sizeof e) throw ToolError("cannot run " + name_ + ": " + strerror(e));
  }
  // True once the child has exited; status then holds its exit code (128+signal when killed).
  bool exited() {
    if (reaped_) return true;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) != pid_) return false;
    reaped_ = true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  void terminate() {
    if (exited()) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 40 && !exited(); i++) usleep(50'000);
    if (!exited()) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
      reaped_ = true;
      status_ = 128 + SIGKILL;
    }
  }
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1, err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string name_;
};

void write_json(const Report& r, const std::string& path) { write_output_file(path, report_to_json(r).dump(2) + "\n"); }

Report analyze_file(const std::string& path, size_t top) {
  AnalyzerOptions opts;
  opts.top = top;
  return analyze_recording(path, opts).report;
}

}  // namespace

int run_record(const RecordOptions& ro, const ReportOptions& rep) {
  require_root();
  undo_changes_of_dead_workloads();
  if (!rep.json_path.empty()) check_output_target(rep.json_path);
  // Written beside -o and put in place only once complete: a failed run leaves whatever -o named as it was.
  OutputFile output(ro.output);
  std::ostream& out = output.stream();

  install_signal_handlers();  // before the slow part: a Ctrl-C while loading still ends with a valid recording
  std::string tracefs = tracefs_root();
  SymbolTable kallsyms = read_kallsyms();
  TraceContext ctx;
  ctx.kernel = kernel_release();
  ctx.hostname = host_name();
  ctx.page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ctx.gfp = read_gfp_table(tracefs);
  ctx.scope = ro.command.empty() ? "system" : "command";
  ctx.command = ro.command;
  if (const Symbol* s = kallsyms.by_name("lru_add_drain_per_cpu")) ctx.lru_drain_fn = s->addr;

  ctx.collapse_status = read_symbolic_names(tracefs, "huge_memory/mm_collapse_huge_page", "status");

  TracerOptions to = ro.tracer;
  to.filter_targets = !ro.command.empty();
  to.lru_drain_fn = ctx.lru_drain_fn;
  to.gfp_direct_reclaim = ctx.gfp.value_of("__GFP_DIRECT_RECLAIM");
  to.kallsyms = &kallsyms;
  Tracer tracer(to);
  for (const auto& c : tracer.attach_choices()) ctx.attach_points.push_back({c.name, c.mode, c.why, c.functions});
  ctx.fn_slots = tracer.slot_functions();
  if (!ro.quiet) {
    size_t on = 0;
    std::string off;
    for (const auto& p : tracer.plan()) {
      if (p.available)
        on++;
      else
        off += " " + p.target + " (" + p.why + ")";
    }
    std::cerr << "holdscope: " << on << " programs attached" << (off.empty() ? "" : "; not attached:") << off << "\n";
    for (const auto& c : tracer.attach_choices())
      std::cerr << "holdscope: " << c.name << ": " << to_string(c.mode) << " (" << c.why << ")\n";
  }

  std::optional<Child> child;
  if (!ro.command.empty()) {
    child.emplace(ro.command);
    tracer.add_target(child->pid());
  }
  RecordingWriter writer(out);
  tracer.start([&](const hs_event& e) { writer.add(e); });
  // fentry/fexit trampolines appear in kallsyms once attached: read it again, so stacks through them are named.
  if (std::any_of(ctx.attach_points.begin(), ctx.attach_points.end(), [](const auto& p) { return p.mode == AttachMode::direct; }))
    kallsyms = read_kallsyms();
  ctx.start_ns = monotonic_ns();
  if (child) child->release();

  double dur = ro.duration_s > 0 ? ro.duration_s : (child ? 0 : 10);
  uint64_t deadline = dur > 0 ? ctx.start_ns + static_cast<uint64_t>(dur * 1e9) : UINT64_MAX;
  if (!ro.quiet && !child)
    std::cerr << "holdscope: tracing the whole system for " << dur << " s (Ctrl-C to stop early)\n";
  while (!g_stop) {
    tracer.poll(100);
    if (output.error()) throw ToolError("cannot write " + ro.output + ": " + strerror(output.error()));
    if (child && child->exited()) break;
    if (monotonic_ns() >= deadline) break;
  }
  ctx.end_ns = monotonic_ns();
  tracer.stop();
  if (child) {
    child->terminate();
    ctx.command_exit = child->status();
    undo_workload_changes(child->pid());  // whatever its status: a killed workload could not undo its own
  }

  ctx.counters = tracer.counters();
  tracer.fill_context(ctx);
  std::vector<uint64_t> addrs(tracer.call_sites().begin(), tracer.call_sites().end());
  for (const auto& a : ctx.alloc_counts)
    if (a.site) addrs.push_back(a.site);
  for (const auto& [id, st] : ctx.stacks) addrs.insert(addrs.end(), st.begin(), st.end());
  ctx.symbols = kallsyms.subset(addrs);
  writer.finish(ctx);
  output.commit();

  if (!ro.quiet) {
    const auto& c = ctx.counters;
    std::cerr << "holdscope: recorded " << writer.events_written() << " events to " << ro.output
              << " (drops: ringbuf " << c.ringbuf << ", map_full " << c.task_map_full + c.scope_map_full + c.alloc_map_full << ", stack "
              << c.stack << ")";
    if (child) std::cerr << "; command exited with status " << ctx.command_exit;
    std::cerr << "\n";
  }
  if (!rep.json_path.empty()) write_json(analyze_file(ro.output, rep.top), rep.json_path);
  return 0;
}

int run_report(const std::string& path, const ReportOptions& rep) {
  Report r = analyze_file(path, rep.top);
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

int run_diff(const std::string& side_a, const std::string& side_b, const std::string& json_path) {
  DiffResult d = diff_reports(read_reports(side_a), read_reports(side_b));
  render_diff(d, std::cout);
  if (!json_path.empty()) {
    write_output_file(json_path, diff_to_json(d).dump(2) + "\n");
  }
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
