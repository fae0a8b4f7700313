#!/usr/bin/env bash
# Runs a libFuzzer target of build-fuzz/ for a while, starting from its corpus in fuzz/corpus/ (read, never written:
# what the run finds goes to a temporary directory). Any crash, sanitizer report or leak fails the run; the input
# that did it is kept and its path printed.
# Usage: scripts/fuzz.sh recording|diff SECONDS     (exit 77: no fuzzing build, as ctest's skip)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target=$1 seconds=$2
bin=$here/build-fuzz/fuzz/fuzz_$target
[ -x "$bin" ] || { echo "SKIPPED: no fuzzing build (scripts/build.sh --with-sanitizers builds build-fuzz with clang-19)"; exit 77; }
work=$(mktemp -d /tmp/holdscope-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$here/fuzz/findings"
"$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$here/fuzz/findings/$target-" \
  -rss_limit_mb=2048 "$work/corpus" "$here/fuzz/corpus/$target" >"$work/log" 2>&1
rc=$?
# The last status line carries the coverage reached (cov: edges, ft: features, corp: the corpus grown).
grep -E '^#[0-9]+[[:space:]].*cov: ' "$work/log" | tail -n 1
grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/log"
if [ "$rc" != 0 ]; then
  grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$work/log" | head -n 20
  echo "FAIL: fuzz_$target exited with $rc"
  exit 1
fi
echo "fuzz_$target: clean for $seconds s"
