#!/usr/bin/env bash
# Quick start: install dependencies, build, and run spoofd's main job on the
# bundled sample recording.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
echo
echo "== spoofctl score (bundled default model) on a genuine and a synthetic sample"
build/bin/spoofctl score samples/genuine_librivox_0870.wav samples/synthetic_flite_slt_0870.wav
