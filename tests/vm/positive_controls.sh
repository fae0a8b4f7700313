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
[ -r /usr/src/linux-source-6.12.tar.xz ] || { echo "SKIPPED: linux-source-6.12 is not installed"; exit 77; }
for tool in gcc make bc bison flex pahole; do
  command -v $tool >/dev/null || { echo "SKIPPED: $tool is not installed (scripts/setup-deps.sh)"; exit 77; }
done
[ -x "$here/build-static/holdscope" ] || { echo "SKIPPED: no static build (scripts/build.sh --with-static)"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIPPED: qemu-system-x86_64 is not installed"; exit 77; }

patches=()
for p in "$here"/kernels/patches/seed-*.patch; do patches+=(--patch "$p"); done
"$holdscope" kernels build holdscope-seeds "${patches[@]}" || { echo "FAIL: the kernel did not build"; exit 1; }
# (The stalls the workloads measure are not asserted: under TCG a victim's or reader's worst stall is set by how the
# emulator schedules the vCPUs as much as by the lock, on the clean kernel too.)

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
  case $seed in
    000) scenario=migrate-prep figure='evidence\.drain_calls_under_(read|write) +0 +[1-9][0-9]* +new \*' ;;
    001) scenario=khugepaged-collapse figure='evidence\.huge_pages_allocated_under_write +0 +[1-9][0-9]* +new \*' ;;
    002) scenario=anon-vma-clone figure='evidence\.may_sleep_under_anon_vma_lock +0 +[1-9][0-9]* +new \*' ;;
    003) scenario=mlock-populate figure='evidence\.population_allocations_under_write +0 +[1-9][0-9]* +new \*' ;;
    *) echo "unknown seed $seed"; exit 2 ;;
  esac
  echo "== seed $seed: $scenario, holdscope-seeds vs holdscope-seeds@holdscope_seed$seed=1, $runs runs each"
  out=$("$holdscope" compare --kernels "holdscope-seeds,holdscope-seeds@holdscope_seed$seed=1" --runs "$runs" --quick \
    scenario "$scenario" 2>&1 | grep -a -v '^\[\|Booting\|SeaBIOS\|iPXE')
  printf '%s\n' "$out" | sed -n '/^A: /,$p'
  expect "seed $seed: $scenario holds on every clean run and is violated on every run with the bug" \
    "verdict $scenario +A: $(all holds) +B: $(all violated) +CHANGED" "$out"
  expect "seed $seed: the figure that names the bug goes from 0 to more, significantly" "$figure" "$out"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
