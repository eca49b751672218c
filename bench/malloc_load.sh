#!/usr/bin/env bash
# Live calls and uploads against one spoofd with and without --reuse-large-allocations,
# one fresh server per setting, for bench/RESULTS.md: latency, server CPU and RSS.
#   bench/malloc_load.sh [CALLS] [UPLOADS] [SECONDS]    (from the repository root, after a build)
set -euo pipefail
calls=${1:-100}
uploads=${2:-2}
seconds=${3:-45}
bin=build/bin
out=${OUT:-build/malloc_load}
mkdir -p "$out"
[[ -f build/bench-data/speech_60s.wav ]] || tests/data/make_fixtures.sh bench
for reuse in false true; do
  port=$((50600 + RANDOM % 300))
  "$bin/spoofd" --listen "127.0.0.1:$port" --metrics-listen "" --max-streams 1000 --workers 16 \
    --max-queue-delay-us 30000 --reuse-large-allocations "$reuse" > "$out/server_$reuse.log" 2>&1 &
  pid=$!
  for _ in $(seq 60); do
    "$bin/spoofd-health" --server "127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 1
  done
  "$bin/spoofd-load" --server "127.0.0.1:$port" --calls "$calls" --call-length-s 30 \
    --duration-s "$seconds" --ramp-s 10 --uploads "$uploads" --upload-file build/bench-data/speech_60s.wav \
    --server-pid "$pid" --json "$out/load_$reuse.json" > "$out/load_$reuse.txt" 2>&1 || true
  kill -TERM "$pid"; wait "$pid" || true
  tail -n 20 "$out/load_$reuse.txt"
done
