#!/usr/bin/env bash
# Runs a test binary of the sanitized build (build-asan/); exit 77 (ctest: skipped) with the reason when there is none.
set -uo pipefail
[ -x "$1" ] || { echo "SKIPPED: no sanitized build at $1 (scripts/build.sh --with-sanitizers)"; exit 77; }
exec "$@" --reporter compact
