#!/usr/bin/env bash
# The main job on a fresh Debian bookworm machine: install dependencies, build, trace the whole system for 10 s
# (Ctrl-C ends it early) and print the report. Extra arguments go to holdscope, e.g. --duration 30 --json out.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
bash scripts/build.sh
exec ./build/holdscope "$@"
