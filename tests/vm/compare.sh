#!/usr/bin/env bash
# The result issue users want from `holdscope compare`: seed 004 on Debian 6.1 vs 6.12 in 2-node guests, 4 runs each.
# 6.1 violates (migration targets allocated under mbind's write lock), 6.12 holds, and the diff marks the drop of
# those allocations, of the write hold and of the victim's worst stall as significant.
# Exit 77 (skipped) when a kernel is not fetched, the static build or QEMU is missing.
set -uo pipefail
holdscope=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/tests/vm/require.sh"
require_kernel 6.1
require_kernel 6.12
require_static holdscope
require_qemu

out=$("$holdscope" compare --kernels 6.1,6.12 --runs 4 --quick scenario mbind-migrate 2>&1 | grep -a -v '^\[\|Booting\|SeaBIOS\|iPXE')
rc=$?
printf '%s\n' "$out" | sed -n '/^A: /,$p'
pass=0 fail=0
expect() {  # expect NAME REGEX
  if grep -a -q -E -- "$2" <<<"$out"; then echo "ok   $1"; pass=$((pass + 1)); else echo "FAIL $1 (no line matching: $2)"; fail=$((fail + 1)); fi
}
expect "the verdict changed from violated on 6.1 to holds on 6.12" \
  'verdict mbind-migrate +A: violated, violated, violated, violated +B: holds, holds, holds, holds +CHANGED'
expect "allocations under the write lock go to zero, significantly" \
  'evidence\.migration_allocations_under_write +[0-9]+ +0 +-100\.0% \*'
expect "the write hold shrinks, significantly" 'evidence\.write_hold_max_ns +[0-9]+ +[0-9]+ +-[0-9.]+% \*'
expect "the victim's worst stall shrinks, significantly" 'workload\.victim_max_ns +[0-9]+ +[0-9]+ +-[0-9.]+% \*'

# A kernel developer's own workload instead of a scenario: a script of theirs put into the guests with --add, recorded
# with `record -- CMD` on each kernel and the two reports compared. One run a side: the figure checked (page
# allocations under the write lock: mbind's migration targets on 6.1, thousands; none of those on 6.12) differs by two
# orders of magnitude, so a single run shows it; significance needs --runs 4 and is checked above.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== compare --kernels 6.1,6.12 --runs 1 --add tests/vm/own_workload.sh -- sh tests/vm/own_workload.sh WORKLOADS"
"$holdscope" compare --kernels 6.1,6.12 --runs 1 --json "$tmp/own.json" --add "$here/tests/vm/own_workload.sh" \
  -- sh "$here/tests/vm/own_workload.sh" "$here/build-static/workloads" 2>&1 | grep -a -E '^(A: |  alloc\.page\.write)'
a=$(jq -r '.figures[] | select(.figure == "alloc.page.write.count") | .mean_a' "$tmp/own.json" 2>/dev/null)
b=$(jq -r '.figures[] | select(.figure == "alloc.page.write.count") | .mean_b' "$tmp/own.json" 2>/dev/null)
if [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= 4096 && b * 10 < a) }'; then
  echo "ok   your own workload: page allocations under the write lock $a on 6.1, $b on 6.12"; pass=$((pass + 1))
else
  echo "FAIL your own workload: page allocations under the write lock '$a' on 6.1, '$b' on 6.12 (want >= 4096, and ten times fewer)"
  fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
