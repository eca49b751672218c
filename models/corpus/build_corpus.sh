#!/usr/bin/env bash
# Builds the spoofd training corpus (genuine vs synthetic speech) from Debian packages.
#
#   models/corpus/build_corpus.sh [--smoke] [--jobs N] [--hours H] [--max-per-source N]
#                                 [--seed S] [--data DIR] [--no-probe]
#
#   --smoke            ~10 min of audio in data/smoke/ (a few minutes to build)
#   --jobs N           worker processes per step (default 1)
#   --hours H          genuine hours to select (synthetic follows per language); default 7
#   --max-per-source N at most N genuine files per source package (0 = no cap)
#   --seed S           global seed (selection, generators, channel chain); default 1234
#   --data DIR         output root (default models/corpus/data, smoke: data/smoke)
#   --no-probe         skip the channel-shortcut probe in the stats step
#
# Every step is resumable: each output is written to a temp file and renamed, a
# per-task JSON sidecar marks it done, and a rerun skips finished tasks. Kill it at
# any time and run the same command again. Packages: models/corpus/packages.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=/usr/bin/python3   # Debian's python: numpy/scipy/torch/torchaudio/soundfile live there

smoke=0 jobs=1 hours="" max_per_source=0 seed=1234 data="" probe=1
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --jobs) jobs="$2"; shift ;;
    --hours) hours="$2"; shift ;;
    --max-per-source) max_per_source="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    --data) data="$2"; shift ;;
    --no-probe) probe=0 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build_corpus: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if ((smoke)); then
  : "${hours:=0.06}"
  : "${data:=$here/data/smoke}"
else
  : "${hours:=7}"
  : "${data:=$here/data}"
fi
mkdir -p "$data"
data="$(cd "$data" && pwd)"
export SPOOFD_CORPUS_DATA="$data"
export PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

# One build per data directory at a time.
exec 9>"$data/.lock"
if ! flock -n 9; then
  echo "build_corpus: another build holds $data/.lock" >&2
  exit 1
fi

missing=()
for tool in ffmpeg sox espeak-ng festival flite sptk c2enc c2dec; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "build_corpus: WARNING: missing tools: ${missing[*]} (install models/corpus/packages.txt);" \
       "generators that need them are skipped" >&2
fi
"$py" -c 'import numpy, scipy, soundfile, torch, torchaudio' 2>/dev/null || {
  echo "build_corpus: $py lacks numpy/scipy/soundfile/torch/torchaudio" >&2; exit 1; }

# The configuration decides what is selected; a changed config re-plans, and tasks
# whose outputs already exist are still skipped.
"$py" - "$data/config.json" "$hours" "$max_per_source" "$seed" "$smoke" <<'EOF'
import json, os, sys
path, hours, maxper, seed, smoke = sys.argv[1:]
cfg = {"genuine_hours": float(hours), "max_per_source": int(maxper), "seed": int(seed),
       "smoke": smoke == "1", "max_source_share": 0.2, "spoof_ratio": 1.0,
       "lang_boost": {"en": 3.0}}
old = json.load(open(path)) if os.path.exists(path) else None
if old is not None and old != cfg:
    print(f"build_corpus: config changed: {old} -> {cfg}", flush=True)
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(cfg, f, indent=1, sort_keys=True)
os.replace(tmp, path)
EOF

t0=$(date +%s)
step() {
  local n="$1" name="$2"; shift 2
  local s; s=$(date +%s)
  echo "== [$(date +%H:%M:%S)] step $n/5: $name (data=$data, jobs=$jobs)"
  "$@"
  echo "== [$(date +%H:%M:%S)] step $n/5: $name done in $(( $(date +%s) - s ))s (total $(( $(date +%s) - t0 ))s)"
}

step 1 "extract genuine speech" "$py" "$here/extract_genuine.py" --jobs "$jobs"
step 2 "synthesize" "$py" "$here/synthesize.py" --jobs "$jobs"
step 3 "channel augmentation" "$py" "$here/augment.py" --jobs "$jobs"
step 4 "splits and protocols" "$py" "$here/protocol.py"
probe_arg=(); ((probe)) && probe_arg=(--probe)
if ((smoke)); then
  step 5 "stats" "$py" "$here/stats.py" --out "$data/README.md" "${probe_arg[@]}"
else
  step 5 "stats" "$py" "$here/stats.py" --out "$here/README.md" "${probe_arg[@]}"
fi
rm -rf "$data/tmp"
echo "== [$(date +%H:%M:%S)] corpus ready in $data ($(( $(date +%s) - t0 ))s)"
