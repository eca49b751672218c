#!/usr/bin/python3
"""Makes the bundled sample clips in samples/ (small, committed).

Genuine: LibriVox readings of *Sense and Sensibility* (public domain) shipped in
Debian's pocketsphinx-testdata — an eval-only source in the corpus, never trained on.
Synthetic: made from those same sentences by the corpus generators (flite
clustergen TTS, SPTK mel-cepstral resynthesis of the genuine reading, eSpeak NG),
created after the model was trained, so no sample was in training.

  /usr/bin/python3 models/make_samples.py
  /usr/bin/python3 models/make_samples.py --partial-fake models/work/vocoders/istft/g_<step>.pt

The second form only (re)makes the partial fake: genuine readings 0870 + 0890,
then clip 0880 resynthesised by a vocoder trained here (same speaker and words,
only the vocoder differs; the vocoders never saw this eval-only source), then
0920 + 0930. The synthetic span is written to partial_fake_librivox.txt.
"""
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models" / "corpus"))
import common as C  # noqa: E402
import generators as G  # noqa: E402

SRC = pathlib.Path("/usr/share/pocketsphinx/test/data/librivox")
OUT = ROOT / "samples"


def transcripts():
    texts = {}
    for line in (SRC / "transcription").read_text().splitlines():
        text, _, fid = line.rpartition("(")
        texts[fid.strip(") ")] = text.replace("<s>", "").replace("</s>", "").strip()
    return texts


def partial_fake(ckpt):
    import torch
    sys.path.insert(0, str(ROOT / "models" / "corpus" / "vocoders"))
    import nets
    kind = pathlib.Path(ckpt).parent.name
    g = nets.make_generator(kind)
    g.load_state_dict(torch.load(ckpt, map_location="cpu"))
    g.eval()

    def clip(n):
        x, sr = C.read_audio(str(SRC / f"sense_and_sensibility_01_austen_64kb-{n}.wav"))
        return C.resample(x, sr, 16000).astype(np.float64)

    before = np.concatenate([clip("0870"), clip("0890")])
    after = np.concatenate([clip("0920"), clip("0930")])
    src = clip("0880")
    with torch.no_grad():
        peak = float(np.max(np.abs(src))) + 1e-9
        y = g(nets.LogMel()(torch.from_numpy((src / peak * 0.9).astype(np.float32))[None]))[0].numpy()
    y = y[: len(src)].astype(np.float64) * (peak / 0.9)
    y *= 10 ** ((C.active_rms_dbfs(src, 16000) - C.active_rms_dbfs(y, 16000)) / 20)
    fade = np.linspace(0.0, 1.0, 160)
    y[:160] *= fade
    y[-160:] *= fade[::-1]
    out = np.concatenate([before, y, after])
    C.write_wav_atomic(str(OUT / "partial_fake_librivox.wav"), out.astype(np.float32), 16000)
    start = len(before) / 16000
    (OUT / "partial_fake_librivox.txt").write_text(f"{start:.3f} {start + len(y) / 16000:.3f}\n")
    print(f"partial fake: {len(out) / 16000:.2f} s, synthetic {start:.2f}-{start + len(y) / 16000:.2f} s ({kind} {ckpt})")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--partial-fake":
        partial_fake(sys.argv[2])
        return
    texts = transcripts()
    rng = np.random.default_rng(870)
    genuine = {}
    for n in ("0870", "0880", "0920"):
        fid = f"sense_and_sensibility_01_austen_64kb-{n}"
        x, sr = C.read_audio(str(SRC / f"{fid}.wav"))
        genuine[n] = (x, sr, texts[fid])
        C.write_wav_atomic(str(OUT / f"genuine_librivox_{n}.wav"), x, sr)
    # TTS of the same sentences, and same-speaker resynthesis.
    (y, ysr), = G._flite("slt")([(genuine["0870"][2], "en")], rng)
    C.write_wav_atomic(str(OUT / "synthetic_flite_slt_0870.wav"), C.resample(y, ysr, 16000), 16000)
    (y, ysr), = G.espeak_ng([(genuine["0920"][2], "en")], rng)
    C.write_wav_atomic(str(OUT / "synthetic_espeak_0920.wav"), C.resample(y, ysr, 16000), 16000)
    x, sr, _ = genuine["0880"]
    y, ysr = G.sptk_mlsa(x, sr, rng)
    C.write_wav_atomic(str(OUT / "synthetic_sptk_mlsa_0880.wav"), C.resample(y, ysr, 16000), 16000)
    for p in sorted(OUT.glob("*.wav")):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
