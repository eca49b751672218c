#!/usr/bin/env bash
# Builds spoofd and runs the whole test suite (unit + integration) with CTest,
# then builds the suite again with AddressSanitizer + UndefinedBehaviorSanitizer
# (+ LeakSanitizer) in build-asan/ and runs it there too (tests/RELIABILITY.md).
# SPOOFD_ASAN=0 skips the sanitizer pass; a BUILD_DIR given runs only that
# build's suite. Arguments go to both ctest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@")

if [[ -z "${BUILD_DIR:-}" && "${SPOOFD_ASAN:-1}" != 0 ]]; then
  echo "== the same suite under ASan + UBSan (build-asan/)"
  BUILD_DIR=build-asan CMAKE_ARGS="-DSPOOFD_SANITIZE=address,undefined -DSPOOFD_BUILD_BENCH=OFF" \
    scripts/build.sh
  cd build-asan
  # Any UBSan report ends the process (and fails its test); leak checking is
  # on, with third-party leaks suppressed (tests/sanitizers/lsan.supp says why).
  export ASAN_OPTIONS="detect_leaks=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  export LSAN_OPTIONS="suppressions=$PWD/../tests/sanitizers/lsan.supp"
  # LeakSanitizer cannot run where ptrace is forbidden (some containers): it
  # then fails every process at exit. Probe once and say so rather than fail
  # the whole suite for the sandbox's sake; ASan and UBSan still run.
  if ! bin/features_test --gtest_filter='FeatureConfigTest.*' >/dev/null 2>lsan-probe.log; then
    if grep -q "LeakSanitizer has encountered a fatal error" lsan-probe.log; then
      echo "== LeakSanitizer does not work in this environment: leak checking off" >&2
      export ASAN_OPTIONS="detect_leaks=0"
    fi
  fi
  # The browser test drives only the upload page; its server side ran above.
  ctest --output-on-failure -j "${JOBS:-$(nproc)}" -LE browser "$@"
fi
