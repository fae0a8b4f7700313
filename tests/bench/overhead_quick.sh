#!/usr/bin/env bash
# A short run of the overhead benchmark: it must run every configuration and print every figure with a value. Not a
# timed test: the targets are judged by a full run on a quiet machine, not here.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIPPED: the benchmark loads BPF programs: needs root (CI runs it as root)"; exit 77; }
command -v bpftrace >/dev/null || { echo "SKIPPED: bpftrace is not installed"; exit 77; }
out=$(HOLDSCOPE_BUILD=${1:-$here/build} bash "$here/bench/overhead" --quick 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || { echo "FAIL: bench/overhead exited with $rc"; exit 1; }
fail=0
for want in 'A median [0-9.e+]+ ops/s' 'F median [0-9.e+]+ ops/s' 'H median [0-9.e+]+ ops/s' 'B median [0-9.e+]+ ops/s' \
  'H/A throughput +[0-9.]+' 'H/F throughput +[0-9.]+ +\[[0-9.]+\] +\(target >= 0.90: (met|MISSED).* (90% interval [0-9.]+\.\.[0-9.]+|too few rounds for a 90% interval)' \
  'H/B throughput +[0-9.]+ +\[[0-9.]+\] +\(target >= 1.60: (met|MISSED).* (90% interval [0-9.]+\.\.[0-9.]+|too few rounds for a 90% interval)' \
  'mmap_lock events/s +[1-9][0-9]*' 'events dropped +[0-9]+' 'holdscope CPU time +[0-9.]+ s' \
  'holdscope peak RSS +[1-9][0-9]* kB' 'F/B throughput +[0-9.]+' \
  'per-round ratios +H/F [0-9.]+\.\.[0-9.]+, [0-9]+ of [0-9]+ rounds' \
  'F [0-9.]+ us/op, H [0-9.]+ us/op, B [0-9.]+ us/op' 'realistic H/A throughput +[0-9.]+ .*(90% interval [0-9.]+\.\.[0-9.]+|too few rounds for a 90% interval)' \
  'S median [0-9.e+]+ ops/s' 'S/F throughput +[0-9.]+ +\[[0-9.]+\] +\(record --stream-allocs; S/H [0-9.]+' \
  '--stream-allocs +[0-9]+ events/s \(H: [0-9]+\), [0-9]+ dropped' 'S [0-9.]+ us/op: record --stream-allocs costs' \
  'M median [0-9.e+]+ ops/s' 'M/F throughput +[0-9.]+ +\[[0-9.]+\] +\(holdscope monitor; target >= 0.98: (met|MISSED)' \
  'monitor CPU time +[0-9.]+ s over [0-9]+ s monitored' 'M [0-9.]+ us/op: holdscope monitor costs' \
  'BPF programs ran [0-9.]+ ms during a [0-9.]+ s compile' 'realistic H/A from costs +[0-9.]+' 'replayed in [0-9.]+ s: [1-9][0-9]* events/s'; do
  grep -q -E -- "$want" <<<"$out" || { echo "FAIL: no figure matching '$want'"; fail=1; }
done
[ "$fail" = 0 ] && echo "every figure reported"
exit "$fail"
