// The holdscope subcommands, independent of argument parsing.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "tool/output_file.h"
#include "tool/report_exports.h"
#include "tool/tracer.h"

namespace holdscope {

// record's output without -o, in the current directory (as perf record writes perf.data).
inline constexpr const char* kDefaultRecording = "holdscope.hsr";

struct RecordOptions {
  std::string output;
  PreviousFile previous = PreviousFile::replace;  // keep_as_old for the default output
  pid_t pid = 0;                                   // -p: a running process to trace instead of a command
  std::string cgroup;                              // --cgroup: only the tasks of this memory cgroup
  double duration_s = 0;  // 0: until the command exits (or 10 s when tracing the whole system)
  std::vector<std::string> command;
  TracerOptions tracer;
  bool quiet = false;
};

struct ReportOptions {
  std::string json_path;  // empty: no JSON
  size_t top = 10;
  bool text = true;
  std::string cgroup;  // report --cgroup: only the tasks of this memory cgroup
  ExportPaths exports;  // folded stacks and the like, written beside the report
};

// Returns the process exit status.
int run_record(const RecordOptions& ro, const ReportOptions& rep);
int run_report(const std::string& path, const ReportOptions& rep);
// Compares report JSONs: each side is a comma-separated list of files (repeated runs).
int run_diff(const std::string& side_a, const std::string& side_b, const std::string& json_path,
             const std::string& html_path = "");
// The main job: trace the whole system, then print the report.
int run_live(RecordOptions ro, const ReportOptions& rep);

}  // namespace holdscope
