#!/usr/bin/env bash
# Configures (once) and builds spoofd into build/ (binaries in build/bin/).
#   BUILD_DIR=build-asan CMAKE_ARGS="-DSPOOFD_SANITIZE=address,undefined" scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} ${CMAKE_ARGS:-}
fi
cmake --build "$build_dir" -j "$jobs"
