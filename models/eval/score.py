#!/usr/bin/python3
"""Scores a score file against an ASVspoof-style protocol.

  score.py --protocol eval.txt --scores scores.txt [--det det.png] [--json out.json]

Protocol lines: `SPEAKER FILE_ID - SYSTEM_ID bonafide|spoof` (extra columns ignored).
Score lines:    `FILE_ID SCORE [LLR]` — SCORE higher = more likely synthetic; LLR,
                when present, is the calibrated log-likelihood ratio used for
                actDCF and Cllr (otherwise SCORE is taken as the LLR).
Prints EER, minDCF (Pspoof 0.05, Cmiss 1, Cfa 10), actDCF and Cllr overall and per
SYSTEM_ID (each spoof system against all bonafide).
"""
import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402


def read_scores(path):
    scores = {}
    for line in pathlib.Path(path).read_text().splitlines():
        cols = line.split()
        if len(cols) >= 2 and not line.startswith("#"):
            score = float(cols[1])
            scores[cols[0]] = (score, float(cols[2]) if len(cols) > 2 else score)
    return scores


def read_keys(path):
    keys = []
    for line in pathlib.Path(path).read_text().splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        key = next((c for c in cols[4:] if c in ("bonafide", "spoof")), None)
        if key:
            keys.append((cols[1], cols[3], 1 if key == "spoof" else 0))
    return keys


def plot_det(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    fig, ax = plt.subplots(figsize=(5, 5))
    ticks = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    for name, (scores, labels) in curves.items():
        fa, miss = metrics.det_curve(scores, labels)
        fa = np.clip(fa, 1e-4, 1 - 1e-4)
        miss = np.clip(miss, 1e-4, 1 - 1e-4)
        ax.plot(norm.ppf(fa), norm.ppf(miss), label=name)
    ax.set_xticks(norm.ppf(ticks))
    ax.set_xticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks))
    ax.set_yticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_xlim(norm.ppf(5e-4), norm.ppf(0.5))
    ax.set_ylim(norm.ppf(5e-4), norm.ppf(0.5))
    ax.set_xlabel("false alarm rate on genuine speech (%)")
    ax.set_ylabel("miss rate on synthetic speech (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate(keys, scores):
    rows = [(fid, system, label, *scores[fid]) for fid, system, label in keys if fid in scores]
    missing = len(keys) - len(rows)
    labels = np.array([r[2] for r in rows])
    s = np.array([r[3] for r in rows])
    llr = np.array([r[4] for r in rows])
    result = {"overall": metrics.summary(s, labels, llr), "missing_scores": missing, "systems": {}}
    systems = sorted({r[1] for r in rows if r[2] == 1})
    bona = labels == 0
    for system in systems:
        mask = bona | np.array([r[1] == system for r in rows])
        result["systems"][system] = metrics.summary(s[mask], labels[mask], llr[mask])
    return result, s, labels


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", required=True)
    p.add_argument("--scores", required=True)
    p.add_argument("--det", help="write a DET curve PNG here")
    p.add_argument("--json", help="write the metrics as JSON here")
    args = p.parse_args()
    result, s, labels = evaluate(read_keys(args.protocol), read_scores(args.scores))
    o = result["overall"]
    print(f"files: {o['n_bonafide']} bonafide, {o['n_spoof']} spoof, {result['missing_scores']} without a score")
    if "eer" in o:
        print(f"EER {100 * o['eer']:.2f}%  minDCF {o['min_dcf']:.4f}  actDCF {o['act_dcf']:.4f}  Cllr {o['cllr']:.4f}")
    for system, m in result["systems"].items():
        print(f"  {system:24s} EER {100 * m['eer']:6.2f}%  minDCF {m['min_dcf']:.4f}  n={m['n_spoof']}")
    if args.det:
        plot_det({"all": (s, labels)}, args.det)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
