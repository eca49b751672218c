#!/usr/bin/env bash
# Regenerates the decode test fixtures (tests/data/fixtures/, committed) and, on
# request, the 10 s / 60 s / 1 h benchmark inputs (build/bench-data/, not committed).
#
#   tests/data/make_fixtures.sh            # fixtures
#   tests/data/make_fixtures.sh bench [DIR]  # bench inputs (default DIR: build/bench-data)
#
# Source: samples/genuine_librivox_0870.wav (16 kHz mono speech, LibriVox, public
# domain). Each fixture is the 2 s from 1.0 s to 3.0 s of that clip, except the
# 44.1 kHz float stereo WAV (0.5 s: 2 s of it would be 700 KB on its own).
#
# Only this script runs the ffmpeg CLI; the library never shells out.
# Determinism: -bitexact (container and codec), -map_metadata -1, one thread,
# fixed seeds. Re-running with the same ffmpeg build gives byte-identical files;
# a different build of an encoder (lame, opus, x264, ...) may change its bytes
# but not what the tests check.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="${repo}/samples/genuine_librivox_0870.wav"
# /usr/bin/python3 rather than whatever python3 is first on PATH (see TOOLCHAIN.md).
py=/usr/bin/python3
[[ -x "${py}" ]] || py=python3

ff() {
  ffmpeg -nostdin -hide_banner -loglevel error -y -threads 1 "$@"
}

# Common output flags: no metadata, no encoder version strings, no random ids.
bx=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact -flags:v +bitexact)
# The 2 s excerpt, trimmed sample-exactly after decoding.
clip=(-i "${src}" -af "atrim=start=1:duration=2,asetpts=PTS-STARTPTS")

make_fixtures() {
  local out="${repo}/tests/data/fixtures"
  rm -rf "${out}"
  mkdir -p "${out}"
  cd "${out}"

  # --- WAV family ---
  ff "${clip[@]}" "${bx[@]}" -c:a pcm_s16le -ar 16000 -ac 1 wav_s16le_16k.wav
  ff "${clip[@]}" "${bx[@]}" -c:a pcm_u8 -ar 8000 -ac 1 wav_u8_8k.wav
  # Right channel at half level, so the mono down-mix is (L + R) / 2 = 0.75 L.
  ff -i "${src}" -af "atrim=start=1:duration=0.5,asetpts=PTS-STARTPTS,pan=stereo|c0=c0|c1=0.5*c0" \
    "${bx[@]}" -c:a pcm_f32le -ar 44100 wav_f32le_44k_stereo.wav
  ff "${clip[@]}" "${bx[@]}" -c:a pcm_mulaw -ar 8000 -ac 1 wav_mulaw_8k.wav
  ff "${clip[@]}" "${bx[@]}" -c:a pcm_alaw -ar 8000 -ac 1 wav_alaw_8k.wav
  ff "${clip[@]}" "${bx[@]}" -c:a libgsm_ms -ar 8000 -ac 1 wav_gsm_ms_8k.wav
  ff "${clip[@]}" "${bx[@]}" -c:a g722 -ar 16000 -ac 1 wav_g722_16k.wav
  ff "${clip[@]}" "${bx[@]}" -c:a g726 -b:a 32k -ar 8000 -ac 1 wav_g726_8k.wav

  # --- Compressed formats ---
  ff "${clip[@]}" "${bx[@]}" -c:a libmp3lame -b:a 32k -ar 16000 -ac 1 speech.mp3
  ff "${clip[@]}" "${bx[@]}" -c:a flac -ar 16000 -ac 1 speech.flac
  ff "${clip[@]}" "${bx[@]}" -c:a libvorbis -q:a 0 -ar 16000 -ac 1 speech_vorbis.ogg
  ff "${clip[@]}" "${bx[@]}" -c:a libopus -b:a 16k -ar 16000 -ac 1 speech_opus.ogg
  ff "${clip[@]}" "${bx[@]}" -c:a libopus -b:a 16k -ar 16000 -ac 1 speech_opus.webm
  ff "${clip[@]}" "${bx[@]}" -c:a aac -b:a 32k -ar 16000 -ac 1 speech_aac.m4a
  ff "${clip[@]}" "${bx[@]}" -c:a libspeex -ar 16000 -ac 1 speech_speex.ogg
  ff "${clip[@]}" "${bx[@]}" -c:a libgsm -ar 8000 -ac 1 -f gsm speech.gsm

  # AMR-NB: Debian's ffmpeg has the decoder but no encoder (opencore-amr is not
  # enabled). Use an encoder if one exists; otherwise skip (the test skips too).
  if ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libopencore_amrnb; then
    ff "${clip[@]}" "${bx[@]}" -c:a libopencore_amrnb -b:a 12.2k -ar 8000 -ac 1 speech_amrnb.amr
  elif command -v sox >/dev/null && sox -h 2>/dev/null | grep -q 'amr-nb'; then
    ff "${clip[@]}" -c:a pcm_s16le -ar 8000 -ac 1 -f wav - |
      sox -t wav - -t amr-nb -C 7 speech_amrnb.amr
  else
    echo "note: no AMR-NB encoder (ffmpeg lacks libopencore_amrnb, no sox amr-nb); skipping speech_amrnb.amr" >&2
  fi

  # --- Video containers (lavfi test pattern, tiny resolution) ---
  local video=(-f lavfi -i "testsrc=size=96x64:rate=10:duration=2")
  local x264=(-c:v libx264 -preset ultrafast -crf 40 -pix_fmt yuv420p)
  ff "${video[@]}" "${clip[@]}" -map 0:v -map 1:a "${bx[@]}" "${x264[@]}" \
    -c:a aac -b:a 32k -ar 16000 -ac 1 -shortest video_aac.mp4
  ff "${video[@]}" "${clip[@]}" -map 0:v -map 1:a "${bx[@]}" \
    -c:v libvpx -deadline good -cpu-used 5 -b:v 40k -c:a libopus -b:a 16k -ar 16000 -ac 1 -shortest video_opus.webm
  ff "${video[@]}" "${bx[@]}" "${x264[@]}" -an video_no_audio.mp4

  # --- Headerless telephony streams (8 kHz mono) ---
  ff "${clip[@]}" "${bx[@]}" -ar 8000 -ac 1 -f s16le raw_s16le_8k.raw
  ff "${clip[@]}" "${bx[@]}" -ar 8000 -ac 1 -f mulaw raw_mulaw_8k.raw
  ff "${clip[@]}" "${bx[@]}" -ar 8000 -ac 1 -f alaw raw_alaw_8k.raw

  # --- A decompression bomb: 11 min of silence in FLAC with the largest block
  # size is a couple of KB and decodes to 11 min (over the tests' 600 s limit).
  ff -f lavfi -i "anullsrc=r=8000:cl=mono" -t 660 "${bx[@]}" -c:a flac -frame_size 65535 \
    -sample_fmt s16 bomb_silence_11min.flac

  # --- Bad inputs ---
  : >bad_empty.wav
  printf 'This is not audio.\nJust a text file that a user uploaded by mistake.\n' >bad_text.txt
  "${py}" - <<'EOF'
import random
from pathlib import Path

# 4096 pseudo-random bytes from a fixed seed (Mersenne Twister: stable across
# Python versions), so the file is reproducible.
rng = random.Random(20240601)
Path("bad_random.bin").write_bytes(rng.getrandbits(8 * 4096).to_bytes(4096, "little"))

# First 40% of the MP3: a download cut short. Decodes partially.
mp3 = Path("speech.mp3").read_bytes()
Path("bad_truncated.mp3").write_bytes(mp3[: len(mp3) * 40 // 100])

# WAV header plus one byte: the header promises 2 s, the data holds half a sample.
wav = Path("wav_s16le_16k.wav").read_bytes()
data_at = wav.index(b"data") + 8
Path("bad_truncated.wav").write_bytes(wav[: data_at + 1])

# FLAC metadata blocks plus the first 40 bytes of the first frame: nothing decodable.
flac = Path("speech.flac").read_bytes()
pos = 4
while True:
    header = flac[pos]
    length = int.from_bytes(flac[pos + 1 : pos + 4], "big")
    pos += 4 + length
    if header & 0x80:  # last-metadata-block flag
        break
Path("bad_truncated.flac").write_bytes(flac[: pos + 40])
EOF

  ls -l "${out}" | awk 'NR > 1 { total += $5; printf "%8d  %s\n", $5, $9 } END { printf "%8d  total bytes\n", total }'
}

make_bench_data() {
  local out="${1:-${repo}/build/bench-data}"
  mkdir -p "${out}"
  # 10 s, 60 s and 1 h: the 7.1 s clip looped (1 h is ~170 MB in all).
  local seconds loop
  for seconds in 10 60 3600; do
    loop=(-stream_loop -1 -i "${src}" -t "${seconds}")
    ff "${loop[@]}" "${bx[@]}" -c:a pcm_s16le -ar 16000 -ac 1 "${out}/speech_${seconds}s.wav"
    ff "${loop[@]}" "${bx[@]}" -c:a libmp3lame -b:a 64k -ar 16000 -ac 1 "${out}/speech_${seconds}s.mp3"
    ff "${loop[@]}" "${bx[@]}" -c:a libopus -b:a 24k -ar 16000 -ac 1 "${out}/speech_${seconds}s_opus.ogg"
    ff "${loop[@]}" "${bx[@]}" -ar 8000 -ac 1 -f mulaw "${out}/speech_${seconds}s_mulaw_8k.raw"
  done
  ls -l "${out}"
}

case "${1:-fixtures}" in
  fixtures) make_fixtures ;;
  bench) make_bench_data "${2:-}" ;;
  *)
    echo "usage: $0 [fixtures | bench [DIR]]" >&2
    exit 2
    ;;
esac
