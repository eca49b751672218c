#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for a
# bounded time. Findings go to $BUILD_DIR/fuzz/artifacts/<harness>/, the
# growing corpus to $BUILD_DIR/fuzz/corpus/<harness>/ (seeded from the
# committed fixtures by make_seeds.py), the log to $BUILD_DIR/fuzz/<harness>.log.
#
#   tests/fuzz/run.sh                      # every harness, 300 s each
#   tests/fuzz/run.sh 600 decode_fuzz      # one harness, 10 minutes
#   BUILD_DIR=build-fuzz JOBS=2 tests/fuzz/run.sh 60
#   MAX_LEN=16384 tests/fuzz/run.sh 600 decode_fuzz   # smaller inputs, more executions
#
# Exit status: non-zero if any harness found a crash (its artifact is listed).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
shift || true
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=(decode_fuzz raw_stream_fuzz feature_config_fuzz request_fuzz)
build=${BUILD_DIR:-build-fuzz}

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPOOFD_FUZZ=ON \
    -DSPOOFD_BUILD_TESTS=OFF -DSPOOFD_BUILD_BENCH=OFF
fi
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${harnesses[@]}"

work="$build/fuzz"
/usr/bin/python3 tests/fuzz/make_seeds.py "$work/seeds"
# The decoder harness gets the largest inputs (whole files); the others less.
declare -A max_len=([decode_fuzz]=262144 [raw_stream_fuzz]=65536 [feature_config_fuzz]=4096
                    [request_fuzz]=131072)
status=0
for h in "${harnesses[@]}"; do
  mkdir -p "$work/corpus/$h" "$work/artifacts/$h"
  echo "== $h: ${seconds} s" >&2
  # ASan/UBSan reports end the run; leaks are checked at every input
  # (libFuzzer's -detect_leaks). rss_limit_mb bounds a decompression bomb.
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "$build/bin/$h" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2560 \
      -max_len="${MAX_LEN:-${max_len[$h]}}" -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$h/" "$work/corpus/$h" "$work/seeds/$h" \
      > "$work/$h.log" 2>&1; then
    status=1
    echo "!! $h found a problem: see $work/$h.log and $work/artifacts/$h/" >&2
  fi
  grep -E "^(#[0-9]+\s+DONE|stat::)" "$work/$h.log" >&2 || tail -5 "$work/$h.log" >&2
done
exit $status
