#!/usr/bin/env python3
"""Checks of the vocoders trained here (models/corpus/vocoders) that can fail: the
pseudo-QMF bank reconstructs a signal, every generator family turns F mel frames into
F * 256 samples, the noise-driven WaveNet depends on its noise and its mel, and a
pack written by train_vocoder.py reads back as the same audio (to 16-bit precision).
Exit 0 when every check holds, 1 otherwise, 77 (skipped) without python3-torch or
python3-torchaudio."""
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")
skip_without("torchaudio", "python3-torchaudio is not installed")
import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "models" / "corpus" / "vocoders"))
import nets  # noqa: E402
import train_vocoder  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)

# Analysis then synthesis is the identity up to the prototype's small aliasing.
q = nets.PQMF(4)
x = torch.randn(2, 8192)
y = q.synthesis(q.analysis(x))
inner = slice(200, 8192 - 200)
err = float(((y[:, inner] - x[:, inner]) ** 2).mean() / (x[:, inner] ** 2).mean())
check(err < 1e-5, f"PQMF reconstruction error {err:.2e} (want < 1e-5)")
# Each band holds its quarter of the spectrum: a 1 kHz tone lands in band 0, 5 kHz in band 2.
t = torch.arange(8192) / nets.SR
for hz, band in ((1000.0, 0), (5000.0, 2)):
    e = q.analysis(torch.sin(2 * np.pi * hz * t)[None])[0].pow(2).mean(dim=1)
    check(int(e.argmax()) == band, f"{hz:.0f} Hz tone in band {int(e.argmax())} (want {band})")

mel = nets.LogMel()(torch.randn(1, 16000) * 0.1)
for kind in nets.KINDS:
    g = nets.make_generator(kind).eval()
    with torch.no_grad():
        w = g(mel)
    check(w.shape[-1] in (mel.shape[-1] * nets.HOP, (mel.shape[-1] - 1) * nets.HOP),
          f"{kind}: {mel.shape[-1]} frames gave {w.shape[-1]} samples")
    check(bool(torch.isfinite(w).all()), f"{kind}: output is finite")

g = nets.make_generator("wavenet").eval()
with torch.no_grad():
    n1 = torch.randn(1, 1, mel.shape[-1] * nets.HOP)
    n2 = torch.randn(1, 1, mel.shape[-1] * nets.HOP)
    a, b = g(mel, n1), g(mel, n2)
    c = g(mel * 0.5, n1)
check(not torch.allclose(a, b), "wavenet: other noise gives another waveform")
check(not torch.allclose(a, c), "wavenet: another mel gives another waveform")
check(torch.equal(a, g(mel, n1)), "wavenet: the same noise and mel give the same waveform")

with tempfile.TemporaryDirectory() as tmp:
    audio = [np.sin(np.linspace(0, 50, n)).astype(np.float32) * 0.5 for n in (1600, 3201)]
    path = pathlib.Path(tmp) / "pack.npz"
    train_vocoder.write_pack(path, audio)
    back, secs = train_vocoder.read_pack(path)
    check(len(back) == 2 and [len(b) for b in back] == [1600, 3201], "pack keeps clip count and lengths")
    check(max(float(np.abs(a - b).max()) for a, b in zip(audio, back)) < 1.0 / 32767,
          "pack keeps the samples to 16-bit precision")
    check(abs(secs - 4801 / nets.SR) < 1e-9, f"pack duration {secs}")

    # --minutes bounds the training time over every run: a rerun of a run that stopped on
    # its time limit trains no further (build_model.sh reruns it), a larger limit continues.
    def train(minutes):
        cmd = [sys.executable, str(ROOT / "models" / "corpus" / "vocoders" / "train_vocoder.py"),
               "--pack", str(path), "--kind", "istft", "--out", str(pathlib.Path(tmp) / "voc"),
               "--minutes", str(minutes), "--steps", "100000", "--batch", "1", "--segment", "2048",
               "--gan-start", "100000", "--save-every", "1", "--keep", ""]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ck = torch.load(pathlib.Path(tmp) / "voc" / "last.pt")
        return ck["step"], ck["trained_s"]

    s1, t1 = train(0.01)
    check(s1 > 0 and t1 >= 0.6, f"first run: {s1} steps in {t1:.2f} s (limit 0.6 s)")
    s2, _ = train(0.01)
    check(s2 == s1, f"a rerun after the time limit trained on: step {s1} -> {s2}")
    s3, t3 = train(0.03)
    check(s3 > s1 and t3 >= 1.8, f"a larger limit continues: step {s1} -> {s3}, {t3:.2f} s")

finish()
