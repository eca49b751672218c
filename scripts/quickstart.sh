#!/usr/bin/env bash
# Quick start: install dependencies, build, and run spoofd's main job on the
# bundled sample recording.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
echo
echo "== spoofctl features samples/genuine_librivox_0870.wav"
build/bin/spoofctl features samples/genuine_librivox_0870.wav --out build/genuine_librivox_0870.lfcc.npy
