#!/usr/bin/env bash
# Builds spoofd and runs the whole test suite (unit + integration) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
