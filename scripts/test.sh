#!/usr/bin/env bash
# The tests on a fresh Debian bookworm machine: install dependencies, build (plus a static build for VM guests), fetch
# Debian's 6.1 and 6.12 cloud kernels into /var/cache/holdscope/kernels, then run everything under ctest: unit tests,
# live BPF tests on this kernel, and the live tests again inside a 6.1 and a 6.12 guest under QEMU.
# Live tests need root; without it (or without a kernel or QEMU) they are reported as skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
bash scripts/build.sh --with-static --with-sanitizers
bash scripts/fetch-kernels.sh 6.1 6.12 || echo "test.sh: kernels not fetched; the VM tests will be skipped"
cd build
# Two tests at a time on this project's 2-core machines: guests are one host thread each (tests/CMakeLists.txt says
# which tests run alone).
exec ctest --output-on-failure -j "$(nproc)" "$@"
