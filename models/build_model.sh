#!/usr/bin/env bash
# Rebuilds the shipped detector from a fresh machine: corpus -> features ->
# training (two front-ends compared) -> calibration + export -> evaluation.
# Every step is resumable: rerun the same command after an interruption.
#
#   models/build_model.sh            # full build (hours on 2 cores)
#   SMOKE=1 models/build_model.sh    # minutes, for checking the pipeline
#
# Outputs: models/spoofd-default.pt (committed), models/work/ (not committed:
# features, runs, evaluation JSON), models/results/ (committed summaries).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
WORK=models/work
CORPUS=models/corpus/data
VERSION=${VERSION:-$(date -u +%Y.%m.%d)}
EPOCHS=${EPOCHS:-12}
STEPS=${STEPS:-300}
LOGO_EPOCHS=${LOGO_EPOCHS:-5}
mkdir -p "$WORK" models/results

scripts/install-deps.sh --train
[[ -f models/corpus/packages.txt ]] && scripts/install-deps.sh --corpus
scripts/build.sh

smoke=()
[[ -n "${SMOKE:-}" ]] && smoke=(--smoke)
models/corpus/build_corpus.sh "${smoke[@]}" --jobs "${JOBS:-2}"

common=(--protocols "$CORPUS/protocols" --audio-dir "$CORPUS/clips")
for fe in lfcc60 logmel80; do
  $PY models/train/train.py --run "$WORK/runs/$fe" --features "models/train/configs/$fe.json" \
    "${common[@]}" --epochs "$EPOCHS" --steps-per-epoch "$STEPS"
done

# Pick the front-end with the lower dev EER; export it with its calibration.
best=$($PY - <<'PY'
import torch
scores = {fe: torch.load(f"models/work/runs/{fe}/best.pt")["settings"]["dev_eer"] for fe in ("lfcc60", "logmel80")}
print(min(scores, key=scores.get))
PY
)
echo "best front-end on dev: $best"
$PY models/corpus/stats.py --summary-json "$WORK/training_summary.json" >/dev/null 2>&1 || true
summary=()
[[ -f "$WORK/training_summary.json" ]] && summary=(--training-summary "$WORK/training_summary.json")
$PY models/train/export.py --run "$WORK/runs/$best" --out models/spoofd-default.pt \
  --version "$VERSION" "${common[@]}" "${summary[@]}"
cp "$WORK/runs/$best/contract.json" "$WORK/runs/contract_default.json"
# Export the other front-end too, for the comparison table.
for fe in lfcc60 logmel80; do
  $PY models/train/export.py --run "$WORK/runs/$fe" --out "$WORK/runs/$fe/model.pt" \
    --version "$VERSION-$fe" "${common[@]}" >/dev/null
done

# Evaluation (file level, through the C++ pipeline).
for fe in lfcc60 logmel80; do
  $PY models/eval/evaluate.py --model "$WORK/runs/$fe/model.pt" --protocol "$CORPUS/protocols/eval.txt" \
    --audio-dir "$CORPUS/clips" --meta "$CORPUS/protocols/meta.tsv" --out "$WORK/eval/$fe"
done
$PY models/eval/evaluate.py --model models/spoofd-default.pt --protocol "$CORPUS/protocols/eval.txt" \
  --audio-dir "$CORPUS/clips" --meta "$CORPUS/protocols/meta.tsv" --out "$WORK/eval/default"
$PY models/eval/devset.py --model models/spoofd-default.pt --out "$WORK/eval/devset.json"
$PY models/eval/shortcut_check.py --meta "$CORPUS/protocols/meta.tsv" --clips "$CORPUS/clips" \
  --out "$WORK/eval/shortcut.json"
$PY models/eval/codec_invariance.py --model models/spoofd-default.pt --meta "$CORPUS/protocols/meta.tsv" \
  --clips "$CORPUS/clips" --work "$WORK/codecs" --out "$WORK/eval/codecs.json"

# Leave-one-generator-family-out: train without the family's generators (also
# kept out of the dev split that picks the epoch), test on the family.
if [[ -d "$CORPUS/protocols/logo" ]]; then
  for dir in "$CORPUS"/protocols/logo/*/; do
    family=$(basename "$dir")
    run="$WORK/logo/$family"
    mapfile -t systems < <(awk -F'\t' -v f="$family" 'NR > 1 && $9 == f {print $8}' "$CORPUS/protocols/meta.tsv" | sort -u)
    excludes=()
    for s in "${systems[@]}"; do excludes+=(--exclude-system "$s"); done
    $PY models/train/train.py --run "$run" --features "models/train/configs/$best.json" "${common[@]}" \
      "${excludes[@]}" --epochs "$LOGO_EPOCHS" --steps-per-epoch "$STEPS"
    [[ -f "$run/model.pt" ]] || $PY models/train/export.py --run "$run" --out "$run/model.pt" \
      --version "$VERSION-logo-$family" "${common[@]}" >/dev/null
    $PY models/eval/evaluate.py --model "$run/model.pt" --protocol "$dir/eval.txt" \
      --audio-dir "$CORPUS/clips" --meta "$CORPUS/protocols/meta.tsv" --out "$WORK/eval/logo" --name "$family"
  done
fi

$PY models/eval/model_card.py --work "$WORK" --out models/MODEL_CARD.md
echo "done: models/spoofd-default.pt, models/MODEL_CARD.md"
