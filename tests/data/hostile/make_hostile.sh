#!/usr/bin/env bash
# Regenerates the hostile-input files (committed) that the reliability tests
# send through the decoder and the server (tests/RELIABILITY.md):
#   silence_10h_8k.flac  10 hours of digital silence, 8 kHz mono FLAC with
#                        65535-sample frames: ~72 KB that decode to 10 h
#                        (2.3 GB of float at 16 kHz): a FLAC decompression bomb
#                        and the "10 hours of silence" case in one file.
#   bomb_opus_10min.opus 10 minutes of Opus DTX packets in ~21 KB (make_opus_bomb.py).
# Smaller hostile inputs (lying headers, 96 kHz 8-channel audio, NaN/Inf float
# PCM, truncations) are made by the tests themselves (tests/hostile_audio.h).
# Only this script runs the ffmpeg CLI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ffmpeg -nostdin -hide_banner -loglevel error -y -threads 1 -f lavfi -i anullsrc=r=8000:cl=mono \
  -t 36000 -c:a flac -compression_level 12 -frame_size 65535 \
  -map_metadata -1 -fflags +bitexact -flags:a +bitexact "${here}/silence_10h_8k.flac"
/usr/bin/python3 "${here}/make_opus_bomb.py" "${here}/bomb_opus_10min.opus" 600
