#!/usr/bin/python3
"""Paired comparison of two recipes on leave-one-source-out, over sources.

Each --pair names the two result files (loso.py --out) of one seed: A then B. The
per-source difference B - A (EER points) is averaged over the pairs given, so two
seeds give one seed-averaged difference per source. Reported: the mean difference
with a 95% bootstrap interval over sources (10,000 resamples, fixed RNG), how many
sources are worse, better or equal, a two-sided sign test over sources, and the
mean weighted by each source's synthetic clips.

  loso_compare.py --pair results/loso_g3r.json results/loso.json \\
                  --pair results/loso_g3rs4.json results/loso_x2s4.json [--json OUT]
"""
import argparse
import json
import math
import pathlib

import numpy as np


def compare(pairs, resamples=10000, seed=0):
    runs = [(json.loads(pathlib.Path(a).read_text())["sources"], json.loads(pathlib.Path(b).read_text())["sources"])
            for a, b in pairs]
    sources = sorted(set.intersection(*(set(a) & set(b) for a, b in runs)))
    if not sources:
        raise SystemExit("loso_compare.py: the files share no source")
    per_pair = np.array([[100 * (b[s]["eer"] - a[s]["eer"]) for s in sources] for a, b in runs])
    d = per_pair.mean(axis=0)
    weights = np.array([runs[0][1][s]["spoof_clips"] for s in sources], dtype=float)
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1)
    n, k = int((d != 0).sum()), int((d > 0).sum())
    tail = sum(math.comb(n, i) for i in range(max(k, n - k), n + 1)) / 2 ** n if n else 1.0
    return {
        "sources": len(sources),
        "pairs": [list(map(str, p)) for p in pairs],
        "mean_a": [round(100 * float(np.mean([a[s]["eer"] for s in sources])), 2) for a, _ in runs],
        "mean_b": [round(100 * float(np.mean([b[s]["eer"] for s in sources])), 2) for _, b in runs],
        "mean_difference_per_pair": [round(float(x), 2) for x in per_pair.mean(axis=1)],
        "mean_difference_points": round(float(d.mean()), 2),
        "interval_95": [round(float(np.percentile(boot, 2.5)), 2), round(float(np.percentile(boot, 97.5)), 2)],
        "sources_worse": k,
        "sources_better": int((d < 0).sum()),
        "sources_equal": int((d == 0).sum()),
        "sign_test_p": round(min(1.0, 2 * tail), 4),
        "clip_weighted_difference_points": round(float(np.average(d, weights=weights)), 2),
        "per_source_difference_points": {s: round(float(x), 2) for s, x in zip(sources, d)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"),
                    help="loso.py results of recipe A and recipe B at one seed (repeatable)")
    ap.add_argument("--json", help="also write the comparison here")
    args = ap.parse_args()
    r = compare(args.pair)
    print(f"{r['sources']} sources, {len(args.pair)} pair(s): mean A {r['mean_a']} B {r['mean_b']}")
    print(f"B - A: {r['mean_difference_points']:+.2f} points (95% {r['interval_95'][0]:+.2f} to "
          f"{r['interval_95'][1]:+.2f}); per pair {r['mean_difference_per_pair']}")
    print(f"B worse in {r['sources_worse']}, better in {r['sources_better']}, equal in {r['sources_equal']}; "
          f"sign test p = {r['sign_test_p']}; clip-weighted {r['clip_weighted_difference_points']:+.2f}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
