#!/usr/bin/env python3
"""Compares two models scored on the same protocol: EER of each with its bootstrap
interval, and the paired difference (same files resampled for both).

  models/eval/compare.py --protocol P --a A.scores.txt --b B.scores.txt [--name-a v4n --name-b v8c]

Score files are evaluate.py's `FILE_ID SCORE LLR` lines; files missing from either
score file are left out of both (and counted). Use it before calling one recipe
better than another: on the neural eval split (78 genuine files) a difference of
a few points is inside the noise.
"""
import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402
import score  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--protocol", required=True, help="ASVspoof-style protocol (labels)")
    p.add_argument("--a", required=True, help="score file of model A")
    p.add_argument("--b", required=True, help="score file of model B")
    p.add_argument("--name-a", default="A")
    p.add_argument("--name-b", default="B")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    labels = {fid: label for fid, _system, label in score.read_keys(args.protocol)}
    sa, sb = score.read_scores(args.a), score.read_scores(args.b)
    ids = sorted(set(labels) & set(sa) & set(sb))
    dropped = len(labels) - len(ids)
    y = np.array([labels[i] for i in ids])
    if y.min() == y.max():
        sys.exit("compare: the files scored by both models hold only one class")
    a = np.array([sa[i][0] for i in ids])
    b = np.array([sb[i][0] for i in ids])
    res = {"files": {"bonafide": int((y == 0).sum()), "spoof": int((y == 1).sum()), "dropped": dropped}}
    # One set of resamples for both models: their intervals and the paired difference.
    boot = metrics.bootstrap_eers([a, b], y, args.resamples, args.seed)
    for k, (name, s) in enumerate(((args.name_a, a), (args.name_b, b))):
        lo, hi = metrics.percentile_interval(boot[:, k])
        res[name] = {"eer": metrics.eer(s, y)[0], "interval": [lo, hi]}
        print(f"{name}: EER {100 * res[name]['eer']:.2f}% (95% interval {100 * lo:.1f}-{100 * hi:.1f}%)")
    d = {"difference": res[args.name_a]["eer"] - res[args.name_b]["eer"],
         **metrics.paired_difference(boot[:, 0], boot[:, 1])}
    res["difference"] = d
    print(f"{args.name_a} - {args.name_b}: {100 * d['difference']:+.2f} points "
          f"(95% interval {100 * d['interval'][0]:+.1f} to {100 * d['interval'][1]:+.1f}); "
          f"{args.name_a} lower in {100 * d['a_better_share']:.0f}% of {args.resamples} resamples "
          f"({res['files']['bonafide']} genuine + {res['files']['spoof']} synthetic files, {dropped} not in both)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
