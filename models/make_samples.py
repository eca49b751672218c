#!/usr/bin/python3
"""Makes the bundled sample clips in samples/ (small, committed).

Genuine: LibriVox readings of *Sense and Sensibility* (public domain) shipped in
Debian's pocketsphinx-testdata — an eval-only source in the corpus, never trained on.
Synthetic: made from those same sentences by the corpus generators (flite
clustergen TTS, SPTK mel-cepstral resynthesis of the genuine reading, eSpeak NG),
created after the model was trained, so no sample was in training.

  /usr/bin/python3 models/make_samples.py
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


def main():
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
