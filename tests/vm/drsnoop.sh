#!/usr/bin/env bash
# Cross-check with BCC's drsnoop (libbpf-tools) in a throwaway guest with one vCPU: the live test tagged [drsnoop]
# drives the guest into direct reclaim and compares holdscope's count and time of each reclaim with drsnoop's, on the
# same run. One vCPU because the times are read by two programs on one tracepoint: under TCG with several vCPUs the
# emulator can switch vCPUs between them (see the test).
# Exit 77 (skipped) when the kernel, drsnoop, the static build or QEMU is missing.
# Usage: tests/vm/drsnoop.sh 6.1|6.12
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
series=$1
source "$here/tests/vm/require.sh"
require_kernel "$series"
require_command drsnoop "Debian libbpf-tools"
drsnoop=$(command -v drsnoop)
require_static tests/live_tests
require_qemu
out=$(bash "$here/scripts/vm-run.sh" --timeout "${HOLDSCOPE_VM_TIMEOUT:-1500}" --numa 1 --cpus 1 --add "$drsnoop" "$kernel" \
  -- live_tests --reporter compact '[drsnoop]' 2>&1)
rc=$?
printf '%s\n' "$out" | sed -n '/HOLDSCOPE-GUEST:/,$p'
# Passed only if the test ran and passed: a skip inside the guest is a failure here.
if [ "$rc" = 0 ] && grep -a -q -E 'Passed 1 test case|All tests passed' <<<"$out" && ! grep -a -q 'skipped' <<<"$out"; then
  echo "ok   drsnoop and holdscope agree in the $series guest"; exit 0
fi
echo "FAIL the drsnoop cross-check in the $series guest (exit $rc)"
exit 1
