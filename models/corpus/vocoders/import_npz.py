#!/usr/bin/python3
"""Turns the generators a GPU run wrote as .npz (gpu_train.sh) into state dicts that
this machine's torch loads, checking each against the network it belongs to.

  import_npz.py DIR_WITH_KIND_TARS models/work/vocoders_gpu
"""
import pathlib
import sys
import tarfile

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import nets  # noqa: E402


def main():
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for tar in sorted(src.glob("*.tar")):
        kind = tar.stem
        if kind not in nets.KINDS:
            raise SystemExit(f"{tar}: unknown vocoder kind {kind}")
        out = dst / kind
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tar) as t:
            t.extractall(out)
        for f in sorted(out.glob("g_*.npz")):
            with np.load(f) as z:
                sd = {k: torch.from_numpy(z[k].copy()) for k in z.files}
            g = nets.make_generator(kind)
            g.load_state_dict(sd)  # strict: a missing or extra tensor is an error
            torch.save(g.state_dict(), f.with_suffix(".pt"))
            f.unlink()
            print(f"{kind}: {f.with_suffix('.pt')}")


if __name__ == "__main__":
    main()
