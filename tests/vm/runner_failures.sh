#!/usr/bin/env bash
# The VM runner's failure paths: a bad kernel path, the guest command's exit status, a guest panic, a hang past the
# timeout. Each must be a clear error on the host (with the guest's last console lines where there was a guest).
# Exit 77 (skipped) when no kernel is fetched or QEMU is missing.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
run=$here/scripts/vm-run.sh
source "$here/tests/vm/require.sh"
require_kernel 6.1
require_static holdscope
require_qemu

pass=0 fail=0
check() {  # check NAME EXPECTED_RC NEEDLE -- CMD...
  local name=$1 want=$2 needle=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" = "$want" ] && grep -q -- "$needle" <<<"$out"; then
    echo "ok   $name (exit $rc)"
    pass=$((pass + 1))
  else
    echo "FAIL $name: exit $rc (want $want), output lacks '$needle'; last lines:"
    tail -n 8 <<<"$out" | sed 's/^/     /'
    fail=$((fail + 1))
  fi
}

check "bad kernel path" 2 "no kernel image at /nonexistent/vmlinuz" -- bash "$run" /nonexistent/vmlinuz -- true
check "the accelerator is detected and named" 0 "vm-run: accelerator \(kvm\|tcg\) (" -- bash "$run" --timeout 120 "$kernel" -- true
check "HOLDSCOPE_VM_ACCEL overrides the probe" 0 "accelerator tcg (HOLDSCOPE_VM_ACCEL)" -- \
  env HOLDSCOPE_VM_ACCEL=tcg bash "$run" --timeout 120 "$kernel" -- true
check "guest exit status is the host's" 7 "HOLDSCOPE-GUEST-EXIT 7" -- bash "$run" --timeout 120 "$kernel" -- sh -c 'exit 7'
check "guest panic" 3 "stopped without reporting" -- bash "$run" --timeout 120 "$kernel" -- sh -c 'echo c > /proc/sysrq-trigger'
check "guest panic shows the console" 3 "sysrq" -- bash "$run" --timeout 120 "$kernel" -- sh -c 'echo c > /proc/sysrq-trigger'
check "hang past the timeout" 124 "did not finish within 25s" -- bash "$run" --timeout 25 "$kernel" -- sleep 1000
check "holdscope failure inside the guest reaches the host" 1 "holdscope: kernel BTF not found" -- \
  bash "$run" --timeout 120 "$kernel" -- sh -c 'HOLDSCOPE_BTF=/nonexistent holdscope record -q -o /tmp/x.hsr -- true'
# `vm --add FILE -- record -o OUT -- FILE` as docs/usage.md shows it: one FILE per --add, the rest is holdscope's.
hs=$here/build/holdscope
if [ -x "$hs" ]; then
  own=$(mktemp -d)
  printf '#!/bin/sh\necho own workload ran\n' > "$own/mine.sh"
  chmod +x "$own/mine.sh"
  check "vm --add FILE -- record -o OUT -- FILE: the file goes in, the recording comes back" 0 "copied $own/r.hsr" -- \
    "$hs" vm --kernel "$kernel" --timeout 300 --add "$own/mine.sh" -- record -q -o "$own/r.hsr" -- "$own/mine.sh"
  [ -s "$own/r.hsr" ] && "$hs" report "$own/r.hsr" >/dev/null ||
    { echo "FAIL the recording that came back is not one report can read"; fail=$((fail + 1)); }
  rm -rf "$own"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
