#!/usr/bin/python3
"""A classical reference detector: two Gaussian mixtures (genuine, synthetic) over the
shipped front-end's frames, scored as the mean frame log-likelihood ratio of a file.

It answers how much the CNN buys over the ASVspoof challenges' GMM baselines on the
same features and training data. It is not part of the product. Frames come from the
cached C++ features (spoofctl features, the same code as serving); each clip is
normalised per dimension over the clip (mean and variance, as the network normalises
a segment), `--frames-per-clip` frames are drawn at random from every training clip
(times its training set's weight), and each class's mixture is fitted on the same
number of frames (at most `--max-frames`). Scores are written per split beside the
JSON summary, in evaluate.py's format.

  gmm_baseline.py --out models/results/gmm_baseline.json [--components 128]
  gmm_baseline.py --gmms fitted.pkl ...      # score with mixtures fitted before

About 15 minutes to fit 128 components (one core per class, 30 EM iterations on
88,842 frames each, 2026-12-08) and 2 minutes to score.
"""
import argparse
import json
import pathlib
import pickle
import sys
import time

import numpy as np
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "train"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import data  # noqa: E402
import extras  # noqa: E402
import metrics  # noqa: E402

ROOT = data.ROOT
CORPUS = ROOT / "models" / "corpus" / "data"


def normalise(x):
    x = x - x.mean(0)
    return x / np.maximum(x.std(0), 1e-4)


def normalised_clips(items, args):
    """(item, its normalised feature rows) for every item with cached features of at least
    50 frames (computed with spoofctl where missing)."""
    paths = data.cache_features(items, args.features, args.cache)
    for it in items:
        path = paths.get(it.file_id)
        if path is None:
            continue
        x = np.load(path)
        if x.shape[0] >= 50:
            yield it, normalise(x)


def training_sets():
    """(name, protocols, clips, weight): the Debian corpus and models/train/extras.tsv."""
    sets = [("main", CORPUS / "protocols", CORPUS / "clips", 1.0)]
    for name, folder, weight in extras.extra_sets():
        if (CORPUS / folder / "protocols" / "train.txt").exists():
            sets.append((name, CORPUS / folder / "protocols", CORPUS / folder / "clips", float(weight)))
    return sets


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", default=str(ROOT / "models/train/configs/cqcc60gd.json"))
    p.add_argument("--cache", default=str(ROOT / "models/work/features"))
    p.add_argument("--components", type=int, default=128)
    p.add_argument("--frames-per-clip", type=int, default=12)
    p.add_argument("--max-frames", type=int, default=250000)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--exclude-system", action="append", default=["festival_msu_ru"])
    p.add_argument("--gmms", help="pickle of {0: genuine, 1: synthetic} mixtures: skip fitting")
    p.add_argument("--save-gmms", help="write the fitted mixtures here")
    p.add_argument("--out", required=True, help="summary JSON; scores go beside it")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)

    if args.gmms:
        gmms = pickle.loads(pathlib.Path(args.gmms).read_bytes())
        fitted = {"from": pathlib.Path(args.gmms).name, "components": gmms[0].n_components,
                  "iterations": gmms[0].max_iter,
                  **{f"class{k}": {"converged": bool(g.converged_)} for k, g in gmms.items()}}
    else:
        frames = {0: [], 1: []}
        for _, pdir, adir, weight in training_sets():
            items = [it for it in data.read_protocol(pdir / "train.txt", adir) if it.system not in args.exclude_system]
            per = max(1, int(round(args.frames_per_clip * weight)))
            for it, x in normalised_clips(items, args):
                frames[it.label].append(x[rng.choice(x.shape[0], min(per, x.shape[0]), replace=False)])
        frames = {k: np.concatenate(v) for k, v in frames.items()}
        n = min(len(frames[0]), len(frames[1]), args.max_frames)
        gmms, fitted = {}, {"frames_per_class": int(n), "components": args.components,
                            "iterations": args.iterations}
        for label in (0, 1):
            t = time.time()
            x = frames[label][rng.choice(len(frames[label]), n, replace=False)]
            g = GaussianMixture(args.components, covariance_type="diag", max_iter=args.iterations,
                                reg_covar=1e-3, random_state=args.seed)
            g.fit(x)
            gmms[label] = g
            fitted[f"class{label}"] = {"seconds": round(time.time() - t), "converged": bool(g.converged_)}
            print(f"class {label}: {n} frames, {time.time() - t:.0f} s, converged {g.converged_}", flush=True)
        if args.save_gmms:
            pathlib.Path(args.save_gmms).write_bytes(pickle.dumps(gmms))

    out = pathlib.Path(args.out)
    summary = {"fit": fitted, "splits": {}}
    for name, proto, adir in (("dev", CORPUS / "protocols/dev.txt", CORPUS / "clips"),
                              ("debian_eval", CORPUS / "protocols/eval.txt", CORPUS / "clips"),
                              ("neural_eval", CORPUS / "neural/protocols/eval.txt", CORPUS / "neural/clips")):
        if not proto.exists():
            continue
        ids, scores, labels = [], [], []
        for it, x in normalised_clips(data.read_protocol(proto, adir), args):
            ids.append(it.file_id)
            scores.append(float(np.mean(gmms[1].score_samples(x) - gmms[0].score_samples(x))))
            labels.append(it.label)
        scores, labels = np.array(scores), np.array(labels)
        eer = metrics.eer(scores, labels)[0]
        lo, hi = metrics.eer_interval(scores, labels)
        summary["splits"][name] = {"genuine": int((labels == 0).sum()), "synthetic": int((labels == 1).sum()),
                                   "eer": eer, "eer_interval": [lo, hi]}
        print(f"{name}: {(labels == 0).sum()} + {(labels == 1).sum()} files, EER {100 * eer:.2f}% "
              f"({100 * lo:.1f}-{100 * hi:.1f})", flush=True)
        out.with_name(f"{out.stem}_{name}.scores.txt").write_text(
            "".join(f"{i} {s:.5f}\n" for i, s in zip(ids, scores)))
    out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
