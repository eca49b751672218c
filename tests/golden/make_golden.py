#!/usr/bin/python3
"""Writes the reference features that tests/dsp/golden_test.cc compares against.

Reference: torchaudio 0.13 (Debian python3-torchaudio). For every case in CASES
this writes data/<case>.json (the spoofd FeatureConfig) and data/<case>.npy
(frames x dims, float32, computed by torchaudio in float64 from the same input).
The input signal is data/input.npy: 1.5 s of the bundled LibriVox clip
(samples/genuine_librivox_0870.wav, 16 kHz) starting at 1.0 s, as float32.

Run with Debian's interpreter (the pyenv python3 has no torch):
    /usr/bin/python3 tests/golden/make_golden.py
"""
import json
import pathlib
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = pathlib.Path(__file__).resolve().parent / "data"

# spoofd config fields; values not given take spoofd's defaults (see feature_config.h).
CASES = {
    "lfcc_ln": dict(kind="lfcc", n_fft=512, win_length=400, hop_length=160, n_filters=20,
                    n_coeffs=20, log="ln", log_floor=1e-6, center=False),
    "lfcc_db_center_deltas": dict(kind="lfcc", n_fft=512, win_length=320, hop_length=160,
                                  n_filters=60, n_coeffs=20, log="db", log_floor=1e-10,
                                  center=True, window="hamming", deltas=2),
    "lfcc_band_limited": dict(kind="lfcc", n_fft=256, win_length=256, hop_length=128,
                              n_filters=30, n_coeffs=15, f_min_hz=100.0, f_max_hz=3800.0,
                              log="ln", log_floor=1e-6, center=False, deltas=1),
    "mfcc_ln": dict(kind="mfcc", n_fft=512, win_length=400, hop_length=160, n_filters=40,
                    n_coeffs=20, log="ln", log_floor=1e-6, center=True),
    "mfcc_db": dict(kind="mfcc", n_fft=400, win_length=400, hop_length=200, n_filters=64,
                    n_coeffs=30, f_min_hz=20.0, f_max_hz=7600.0, log="db", log_floor=1e-10,
                    center=False),
    "logmel_ln": dict(kind="logmel", n_fft=512, win_length=400, hop_length=160, n_filters=80,
                      log="ln", log_floor=1e-6, center=False),
    "logspec_ln": dict(kind="logspec", n_fft=256, win_length=200, hop_length=100, log="ln",
                       log_floor=1e-6, center=True, window="hamming"),
}


def load_input():
    with wave.open(str(ROOT / "samples" / "genuine_librivox_0870.wav"), "rb") as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2 and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm[16000:16000 + 24000].astype(np.float32) / 32768.0)


def reference(x, c):
    """torchaudio features for spoofd config c, frames x dims (float64)."""
    window_fn = torch.hamming_window if c.get("window") == "hamming" else torch.hann_window
    spec = dict(n_fft=c["n_fft"], win_length=c["win_length"], hop_length=c["hop_length"],
                window_fn=window_fn, center=c["center"], pad_mode="reflect", power=2.0)
    sr = 16000
    f_min = c.get("f_min_hz", 0.0)
    f_max = c.get("f_max_hz") or sr / 2
    ln = c["log"] == "ln"
    wav = torch.from_numpy(x.astype(np.float64)).unsqueeze(0)
    kind = c["kind"]
    if kind == "lfcc":
        t = torchaudio.transforms.LFCC(sample_rate=sr, n_filter=c["n_filters"], f_min=f_min,
                                       f_max=f_max, n_lfcc=c["n_coeffs"], log_lf=ln,
                                       speckwargs=spec)
        t.amplitude_to_DB.top_db = None  # see features.h: top_db clipping is utterance-global
        feats = t.double()(wav)
    elif kind == "mfcc":
        mel = dict(spec, n_mels=c["n_filters"], f_min=f_min, f_max=f_max)
        t = torchaudio.transforms.MFCC(sample_rate=sr, n_mfcc=c["n_coeffs"], log_mels=ln,
                                       melkwargs=mel)
        t.amplitude_to_DB.top_db = None
        feats = t.double()(wav)
    elif kind == "logmel":
        t = torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_mels=c["n_filters"],
                                                 f_min=f_min, f_max=f_max, **spec)
        feats = torch.log(t.double()(wav) + c["log_floor"])
    elif kind == "logspec":
        t = torchaudio.transforms.Spectrogram(**{k: v for k, v in spec.items()})
        feats = torch.log(t.double()(wav) + c["log_floor"])
    else:
        raise ValueError(kind)
    feats = feats[0]  # (dims, frames)
    blocks = [feats]
    for _ in range(c.get("deltas", 0)):
        blocks.append(F.compute_deltas(blocks[-1], win_length=5, mode="replicate"))
    return np.ascontiguousarray(torch.cat(blocks, dim=0).T.numpy())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    x = load_input()
    np.save(OUT / "input.npy", x)
    for name, config in CASES.items():
        feats = reference(x, config).astype(np.float32)
        np.save(OUT / f"{name}.npy", feats)
        (OUT / f"{name}.json").write_text(json.dumps(dict(config, sample_rate_hz=16000), indent=1) + "\n")
        print(f"{name}: {feats.shape[0]} frames x {feats.shape[1]} dims")


if __name__ == "__main__":
    main()
