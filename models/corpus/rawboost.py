#!/usr/bin/python3
"""RawBoost-style waveform augmentation of training clips, both classes alike.

Tak et al., "RawBoost: a raw data boosting and augmentation method applied to
automatic speaker verification anti-spoofing", ICASSP 2022 (arXiv 2111.04433),
describe three waveform perturbations that make a spoofing detector rely less on
the recording chain of its training data. This is our own implementation of the
same three ideas:

  lnl  linear and non-linear convolutive noise: the clip and its powers x^2..x^P
       (each scaled to unit RMS) go through random multi-band notch filters and
       are summed, the higher orders 10-40 dB below the linear term, so the
       result is the clip through a random channel with harmonic distortion;
  isd  impulsive signal-dependent noise: up to 10% of the samples, picked at
       random, get x[n] * g * u (u uniform in [-1, 1], g in 0.5..2): clicks and
       crackle whose size follows the speech, as from a bad line or clipping;
  ssi  stationary signal-independent noise: white noise through a random
       multi-band notch filter, added at 10-40 dB SNR (coloured hiss and hum).

Each copy draws one of: lnl, isd, ssi, lnl+isd, lnl+isd+ssi (the series the paper
found useful), with a seed derived from the copy's id, so a rerun writes the same
audio. The copy keeps the original's active level; the peak is kept below -0.1
dBFS by scaling. Since the features are only computed in C++ (spoofctl features),
the augmentation is offline: copies are files with their own protocol, used by
train.py as an --extra data set.

  rawboost.py --protocols data/neural/protocols --clips data/neural/clips \
      --copies 2 --out data/rawboost_neural

Only the train split is augmented. Resumable (one sidecar per copy).
Output: <out>/clips/<copy_id>.wav and <out>/protocols/train.txt (the original's
speaker, system and label; file id rb<k>_<original id>).
"""
import argparse
import os
import pathlib
import sys

import numpy as np
from scipy import signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
import common as C  # noqa: E402
import data  # noqa: E402  (the trainer's protocol reader: one parser for every protocol)

STEP = "rawboost"
SR = C.TARGET_RATE_HZ
MIXES = [("lnl",), ("isd",), ("ssi",), ("lnl", "isd"), ("lnl", "isd", "ssi")]


def notch_filter(rng):
    """FIR taps of 1-5 cascaded band-stop filters with random centres (20 Hz to
    7.9 kHz), widths (100-1000 Hz) and lengths (11-101 taps), peak gain 1."""
    taps = np.array([1.0])
    nyq = SR / 2
    for _ in range(int(rng.integers(1, 6))):
        centre = rng.uniform(20, 7900)
        width = rng.uniform(100, 1000)
        lo = max(centre - width / 2, 10.0)
        hi = min(centre + width / 2, nyq - 10.0)
        if hi - lo < 20:
            continue
        n = int(rng.integers(5, 51)) * 2 + 1
        taps = np.convolve(taps, signal.firwin(n, [lo, hi], pass_zero="bandstop", fs=SR))
    _, h = signal.freqz(taps, worN=512)
    return taps / max(np.abs(h).max(), 1e-6)


def unit_rms(x):
    return x / (np.sqrt(np.mean(x * x)) + 1e-9)


def lnl(x, rng):
    orders = int(rng.integers(1, 6))
    y = signal.fftconvolve(unit_rms(x), notch_filter(rng), mode="same")
    for j in range(2, orders + 1):
        term = signal.fftconvolve(unit_rms(x ** j - np.mean(x ** j)), notch_filter(rng), mode="same")
        y += term * 10 ** (-rng.uniform(10, 40) / 20)
    return y


def isd(x, rng):
    y = x.copy()
    n = int(len(x) * rng.uniform(0.0, 0.10))
    idx = rng.choice(len(x), size=n, replace=False)
    y[idx] += x[idx] * rng.uniform(0.5, 2.0) * rng.uniform(-1, 1, size=n)
    return y


def ssi(x, rng):
    noise = signal.fftconvolve(rng.standard_normal(len(x)), notch_filter(rng), mode="same")
    snr_db = rng.uniform(10, 40)
    return x + unit_rms(noise) * np.sqrt(np.mean(x * x)) * 10 ** (-snr_db / 20)


PERTURBATIONS = {"lnl": lnl, "isd": isd, "ssi": ssi}


def boost(x, rng):
    """One RawBoost copy of x (float mono at 16 kHz) and the name of its mix."""
    mix = MIXES[int(rng.integers(0, len(MIXES)))]
    y = x.astype(np.float64)
    for step in mix:
        y = PERTURBATIONS[step](y, rng)
    level = C.active_rms_dbfs(x, SR)
    y = y * 10 ** ((level - C.active_rms_dbfs(y, SR)) / 20)
    peak = np.abs(y).max()
    if peak > 0.989:
        y *= 0.989 / peak
    return y.astype(np.float32), "+".join(mix)


def sidecar(out, t):
    return os.path.join(out, "_done", t["copy_id"][-2:], t["copy_id"] + ".json")


def make_copy(t):
    x, sr = C.read_audio(t["src"])
    if sr != SR:
        x = C.resample(x, sr, SR)
    y, mix = boost(x, C.stable_rng("rawboost", t["copy_id"]))
    C.write_wav_atomic(os.path.join(t["out"], "clips", t["copy_id"] + ".wav"), y)
    row = {"copy_id": t["copy_id"], "speaker": t["speaker"], "system": t["system"],
           "label": t["label"], "source_clip": t["file_id"], "mix": mix}
    C.atomic_write_json(sidecar(t["out"], t), row)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocols", required=True, help="folder with train.txt")
    p.add_argument("--clips", required=True, help="audio folder of that protocol (<file_id>.wav)")
    p.add_argument("--out", required=True)
    p.add_argument("--copies", type=int, default=1, help="copies per clip (each its own draw)")
    p.add_argument("--max-clips", type=int, default=0,
                   help="augment at most this many clips, chosen by a stable hash of the id (0 = all)")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()

    items = data.read_protocol(pathlib.Path(args.protocols, "train.txt"), args.clips)
    if args.max_clips and len(items) > args.max_clips:
        items = sorted(items, key=lambda it: C.stable_hash("rawboost-pick", it.file_id))[:args.max_clips]
    out = os.path.abspath(args.out)
    tasks = [{"copy_id": f"rb{k}_{it.file_id}", "file_id": it.file_id, "speaker": it.speaker,
              "system": it.system, "label": "spoof" if it.label else "bonafide", "src": str(it.audio),
              "out": out}
             for it in items for k in range(1, args.copies + 1)]
    tasks.sort(key=lambda t: t["copy_id"])
    _, failed = C.run_tasks(STEP, tasks, make_copy, lambda t: sidecar(out, t), jobs=args.jobs)
    done = C.gather_sidecars(sidecar(out, t) for t in tasks)
    C.ensure_dir(os.path.join(out, "protocols"))
    C.atomic_write_text(os.path.join(out, "protocols", "train.txt"),
                        "".join(f"{r['speaker']} {r['copy_id']} - {r['system']} {r['label']}\n" for r in done))
    C.atomic_write_text(os.path.join(out, "protocols", "dev.txt"), "")  # train.py reads one per set
    C.write_tsv(os.path.join(out, "meta.tsv"), done,
                ["copy_id", "speaker", "system", "label", "source_clip", "mix"])
    C.log(STEP, f"{len(done)} copies of {len(items)} clips in {out} ({failed} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
