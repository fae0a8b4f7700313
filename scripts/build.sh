#!/usr/bin/env bash
# Builds holdscope, its tests and fixtures into ./build. Options:
#   --with-static      also a static copy into ./build-static, for VM guests
#   --with-sanitizers  also ./build-asan (AddressSanitizer + UndefinedBehaviorSanitizer, for the unit and live tests)
#                      and ./build-fuzz (clang-19, the libFuzzer targets)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
for opt in "$@"; do
  case $opt in
    --with-static)
      cmake -S . -B build-static -DHOLDSCOPE_STATIC=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
      cmake --build build-static -j"$(nproc)" --target holdscope live_tests ;;
    --with-sanitizers)
      cmake -S . -B build-asan -DHOLDSCOPE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
      cmake --build build-asan -j"$(nproc)" --target holdscope unit_tests live_tests
      cmake -S . -B build-fuzz -DHOLDSCOPE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-19 \
        -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
      cmake --build build-fuzz -j"$(nproc)" ;;
    *) echo "build.sh: unknown option $opt" >&2; exit 2 ;;
  esac
done
