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
# Two generators stay out of training and of the dev EER printed while training (they
# stay in every evaluation and in the calibration): copy-synthesis Griffin-Lim keeps the
# STFT magnitude of the original, and festival's msu_ru unit selection is made of the
# festvox-ru speaker's own recordings; a model trained on them did not separate them even
# on its own training clips (models/eval/train_fit.py: 38% and 36% EER), and leaving them
# out was better on the Debian, copy and Queen eval splits (seventeenth session, MODEL_CARD.notes.md).
# TRAIN_EXCLUDE= (set and empty) trains on every generator.
TRAIN_EXCLUDE=${TRAIN_EXCLUDE-griffin_lim festival_msu_ru}
exclude_systems=()
for _s in $TRAIN_EXCLUDE; do exclude_systems+=(--exclude-system "$_s"); done
unset _s
