#!/usr/bin/env python3
"""How much of the recording source a trained detector's embedding gives away.

For every clip of the eval splits (the Debian corpus and each --extra set), the
pooled embedding of the network (the input of its classifier head, averaged over
the service's windows) is computed from the cached C++ features. Within each class,
a logistic regression then guesses the clip's recording source (meta.tsv `source`:
Debian package, demo page, game) under 5-fold cross-validation, and the balanced
accuracy is reported against chance (one over the number of sources). A detector
that separates genuine from synthetic speech by what was synthesised, and not by
where it was recorded, should give little away. Used to check train.py
--source-adversary.

  /usr/bin/python3 models/eval/source_probe.py --run models/work/runs/g10 \
      --protocols models/corpus/data/protocols --audio-dir models/corpus/data/clips \
      --extra neural:models/corpus/data/neural/protocols:models/corpus/data/neural/clips --out probe.json
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "train"))
import data  # noqa: E402
import model as nets  # noqa: E402


@torch.no_grad()
def embeddings(net, feats, frames):
    """Mean embedding over each clip's windows (hop = half a window, as the service)."""
    net.eval()
    out = []
    for x in feats:
        wins = np.stack(data.windows(x, frames, frames // 2)).astype(np.float32)
        out.append(net.embed(torch.from_numpy(wins)).mean(0).numpy())
    return np.stack(out)


def balanced_accuracy(truth, guess):
    return float(np.mean([np.mean(guess[truth == s] == s) for s in np.unique(truth)]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="a train.py run folder (its best.pt is probed)")
    p.add_argument("--protocols", required=True)
    p.add_argument("--audio-dir", required=True)
    p.add_argument("--extra", action="append", default=[], metavar="NAME:PROTOCOLS:AUDIO[:WEIGHT]")
    p.add_argument("--split", default="eval")
    p.add_argument("--min-clips", type=int, default=20, help="sources with fewer clips of a class are left out")
    p.add_argument("--cache", default=str(data.ROOT / "models" / "work" / "features"))
    p.add_argument("--out", help="JSON with the results")
    args = p.parse_args()
    torch.set_num_threads(1)

    net, settings = nets.load_run(args.run)
    config = pathlib.Path(args.run) / "features.json"
    config.write_text(json.dumps(settings["features"]))

    sets = [(pathlib.Path(args.protocols), pathlib.Path(args.audio_dir))]
    sets += [(pathlib.Path(s.split(":")[1]), pathlib.Path(s.split(":")[2])) for s in args.extra]
    items = []
    for pdir, adir in sets:
        sources = data.read_sources(pdir)
        for it in data.read_protocol(pdir / f"{args.split}.txt", adir):
            it.source = sources.get(it.file_id, "")
            if it.source:
                items.append(it)
    paths = data.cache_features(items, config, args.cache, jobs=1)
    items, feats = data.load_features(items, paths)
    emb = embeddings(net, feats, settings.get("segment_frames", 400))

    result = {"run": str(args.run), "split": args.split, "classes": {}}
    for label, kind in ((0, "genuine"), (1, "synthetic")):
        idx = [i for i, it in enumerate(items) if it.label == label]
        src = np.array([items[i].source for i in idx])
        names, counts = np.unique(src, return_counts=True)
        keep = set(names[counts >= args.min_clips])
        idx = [i for i, s in zip(idx, src) if s in keep]
        src = np.array([items[i].source for i in idx])
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        guess = cross_val_predict(clf, emb[idx], src, cv=folds)
        bacc = balanced_accuracy(src, guess)
        result["classes"][kind] = {"clips": len(idx), "sources": len(keep), "balanced_accuracy": bacc,
                                   "chance": 1.0 / len(keep)}
        print(f"{kind}: {len(idx)} clips from {len(keep)} sources; recording source guessed from the "
              f"embedding with balanced accuracy {100 * bacc:.1f}% (chance {100 / len(keep):.1f}%)")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
