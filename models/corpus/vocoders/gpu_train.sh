#!/bin/bash
# Trains the four vocoder families at once on one lent GPU, from a pack of the
# genuine training speech, and writes each family's kept generators (as .npz, so
# that Debian's torch 1.13 reads what a newer torch wrote) to one tar per family.
#
#   here:  models/corpus/vocoders/train_vocoder.py --write-pack .gpu/pack.npz --hours 0.44 --spread-speakers
#   there: models/corpus/vocoders/gpu_train.sh .gpu/pack.npz OUTDIR MINUTES
#   here:  models/corpus/vocoders/import_npz.py OUTDIR models/work/vocoders_gpu
#
# The CPU recipe (build_model.sh) trains the same code without a GPU.
set -u
PACK=$1 OUTDIR=$2 MINUTES=${3:-7} PY=${PY:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=/tmp/vocoders_gpu
mkdir -p "$WORK" "$OUTDIR"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$PY" -c "import torch, torchaudio; print('torch', torch.__version__, 'torchaudio', torchaudio.__version__, 'cuda', torch.cuda.is_available())"
pids=()
for kind in upsample istft subband wavenet; do
  PYTHONUNBUFFERED=1 "$PY" -W ignore "$HERE/train_vocoder.py" --pack "$PACK" --kind "$kind" \
    --out "$WORK/$kind" --device cuda --batch 16 --steps 200000 --minutes "$MINUTES" \
    --gan-start 2000 --keep 3000,8000 --save-every 100000 --threads 2 > "$WORK/$kind.out" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for kind in upsample istft subband wavenet; do
  echo "== $kind"; tail -4 "$WORK/$kind.out"
  "$PY" - "$WORK/$kind" <<'PY'
import pathlib, sys
import numpy as np
import torch
d = pathlib.Path(sys.argv[1])
for f in sorted(d.glob("g_*.pt")):
    sd = torch.load(f, map_location="cpu")
    out = {}
    for k, v in sd.items():  # the new weight-norm API names the two halves differently
        k = k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v")
        out[k] = v.detach().float().numpy()
    np.savez(f.with_suffix(".npz"), **out)
PY
  (cd "$WORK/$kind" && tar cf "$OUTDIR/$kind.tar" g_*.npz train.log)
done
ls -la "$OUTDIR"
