#!/usr/bin/python3
"""The channel-shortcut check: can channel statistics alone tell the classes apart?

If genuine and synthetic clips differ in bandwidth, level, silence or codec, a
detector can score well by learning the channel instead of the speech. This
script measures per-clip channel statistics only — nothing about the voice —
trains classifiers on the train split and reports their EER on the eval split.
An EER near 50% means the corpus leaves no channel shortcut; a low EER names a
leak to fix in the corpus.

Statistics per clip (16 kHz audio): RMS level (dBFS), peak level, 99% energy
bandwidth, spectral roll-off (85%), energy above 4 kHz and below 300 Hz
(relative), noise floor (10th percentile frame energy), dynamic range,
leading/trailing low-energy time, share of near-silent frames, DC offset,
and the channel condition as a one-hot code.

  shortcut_check.py --meta .../meta.tsv --clips .../clips --out models/work/eval/shortcut.json
"""
import argparse
import csv
import json
import pathlib
import sys

import numpy as np
import soundfile as sf
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402

FEATURES = ["rms_dbfs", "peak_dbfs", "bandwidth_hz", "rolloff_hz", "high_band", "low_band",
            "noise_floor_db", "dynamic_range_db", "lead_s", "trail_s", "silent_share", "dc"]


def channel_stats(x, rate=16000):
    x = x.astype(np.float64)
    eps = 1e-12
    frame, hop = 400, 160
    n = 1 + max(0, len(x) - frame) // hop
    frames = np.stack([x[i * hop:i * hop + frame] for i in range(n)]) if len(x) >= frame else x[None, :]
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + eps)
    spec = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1)) ** 2
    total = spec.sum(axis=0) + eps
    freqs = np.fft.rfftfreq(frames.shape[1], 1 / rate)
    cum = np.cumsum(total) / total.sum()
    quiet = energy < energy.max() - 35
    lead = np.argmax(~quiet) if (~quiet).any() else n
    trail = np.argmax(~quiet[::-1]) if (~quiet).any() else n
    return [
        10 * np.log10(np.mean(x ** 2) + eps),
        20 * np.log10(np.max(np.abs(x)) + eps),
        freqs[np.searchsorted(cum, 0.99)],
        freqs[np.searchsorted(cum, 0.85)],
        total[freqs >= 4000].sum() / total.sum(),
        total[freqs < 300].sum() / total.sum(),
        np.percentile(energy, 10),
        np.percentile(energy, 95) - np.percentile(energy, 10),
        lead * hop / rate,
        trail * hop / rate,
        quiet.mean(),
        np.mean(x),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--meta", required=True)
    p.add_argument("--clips", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-per-split", type=int, default=4000)
    p.add_argument("--drop", action="append", default=[], choices=FEATURES, metavar="STAT",
                   help="leave this statistic out of the classifiers, e.g. dc when the model's "
                        "front-end removes each frame's mean and so cannot see it (repeatable)")
    args = p.parse_args()
    with open(args.meta) as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")]
    rng = np.random.default_rng(0)
    conditions = sorted({r.get("condition", "-") for r in rows})
    data = {}
    for split in ("train", "eval"):
        members = [r for r in rows if r["split"] == split]
        if len(members) > args.max_per_split:
            members = [members[i] for i in rng.choice(len(members), args.max_per_split, replace=False)]
        X, y = [], []
        for r in members:
            path = pathlib.Path(args.clips) / (r["clip_id"] + ".wav")
            if not path.exists():
                continue
            audio, rate = sf.read(path, dtype="float32")
            if audio.ndim > 1:
                audio = audio.mean(axis=1)
            onehot = [1.0 if r.get("condition", "-") == c else 0.0 for c in conditions]
            X.append(channel_stats(audio, rate) + onehot)
            y.append(1 if r["label"] == "spoof" else 0)
        data[split] = (np.array(X), np.array(y))
        print(f"{split}: {len(y)} clips", flush=True)

    report = {"features": FEATURES + [f"condition={c}" for c in conditions], "classifiers": {}}
    Xtr, ytr = data["train"]
    Xev, yev = data["eval"]
    keep = [i for i, f in enumerate(report["features"]) if f not in args.drop]
    report["dropped"] = args.drop
    for name, clf in {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "gradient_boosting": GradientBoostingClassifier(n_estimators=200, max_depth=3),
    }.items():
        clf.fit(Xtr[:, keep], ytr)
        s = clf.predict_proba(Xev[:, keep])[:, 1]
        e, _ = metrics.eer(s, yev)
        report["classifiers"][name] = {"eval_eer": e}
        print(f"{name}: eval EER {100 * e:.1f}% (50% = no shortcut)")
    # Which single statistic separates best (EER of the statistic on its own).
    single = {}
    for i, f in enumerate(report["features"][:len(FEATURES)]):
        e, _ = metrics.eer(Xev[:, i], yev)
        single[f] = min(e, 1 - e)
    report["single_feature_eer"] = single
    worst = min(single, key=single.get)
    print(f"most telling single statistic: {worst} (EER {100 * single[worst]:.1f}%)")
    means = {f: {"bonafide": float(Xev[yev == 0, i].mean()), "spoof": float(Xev[yev == 1, i].mean())}
             for i, f in enumerate(FEATURES)}
    report["class_means_eval"] = means
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
