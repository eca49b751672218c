#!/usr/bin/env bash
# Scores one candidate model on everything the model card reports for a run, so
# candidates are compared on the same files: the Debian eval split, the neural
# pages' eval split, the vocoder copies and the game lines (when built), the
# bundled samples and partial fake (samples.py), the devset (evaluation only) and,
# with CODECS=1, the codec-invariance check. File level, through the C++ pipeline.
#
#   models/eval/candidate.sh MODEL.pt OUT_DIR
#   models/eval/compare.py --protocol ... --a OUT_A/neural/eval.scores.txt --b OUT_B/...
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:?usage: candidate.sh MODEL.pt OUT_DIR}
out=${2:?usage: candidate.sh MODEL.pt OUT_DIR}
PY=/usr/bin/python3
CORPUS=models/corpus/data
mkdir -p "$out"

$PY models/eval/evaluate.py --model "$model" --protocol "$CORPUS/protocols/eval.txt" \
  --audio-dir "$CORPUS/clips" --meta "$CORPUS/protocols/meta.tsv" --out "$out/default" | tail -1
if [[ -f "$CORPUS/neural/protocols/eval.txt" ]]; then
  $PY models/eval/evaluate.py --model "$model" --protocol "$CORPUS/neural/protocols/eval.txt" \
    --audio-dir "$CORPUS/neural/clips" --meta "$CORPUS/neural/meta.tsv" --out "$out/neural" | tail -1
fi
vocoded=models/work/combined/vocoded
if [[ -f "$vocoded/eval.txt" ]]; then
  $PY models/eval/evaluate.py --model "$model" --protocol "$vocoded/eval.txt" \
    --audio-dir "$vocoded/clips" --meta "$vocoded/meta.tsv" --out "$out/vocoded" | tail -1
fi
games=$CORPUS/games
if [[ -f "$games/protocols/eval.txt" ]]; then
  $PY models/eval/evaluate.py --model "$model" --protocol "$games/protocols/eval.txt" \
    --audio-dir "$games/clips" --meta "$games/meta.tsv" --out "$out/games" | tail -1
fi
$PY models/eval/samples.py --model "$model" > "$out/samples.txt"
grep -E "^bundled|^partial fake:" "$out/samples.txt"
$PY models/eval/devset.py --model "$model" --out "$out/devset.json" > "$out/devset.log"
grep -E "^devset:" "$out/devset.log"
if [[ -n "${CODECS:-}" ]]; then
  $PY models/eval/codec_invariance.py --model "$model" --meta "$CORPUS/protocols/meta.tsv" \
    --clips "$CORPUS/clips" --work models/work/codecs --out "$out/codecs.json" > "$out/codecs.log"
  tail -15 "$out/codecs.log"
fi
