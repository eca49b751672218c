# Sourced by build_model.sh and eval/logo.sh: fills the array `extras` with one
# train.py/export.py --extra argument per built set of models/train/extras.tsv.
#   CORPUS=models/corpus/data; source models/train/extras.sh
extras=()
while IFS=$'\t' read -r _name _dir _weight; do
  [[ -z "$_name" || "$_name" == \#* ]] && continue
  [[ -f "$CORPUS/$_dir/protocols/train.txt" ]] &&
    extras+=(--extra "$_name:$CORPUS/$_dir/protocols:$CORPUS/$_dir/clips:$_weight")
done < "$(dirname "${BASH_SOURCE[0]}")/extras.tsv"
unset _name _dir _weight
