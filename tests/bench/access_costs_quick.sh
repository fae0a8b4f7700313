#!/usr/bin/env bash
# A short run of bench/access_costs: every access's program must build, load, attach, run under lockbench and get a
# figure. Not a timed test: the figures are read from a full run, not judged here.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIPPED: the benchmark loads BPF programs: needs root (CI runs it as root)"; exit 77; }
out=$(HOLDSCOPE_BUILD=${1:-$here/build} bash "$here/bench/access_costs" --rounds 1 --seconds 1 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || { echo "FAIL: bench/access_costs exited with $rc"; exit 1; }
fail=0
for access in empty task global percpu idle storage clock; do
  # Each program ran on page allocations (lockbench faults pages in every operation) and got a time per run.
  grep -q -E -- "round 1 $access +[0-9.]+ ns/run \((0\.[1-9]|[1-9][0-9]*\.[0-9]) runs per operation\)" <<<"$out" ||
    { echo "FAIL: no run of '$access' with a figure"; fail=1; }
  grep -q -E -- "^  $access +[0-9.]+ +[-+][0-9.]+$" <<<"$out" || { echo "FAIL: no median for '$access'"; fail=1; }
done
[ "$fail" = 0 ] && echo "every access measured"
exit "$fail"
