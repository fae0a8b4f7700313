#!/usr/bin/env bash
# A real Prometheus server (Debian's, on 127.0.0.1) scrapes `holdscope monitor` every second while a workload runs in
# a memory cgroup of its own; Prometheus's HTTP API then answers for that cgroup's hold-time quantile and allocation
# counters, which must match a `holdscope record` of the same workload in order of magnitude, carry the cgroup's label,
# and never go down; `promtool check metrics` accepts the endpoint's text. Every wait is for a state (a line printed,
# a target up, a value reached), each with a bound that only ends a hung run.
# Usage: tests/live/prometheus_server.sh BUILD_DIR        Exit 77 (skipped) with the reason when it cannot run.
set -uo pipefail
build=$1
hs=$build/holdscope vmas=$build/tests/ka_vmas
skip() { echo "SKIPPED: $1"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (BPF)"
for tool in prometheus promtool curl jq; do command -v $tool >/dev/null || skip "$tool is not installed (scripts/setup-deps.sh)"; done
[ -e /sys/kernel/btf/vmlinux ] || skip "no kernel BTF"
root=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo)
[ -n "$root" ] || root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$root" ] || skip "no memory cgroup hierarchy is mounted"
if [ -e "$root/cgroup.subtree_control" ] && ! grep -qw memory "$root/cgroup.subtree_control"; then
  skip "cgroup v2 without the memory controller for child cgroups"
fi

tmp=$(mktemp -d /tmp/holdscope-prom-XXXXXX)
cg=holdscope-prom-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rmdir "$root/$cg" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
# Cgroups of earlier runs that were killed before removing theirs.
for d in "$root"/holdscope-prom-*; do
  [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null && rmdir "$d" 2>/dev/null
done
mkdir "$root/$cg" || { echo "FAIL cannot create the memory cgroup $root/$cg"; exit 1; }

# free_port: a port nothing listens on (a connection to it is refused).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
  return 1
}
# until_true BOUND_S CMD...: runs CMD until it succeeds; false after BOUND_S seconds (a hang guard, not a delay).
until_true() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
mport=$(free_port) && pport=$(free_port) || { echo "FAIL no free port"; exit 1; }
"$hs" monitor --interval 0 --prometheus "127.0.0.1:$mport" >"$tmp/mon.out" 2>"$tmp/mon.err" &
pids+=($!)
until_true 300 grep -q "holdscope: monitoring" "$tmp/mon.err" || { echo "FAIL monitor did not start:"; cat "$tmp/mon.err"; exit 1; }

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: holdscope
    static_configs: [{targets: ["127.0.0.1:$mport"]}]
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" --web.listen-address="127.0.0.1:$pport" \
  >"$tmp/prom.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$pport/api/v1"
up() { curl -sf "$api/targets" | jq -e '.data.activeTargets[] | select(.health == "up")' >/dev/null; }
until_true 300 up || { echo "FAIL Prometheus never found holdscope up:"; tail -n 5 "$tmp/prom.log"; exit 1; }

# The workload in its cgroup, and the same workload recorded, for the figures to compare with.
n=3000
sh -c "echo \$\$ > $root/$cg/cgroup.procs && exec $vmas $n" || { echo "FAIL the workload failed"; exit 1; }
"$hs" record -q -o "$tmp/r.hsr" --json "$tmp/r.json" -- "$vmas" "$n" || { echo "FAIL record failed"; exit 1; }

sel="cgroup=\"/$cg\",mode=\"write\""
query() { curl -sf --data-urlencode "query=$1" "$api/query" | jq -r '.data.result[0].value[1] // empty'; }
# The monitor's own count for the cgroup, now final (the workload is over), and Prometheus holding that value.
exported() { curl -sf "http://127.0.0.1:$mport/metrics" | awk -v s="holdscope_mmap_lock_hold_seconds_count{$sel}" '$1 == s { print $2 }'; }
# The workload is over: once a tick has counted it, the cgroup's count is at least its 2n write holds (an mmap and a
# munmap per VMA), and final.
counted() { final=$(exported); [ -n "$final" ] && [ "${final%.*}" -ge $((2 * n)) ]; }
until_true 300 counted || { echo "FAIL the monitor never exported the cgroup's write holds (last: ${final:-none})"; exit 1; }
echo "     the monitor's final write-hold count for /$cg: $final"
scraped() { [ "$(query "holdscope_mmap_lock_hold_seconds_count{$sel}")" = "$final" ]; }
until_true 300 scraped || { echo "FAIL Prometheus never held the final count $final"; exit 1; }

pass=0 fail=0
check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; pass=$((pass + 1)); else echo "FAIL $name"; fail=$((fail + 1)); return 1; fi
}
within10x() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > 0 && b > 0 && a / b <= 10 && b / a <= 10) }'; }
curl -sf "http://127.0.0.1:$mport/metrics" >"$tmp/metrics.txt"
check "promtool check metrics accepts the endpoint's text" promtool check metrics <"$tmp/metrics.txt"
rec_writes=$(jq '.holds.write.count' "$tmp/r.json")
echo "     write holds: cgroup /$cg in Prometheus $final, record of the same workload $rec_writes"
check "the cgroup's label carries its write holds (ka_vmas $n: about $((2 * n)))" within10x "$final" "$rec_writes"
p99=$(query "histogram_quantile(0.99, sum by (le) (holdscope_mmap_lock_hold_seconds_bucket{$sel}))")
rec_p99=$(jq '.holds.write.p99_ns / 1e9' "$tmp/r.json")
echo "     p99 write hold: Prometheus ${p99:-none} s, record ${rec_p99} s"
check "the p99 write hold from Prometheus is the recording's within an order of magnitude" within10x "${p99:-0}" "$rec_p99"
allocs=$(query "sum(holdscope_mmap_lock_allocations_total{$sel})")
rec_allocs=$(jq '[.allocations_under_lock[] | select(.mode == "write") | .count] | add // 0' "$tmp/r.json")
echo "     allocations under the write lock: Prometheus ${allocs:-none}, record $rec_allocs"
check "allocations under the write lock agree within an order of magnitude" within10x "${allocs:-0}" "$rec_allocs"
# Every sample Prometheus took of the cgroup's allocation counters (a range selector at one instant: the raw samples).
range=$(curl -sf --data-urlencode "query=holdscope_mmap_lock_allocations_total{cgroup=\"/$cg\"}[1h]" "$api/query")
monotonic() { jq -e '[.data.result[] | [.values[][1] | tonumber] | . as $v | [range(1; length) | $v[.] >= $v[. - 1]] | all] | (length > 0 and all)' <<<"$range" >/dev/null; }
check "every allocation counter series of the cgroup only grows" monotonic ||
  jq -c '.data.result[] | [.metric.kind, .metric.mode, ([.values[][1]] | unique)]' <<<"$range" | head -c 2000
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
