# Sourced by build_model.sh and eval/logo.sh: fills the array `extras` with one
# train.py/export.py --extra argument per built set of models/train/extras.tsv, and
# the array `exclude_systems` with one train.py --exclude-system per generator that the
# shipped recipe keeps out of training (TRAIN_EXCLUDE).
#   CORPUS=models/corpus/data; source models/train/extras.sh
extras=()
while IFS=$'\t' read -r _name _dir _weight; do
  [[ -z "$_name" || "$_name" == \#* ]] && continue
  [[ -f "$CORPUS/$_dir/protocols/train.txt" ]] &&
    extras+=(--extra "$_name:$CORPUS/$_dir/protocols:$CORPUS/$_dir/clips:$_weight")
done < "$(dirname "${BASH_SOURCE[0]}")/extras.tsv"
unset _name _dir _weight
# One generator stays out of training and of the dev EER printed while training (it
# stays in every evaluation and in the calibration): festival's msu_ru unit selection,
# made of the festvox-ru speaker's own recordings; a model trained on it did not separate
# it even on its own training clips (models/eval/train_fit.py: 36% EER). Copy-synthesis
# Griffin-Lim was kept out too from 2026.12.07 to 2026.12.08; it is back in training because
# three neural-vocoder pages (BigVGAN, Parallel WaveGAN, DiffWave) were 7-10 points worse
# on leave-one-source-out without it at two seeds (nineteenth and twentieth sessions,
# MODEL_CARD.notes.md; results/candidate_x3_2026-12-07.json).
# TRAIN_EXCLUDE= (set and empty) trains on every generator.
TRAIN_EXCLUDE=${TRAIN_EXCLUDE-festival_msu_ru}
exclude_systems=()
for _s in $TRAIN_EXCLUDE; do exclude_systems+=(--exclude-system "$_s"); done
unset _s
