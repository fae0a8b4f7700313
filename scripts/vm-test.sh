#!/usr/bin/env bash
# Runs the live BPF test suite inside a guest booted on one of the fetched Debian kernels (2 NUMA nodes).
# Exit 77 (ctest: skipped) with the reason when the kernel, the static build or QEMU is missing.
# Usage: scripts/vm-test.sh 6.1|6.12
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
series=$1
source "$here/tests/vm/require.sh"
require_kernel "$series"
require_static tests/live_tests
require_qemu
# The independent instruments the cross-check tests compare against (BCC's libbpf-tools), where installed: they need
# fentry or kprobes, which the guests have. (drsnoop and numamove have guests of their own: tests/vm/drsnoop.sh,
# tests/vm/numamove.sh.)
adds=()
for tool in klockstat; do
  p=$(command -v "$tool") && adds+=(--add "$p")
done
# Tests tagged [userspace] check holdscope's own behaviour (bad input, signals, concurrent runs, map sizing under fork
# storms), which no kernel changes: they run on the host's kernel only, where they take a fraction of the time they take under TCG.
exec bash "$here/scripts/vm-run.sh" --timeout "${HOLDSCOPE_VM_TIMEOUT:-1500}" --numa 2 "${adds[@]}" "$kernel" -- live_tests --reporter compact '~[userspace]'
