#!/usr/bin/env bash
# The tests on a fresh Debian bookworm machine: install dependencies, build, run unit and live tests under ctest.
# Live tests load real BPF programs: run as root; without root they are reported as skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
bash scripts/build.sh
cd build
exec ctest --output-on-failure "$@"
