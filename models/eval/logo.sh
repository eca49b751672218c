#!/usr/bin/env bash
# Leave-one-generator-family-out over the Debian corpus with the shipped model's
# recipe: for each family in protocols/logo/, train without that family's
# generators (they are also kept out of the dev split that picks the epoch), export,
# and score the family's eval protocol (the family's synthetic eval clips against
# every genuine eval clip), file level through the C++ pipeline. The other training
# sets (models/train/extras.tsv: the demo pages in three channel draws, the vocoder
# copies, the game lines) stay in, and the generators the shipped recipe never trains
# on (TRAIN_EXCLUDE, train/extras.sh) stay out of every fold.
# A family whose eval JSON exists is skipped, so an interrupted run resumes, and a
# family another instance is working on (its lock is held) is skipped too, so two
# instances on two cores share the families.
#
#   models/eval/logo.sh CONFIG.json [WORK]   # EPOCHS, STEPS, THREADS, AVERAGE_FROM, SEED from the environment
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:?usage: logo.sh CONFIG.json [WORK]}
WORK=${2:-models/work}
PY=/usr/bin/python3
CORPUS=models/corpus/data
EPOCHS=${EPOCHS:-12}
STEPS=${STEPS:-300}
THREADS=${THREADS:-1}
AVERAGE_FROM=${AVERAGE_FROM:-7}  # as the shipped model: the mean of the weights after epochs 7-12
SEED=${SEED:-3}
VERSION=${VERSION:-$(date -u +%Y.%m.%d)}
[[ -d "$CORPUS/protocols/logo" ]] || { echo "logo.sh: no $CORPUS/protocols/logo (build the corpus first)" >&2; exit 1; }

common=(--protocols "$CORPUS/protocols" --audio-dir "$CORPUS/clips")
source models/train/extras.sh

# The recipe of this table, for the model card: every family in $WORK/eval/logo must
# come from the same one, so a run with other settings refuses to add rows to it.
mkdir -p "$WORK/eval/logo"
settings=$($PY -c 'import json, sys; print(json.dumps({"features": sys.argv[1], "epochs": int(sys.argv[2]),
  "steps": int(sys.argv[3]), "average_from": int(sys.argv[4]), "seed": int(sys.argv[5]),
  "excluded_systems": sys.argv[6].split()}, sort_keys=True))' \
  "$(basename "$config" .json)" "$EPOCHS" "$STEPS" "$AVERAGE_FROM" "$SEED" "$TRAIN_EXCLUDE")
settings_file="$WORK/eval/logo_settings.json"
if [[ -f "$settings_file" ]]; then
  [[ "$(cat "$settings_file")" == "$settings" ]] || {
    echo "logo.sh: $WORK/eval/logo was run with $(cat "$settings_file"), not $settings; move it away first" >&2
    exit 1; }
else
  echo "$settings" > "$settings_file"
fi

for dir in "$CORPUS"/protocols/logo/*/; do
  family=$(basename "$dir")
  run="$WORK/logo/$(basename "$config" .json)/$family"  # a run never resumes another front-end's
  [[ -f "$WORK/eval/logo/$family.json" ]] && { echo "$family: done"; continue; }
  mkdir -p "$run"
  exec {lock}>"$run/lock"
  flock -n "$lock" || { echo "$family: another instance has it"; exec {lock}>&-; continue; }
  mapfile -t systems < <(awk -F'\t' -v f="$family" 'NR > 1 && $9 == f {print $8}' "$CORPUS/protocols/meta.tsv" | sort -u)
  excludes=("${exclude_systems[@]}")  # the shipped recipe's, then the family's own
  for s in "${systems[@]}"; do excludes+=(--exclude-system "$s"); done
  # train.py resumes from its last epoch; export.py writes model.pt atomically once it finished.
  [[ -f "$run/model.pt" ]] || $PY models/train/train.py --run "$run" --features "$config" "${common[@]}" \
    "${extras[@]}" "${excludes[@]}" --splice-prob 0.2 --epochs "$EPOCHS" --steps-per-epoch "$STEPS" \
    --average-from "$AVERAGE_FROM" --seed "$SEED" --threads "$THREADS" --jobs "$THREADS"
  [[ -f "$run/model.pt" ]] || $PY models/train/export.py --run "$run" --out "$run/model.pt" \
    --version "$VERSION-logo-$family" "${common[@]}" "${extras[@]}" >/dev/null
  $PY models/eval/evaluate.py --model "$run/model.pt" --protocol "$dir/eval.txt" \
    --audio-dir "$CORPUS/clips" --meta "$CORPUS/protocols/meta.tsv" --out "$WORK/eval/logo" --name "$family" | tail -1
  exec {lock}>&-
done
