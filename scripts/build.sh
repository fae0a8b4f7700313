#!/usr/bin/env bash
# Builds holdscope, its tests and fixtures into ./build, and a static copy into ./build-static for VM guests.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
if [ "${1:-}" = "--with-static" ]; then
  cmake -S . -B build-static -DHOLDSCOPE_STATIC=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-static -j"$(nproc)" --target holdscope live_tests ka_vmas ka_contend ka_reclaim ka_fork migrate-prep mbind-migrate anon-vma-clone
fi
