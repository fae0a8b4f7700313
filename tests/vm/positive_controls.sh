#!/usr/bin/env bash
# Positive controls: each seed bug put back into Debian's 6.12 source (kernels/patches/, one kernel, each bug switched
# on by its boot parameter) must turn its scenario from `holds` to `violated`, on every run, with the evidence figure
# that names the bug changing significantly; and holdscope's main job on the buggy kernel must show the bug unprompted.
# The kernel is built once and cached (scripts/build-kernel.sh). Exit 77 (skipped) when the source package, the build
# tools, the static build or QEMU is missing.
# Usage: tests/vm/positive_controls.sh HOLDSCOPE [SEED...]   (seeds: 000 001 002 003; all by default)
set -uo pipefail
holdscope=$1
shift
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(000 001 002 003)
here=$(cd "$(dirname "$0")/../.." && pwd)
# 4 runs a side: the fewest for which the diff's exchangeability test can call a change significant (p = 2/70).
runs=${HOLDSCOPE_CONTROL_RUNS:-4}
source "$here/tests/vm/require.sh"
[ -r /usr/src/linux-source-6.12.tar.xz ] || skip "linux-source-6.12 is not installed (scripts/setup-deps.sh)"
for tool in gcc make bc bison flex pahole; do
  require_command $tool
done
require_static holdscope
require_qemu

patches=()
for p in "$here"/kernels/patches/seed-*.patch; do patches+=(--patch "$p"); done
"$holdscope" kernels build holdscope-seeds "${patches[@]}" || { echo "FAIL: the kernel did not build"; exit 1; }
# Stalls: seed 003 names one (ps blocked behind mlock's write hold), asserted as the /proc reader's wait behind the
# mlocking thread's write holds. The workloads' own worst stalls are not asserted: the faulting threads' mmap/munmap
# writes queue behind the population's read hold and the reader queues behind them (rwsem fairness), so on the fixed
# kernel too the reader's worst stall is about one population (218 ms clean, 198 ms buggy, in one TCG run). Seeds 000
# and 002 name a deadlock and lock concurrency, not an mmap_lock stall; seed 001's longer write hold (the huge page
# allocated inside it) is a few milliseconds when memory is free, within TCG's noise.

pass=0 fail=0
expect() {  # expect NAME REGEX TEXT
  if grep -a -q -E -- "$2" <<<"$3"; then echo "ok   $1"; pass=$((pass + 1)); else echo "FAIL $1 (no line matching: $2)"; fail=$((fail + 1)); fi
}
all() {  # all WORD: "WORD, WORD, ..." repeated $runs times
  local s=$1
  for ((i = 1; i < runs; i++)); do s+=", $1"; done
  echo "$s"
}
for seed in "${seeds[@]}"; do
  stall=""
  case $seed in
    000) scenario=migrate-prep figure='evidence\.drain_calls_under_(read|write) +0 +[1-9][0-9]* +new \*' ;;
    001) scenario=khugepaged-collapse figure='evidence\.huge_pages_allocated_under_write +0 +[1-9][0-9]* +new \*' ;;
    002) scenario=anon-vma-clone figure='evidence\.may_sleep_under_anon_vma_lock +0 +[1-9][0-9]* +new \*' ;;
    003) scenario=mlock-populate figure='evidence\.population_allocations_under_write +0 +[1-9][0-9]* +new \*'
         stall='evidence\.reader_wait_behind_mlocker_write_ns +[0-9]+ +[1-9][0-9]* +(\+[0-9.]+%|new) \*' ;;
    *) echo "unknown seed $seed"; exit 2 ;;
  esac
  echo "== seed $seed: $scenario, holdscope-seeds vs holdscope-seeds@holdscope_seed$seed=1, $runs runs each"
  out=$("$holdscope" compare --kernels "holdscope-seeds,holdscope-seeds@holdscope_seed$seed=1" --runs "$runs" --quick \
    scenario "$scenario" 2>&1 | grep -a -v '^\[\|Booting\|SeaBIOS\|iPXE')
  printf '%s\n' "$out" | sed -n '/^A: /,$p'
  expect "seed $seed: $scenario holds on every clean run and is violated on every run with the bug" \
    "verdict $scenario +A: $(all holds) +B: $(all violated) +CHANGED" "$out"
  expect "seed $seed: the figure that names the bug goes from 0 to more, significantly" "$figure" "$out"
  [ -z "$stall" ] || expect "seed $seed: the stall the seed names grows, significantly" "$stall" "$out"
done

# The main job, unprompted: on the same kernel, holdscope with no subcommand traces the whole system while the four
# workloads run (tests/vm/main_job_guest.sh), told nothing about them. With all four bugs on, each must show in the
# general report's sections (LRU drains, allocations under the lock, anon_vma_clone); with them off, none may. (A
# drain appears under "sleeping work" only when it queued works on other CPUs and so waited: on an idle 2-CPU guest
# the bug's drains mostly queue none, so the drain section's per-syscall counts are what names them. The clean kernel
# shows MADV_COLLAPSE's own drain under the read lock, which is upstream's and not the seed's: hence by syscall.)
if [ ${#seeds[@]} = 4 ]; then
  kdir=${HOLDSCOPE_KERNEL_CACHE:-/var/cache/holdscope/kernels}/holdscope-seeds
  bugs="holdscope_seed000=1 holdscope_seed001=1 holdscope_seed002=1 holdscope_seed003=1"
  population='^(__mm_populate|populate_vma_page_range|__get_user_pages|faultin_page)\\+'
  declare -A query=(
    [000]='[.lru_drains.by_syscall | (.mbind, .migrate_pages, .move_pages) | select(. != null) | .read + .write] | add // 0'
    [001]='[.allocations_under_lock[] | select(.kind == "page" and .mode == "write" and .order == 9) | .count] | add // 0'
    [002]='.anon_vma_clone.may_sleep_under_anon_vma_lock'
    [003]="[.allocations_under_lock[] | select(.kind == \"page\" and .mode == \"write\" and any(.stack[]; test(\"$population\"))) | .count] | add // 0"
  )
  declare -A what=(
    [000]="LRU drains by mbind, migrate_pages or move_pages under mmap_lock in the LRU-drain section"
    [001]="order-9 (huge) page allocations under the write lock in the allocations section"
    [002]="may-sleep chain allocations under the anon_vma lock in the anon_vma_clone section"
    [003]="population page allocations (__mm_populate, GUP) under the write lock in the allocations section"
  )
  for side in clean bugs; do
    params=$(cat "$kdir/cmdline" 2>/dev/null)
    [ $side = bugs ] && params="${params:+$params }$bugs"
    echo "== the main job on holdscope-seeds${params:+ ($params)}, while the four workloads run"
    log=$(mktemp)
    bash "$here/scripts/vm-run.sh" --timeout "${HOLDSCOPE_VM_TIMEOUT:-1500}" --numa 2 --add "$here/tests/vm/main_job_guest.sh" \
      ${params:+--append "$params"} "$kdir/vmlinuz" -- sh "$here/tests/vm/main_job_guest.sh" "$here/build-static/workloads" \
      >"$log" 2>&1
    rc=$?
    tr -d '\r' <"$log" | sed -n '/HOLDSCOPE-GUEST:/,/^HOLDSCOPE-FILE-BEGIN/p' | grep -a -v '^HOLDSCOPE-FILE-BEGIN'
    json=$(tr -d '\r' <"$log" | sed -n '/^HOLDSCOPE-FILE-BEGIN main.json$/,/^HOLDSCOPE-FILE-END$/p' | sed '1d;$d' | base64 -d 2>/dev/null)
    rm -f "$log"
    if [ "$rc" != 0 ] || ! jq -e . >/dev/null 2>&1 <<<"$json"; then
      echo "FAIL the main job on the $side kernel (guest exit $rc, no report)"; fail=$((fail + 1)); continue
    fi
    for seed in 000 001 002 003; do
      n=$(jq -r "${query[$seed]}" <<<"$json")
      if [ $side = bugs ]; then
        if [ "$n" -gt 0 ] 2>/dev/null; then echo "ok   seed $seed on: $n ${what[$seed]}"; pass=$((pass + 1))
        else echo "FAIL seed $seed on: the main job shows no ${what[$seed]} ($n)"; fail=$((fail + 1)); fi
      else
        if [ "$n" = 0 ]; then echo "ok   seed $seed off: no ${what[$seed]}"; pass=$((pass + 1))
        else echo "FAIL seed $seed off: $n ${what[$seed]} on the clean kernel"; fail=$((fail + 1)); fi
      fi
    done
  done
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
