"""The generator registry: every way this corpus makes synthetic speech.

One Generator entry per system. Adding a system = adding one entry to GENERATORS.

  kind="tts":          synth(items, rng) where items = [(text, language)], returns a
                       list of (samples float32, rate_hz) or None per item. Batched so
                       that engines with a slow start (festival) start once per batch.
  kind="resynthesis":  synth(x, rate_hz, rng) -> (samples, rate_hz): analyses a
                       genuine recording (16 kHz float32) and re-synthesises it with a
                       vocoder, keeping speaker and text (same-speaker pairs).

`weight` is the generator's share of the synthetic hours (normalised over the
generators that can run). `derived_from` names the genuine speaker group a voice
was built from (festival msu_ru_nsh_clunits is built from festvox-ru's speaker),
so that protocol.py keeps both in the same split.
`text_pool` = "genuine+extra": genuine transcripts of the language first, then
extra sentences (Fish Fillets translations); "extra" never uses the genuine
transcripts (unit selection would copy the original recording back, see msu_ru).
"""

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Tuple

import numpy as np

import common as C

ESPEAK_VARIANT_DIR = "/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/!v"


@dataclass(frozen=True)
class Generator:
    name: str
    family: str
    kind: str  # "tts" | "resynthesis"
    languages: Tuple[str, ...]  # ("*",) for resynthesis: any language
    synth: Callable
    weight: float
    tools: Tuple[str, ...] = ()  # executables/paths that must exist
    derived_from: str = ""
    text_pool: str = "genuine+extra"
    batch_size: int = 1
    notes: str = ""
    requires: Tuple[str, ...] = field(default_factory=tuple)  # files that must exist
    lang_weight: Tuple[Tuple[str, float], ...] = ()  # per-language weight multipliers

    def weight_for(self, lang):
        return self.weight * dict(self.lang_weight).get(lang, 1.0)

    def available(self):
        for t in self.tools:
            if shutil.which(t) is None:
                return False
        return all(os.path.exists(p) for p in self.requires)


# ============================================================================
# TTS engines
# ============================================================================

def _read_wav_file(path):
    x, sr = C.read_audio(path)
    return x, sr


# ---- eSpeak NG (formant) ----------------------------------------------------

ESPEAK_VOICE = {
    "en": ["en-us", "en-gb", "en-gb-x-rp", "en-us-nyc", "en-029", "en-gb-scotland"],
    "es": ["es", "es-419"], "fr": ["fr-fr", "fr-be", "fr-ch"], "it": ["it"],
    "ru": ["ru"], "cs": ["cs"], "nl": ["nl"], "ca": ["ca"], "ro": ["ro"], "bg": ["bg"],
    "el": ["el"], "da": ["da"], "lt": ["lt"], "be": ["be"], "fi": ["fi"], "de": ["de"],
    "uk": ["uk"], "hu": ["hu"], "pt": ["pt", "pt-br"], "ml": ["ml"], "he": ["he"],
    "nb": ["nb"], "sk": ["sk"], "ar": ["ar"],
}
ESPEAK_HUMANLIKE = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                    "Andy", "Annie", "Alex", "Alicia", "Lee", "Michael", "Mario", "adam",
                    "andrea", "anika", "antonio", "aunty", "belinda", "benjamin", "boris",
                    "caleb", "david", "ed", "edward", "grandma", "grandpa", "iven", "john",
                    "linda", "max", "michel", "norbert", "paul", "pedro", "quincy", "rob",
                    "robert", "steph", "travis", "victor", "zac"]
ESPEAK_KLATT = ["klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6"]


def _espeak(items, rng, variants):
    out = []
    variants = [v for v in variants if os.path.exists(os.path.join(ESPEAK_VARIANT_DIR, v))] \
        or [""]
    for text, lang in items:
        voice = str(rng.choice(ESPEAK_VOICE.get(lang, [lang])))
        var = str(rng.choice(variants))
        cmd = ["espeak-ng", "-v", voice + ("+" + var if var else ""),
               "-p", str(int(rng.integers(30, 71))), "-s", str(int(rng.integers(130, 186))),
               "--stdin", "--stdout"]  # text on stdin: a leading "-" is not an option
        try:
            out.append(C.decode_wav_bytes(C.run(cmd, input_bytes=text.encode("utf-8"),
                                                timeout=60)))
        except Exception:  # noqa: BLE001
            out.append(None)
    return out


def espeak_ng(items, rng):
    return _espeak(items, rng, ESPEAK_HUMANLIKE)


def espeak_ng_klatt(items, rng):
    return _espeak(items, rng, ESPEAK_KLATT)


ESPEAK_LANGS = tuple(ESPEAK_VOICE)


# ---- Flite (diphone kal, clustergen awb/rms/slt) ----------------------------

def _flite(voice):
    def synth(items, rng):
        out = []
        d = C.tmp_dir()
        for i, (text, _lang) in enumerate(items):
            tf, wf = os.path.join(d, f"flite{i}.txt"), os.path.join(d, f"flite{i}.wav")
            with open(tf, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            cmd = ["flite", "-voice", voice, "-f", tf, "-o", wf]
            # Small per-clip prosody variation through flite's feature settings.
            cmd += ["--setf", f"duration_stretch={rng.uniform(0.85, 1.15):.2f}",
                    "--setf", f"int_f0_target_mean={rng.uniform(0.85, 1.15) * _FLITE_F0[voice]:.0f}"]
            try:
                C.run(cmd, timeout=120)
                out.append(_read_wav_file(wf))
            except Exception:  # noqa: BLE001
                out.append(None)
        return out
    return synth


_FLITE_F0 = {"kal": 105, "kal16": 105, "awb": 110, "rms": 100, "slt": 170}


# ---- Festival (diphone, unit selection, HTS) --------------------------------

def _scheme_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(voices, encoding="utf-8", clean=None):
    """voices: list of festival voice names; one is drawn per batch (per call)."""
    def synth(items, rng):
        d = C.tmp_dir()
        voice = str(rng.choice(voices))
        lines = [f"(voice_{voice})"]
        paths = []
        for i, (text, _lang) in enumerate(items):
            t = clean(text) if clean else text
            wf = os.path.join(d, f"fest{i}.wav")
            if os.path.exists(wf):
                os.unlink(wf)
            paths.append(wf)
            try:
                t.encode(encoding)
            except UnicodeEncodeError:
                continue  # the voice cannot read this script: leave it out
            lines.append(
                f"(unwind-protect (begin (set! u (Utterance Text {_scheme_str(t)})) "
                f"(utt.synth u) (utt.save.wave u {_scheme_str(wf)} 'riff)) (print \"fail\"))")
        scm = os.path.join(d, "batch.scm")
        with open(scm, "wb") as f:
            f.write(("\n".join(lines) + "\n").encode(encoding, errors="replace"))
        try:
            C.run(["festival", "-b", scm], timeout=60 + 30 * len(items))
        except Exception:  # noqa: BLE001 - keep whatever utterances were written
            pass
        out = []
        for wf in paths:
            out.append(_read_wav_file(wf) if os.path.exists(wf) and os.path.getsize(wf) > 1000
                       else None)
        return out
    synth.voices = voices
    return synth


def _latin(text):
    # Typographic quotes/dashes outside Latin-1/2 would make festival spell them out.
    return (text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
            .replace("\u201d", '"').replace("\u2013", "-").replace("\u2014", "-")
            .replace("\u2026", "..."))


FEST = "/usr/share/festival/voices"

# ============================================================================
# Resynthesis (vocoders applied to genuine speech)
# ============================================================================

def _sptk(args, stdin_path=None, out_path=None):
    """Runs `sptk <cmd> ...` with file redirection (SPTK tools read stdin)."""
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as fin, \
            open(out_path, "wb") as fout:
        p = subprocess.run(["sptk"] + args, stdin=fin, stdout=fout, stderr=subprocess.PIPE,
                           timeout=300)
    if p.returncode != 0:
        raise C.ToolError(f"sptk {' '.join(args)}: {p.stderr.decode(errors='replace')[-300:]}")


def _sptk_pipe(cmds, stdin_path, out_path):
    """Shell-free pipeline of sptk commands: cmds = [[cmd, args...], ...]."""
    procs = []
    fin = open(stdin_path, "rb")
    prev = fin
    try:
        for i, c in enumerate(cmds):
            last = i == len(cmds) - 1
            fout = open(out_path, "wb") if last else subprocess.PIPE
            p = subprocess.Popen(["sptk"] + c, stdin=prev, stdout=fout, stderr=subprocess.PIPE)
            if prev is not fin:
                prev.close()
            prev = p.stdout
            procs.append((p, fout if last else None))
        for p, f in procs:
            _, err = p.communicate(timeout=300)
            if f:
                f.close()
            if p.returncode != 0:
                raise C.ToolError(f"sptk {p.args[1]}: {err.decode(errors='replace')[-300:]}")
    finally:
        fin.close()


def _analysis_rate(x, sr):
    """8 kHz for telephone-band recordings (an MLSA/LPC fit of the empty 4-8 kHz
    band has a dynamic range that makes the synthesis filter unstable), else 16 kHz."""
    return 8000 if C.estimate_bandwidth_hz(x, sr) <= 4500 else 16000


def _prepare(x, sr, rng, d):
    """Resamples to the analysis rate, adds a dither floor 60 dB below the active
    level (bounds the spectral dynamic range), writes float32 input and the pitch
    period track (samples; 0 = unvoiced) from RAPT or SWIPE'."""
    ar = _analysis_rate(x, sr)
    xa = C.resample(x, sr, ar).astype(np.float64)
    level = 10 ** (C.active_rms_dbfs(xa, ar) / 20)
    xa = xa + rng.normal(0, level * 1e-3, len(xa))
    xf = os.path.join(d, "x.f32")
    (xa * 32768.0).astype("<f4").tofile(xf)
    pf = os.path.join(d, "pitch.f32")
    shift = ar // 200  # 5 ms
    algo = str(int(rng.integers(0, 2)))  # 0 = RAPT, 1 = SWIPE'
    _sptk(["pitch", "-a", algo, "-s", str(ar / 1000), "-p", str(shift), "-L", "60", "-H", "400",
           "-o", "0"], xf, pf)
    return ar, shift, xf, pf


def _finish(yf, ar, sr, n, ref):
    """Reads the filter output, rejects unstable runs (non-finite values or a peak far
    above the level of the speech), and rescales to the input's active level."""
    y = np.fromfile(yf, dtype="<f4").astype(np.float64)
    if len(y) == 0 or not np.isfinite(y).all():
        raise C.ToolError("unstable synthesis filter (non-finite output)")
    lvl = 10 ** (C.active_rms_dbfs(y, ar) / 20)
    if lvl <= 0 or np.abs(y).max() > 200 * lvl:
        raise C.ToolError("unstable synthesis filter (peaks)")
    y *= 10 ** (C.active_rms_dbfs(ref, sr) / 20) / lvl
    return C.fit_length(C.resample(y.astype(np.float32), ar, sr), n), sr


def sptk_mlsa(x, sr, rng):
    """Mel-cepstral vocoder: RAPT/SWIPE' F0 + mel-cepstrum + pulse/noise excitation
    through the MLSA filter (SPTK 3.9; the classic HTS-era parametric vocoder)."""
    d = C.tmp_dir()
    ar, shift, xf, pf = _prepare(x, sr, rng, d)
    order = int(rng.choice([20, 24, 30]))
    alpha = "0.42" if ar == 16000 else "0.31"
    flen = "512" if ar == 16000 else "256"
    # Mel-cepstrum as in WORLD's sp2mc: real cepstrum of the log amplitude spectrum
    # (numpy), warped to the mel scale by SPTK `freqt` (8x faster than `mcep`).
    xa = np.fromfile(xf, dtype="<f4").astype(np.float64)
    n = int(flen)
    pad = np.pad(xa, (n // 2, n // 2))
    nfr = 1 + (len(pad) - n) // shift
    frames = pad[np.arange(n)[None, :] + shift * np.arange(nfr)[:, None]] * np.blackman(n)
    cep = np.fft.irfft(np.log(np.abs(np.fft.rfft(frames, axis=1)) + 1e-3), axis=1)[:, : n // 2]
    cep[:, 1:] *= 2.0
    cf, mc = os.path.join(d, "cep.f32"), os.path.join(d, "mcep.f32")
    cep.astype("<f4").tofile(cf)
    _sptk(["freqt", "-m", str(n // 2 - 1), "-M", str(order), "-A", alpha], cf, mc)
    ex = os.path.join(d, "exc.f32")
    exc_args = ["excite", "-p", str(shift)] + (["-n"] if rng.random() < 0.5 else [])
    _sptk(exc_args, pf, ex)
    yf = os.path.join(d, "y.f32")
    _sptk(["mlsadf", "-m", str(order), "-a", alpha, "-p", str(shift), "-P", "5", mc], ex, yf)
    return _finish(yf, ar, sr, len(x), x)


def sptk_lpc(x, sr, rng):
    """LPC vocoder: autocorrelation LPC (order 16-24 at 16 kHz, 10-14 at 8 kHz) +
    pulse/noise excitation through the all-pole filter `poledf`."""
    d = C.tmp_dir()
    ar, shift, xf, pf = _prepare(x, sr, rng, d)
    order = int(rng.choice([16, 20, 24] if ar == 16000 else [10, 12, 14]))
    flen = str(ar // 40)  # 25 ms
    lp = os.path.join(d, "lpc.f32")
    _sptk_pipe([["frame", "-l", flen, "-p", str(shift)],
                ["window", "-l", flen, "-L", flen],
                ["lpc", "-l", flen, "-m", str(order)]], xf, lp)
    ex = os.path.join(d, "exc.f32")
    _sptk(["excite", "-p", str(shift)] + (["-n"] if rng.random() < 0.5 else []), pf, ex)
    yf = os.path.join(d, "y.f32")
    _sptk(["poledf", "-m", str(order), "-p", str(shift), lp], ex, yf)
    return _finish(yf, ar, sr, len(x), x)


CODEC2_MODES = ["3200", "2400", "1600", "1400", "1300", "1200", "700C", "450"]


def codec2(x, sr, rng):
    """Codec 2 (sinusoidal/harmonic vocoder) encode+decode at 8 kHz."""
    d = C.tmp_dir()
    mode = str(rng.choice(CODEC2_MODES))
    x8 = C.resample(x, sr, 8000)
    raw, bit, out = (os.path.join(d, n) for n in ("in.raw", "x.bit", "out.raw"))
    (np.clip(x8, -1, 1) * 32767).astype("<i2").tofile(raw)
    C.run(["c2enc", mode, raw, bit])
    C.run(["c2dec", mode, bit, out])
    y = np.fromfile(out, dtype="<i2").astype(np.float32) / 32768.0
    return C.fit_length(y, len(x8)), 8000


def lpc10(x, sr, rng):
    """LPC-10 (FS-1015, 2.4 kb/s) round trip through sox."""
    d = C.tmp_dir()
    x8 = C.resample(x, sr, 8000)
    wi, enc, wo = (os.path.join(d, n) for n in ("in8.wav", "x.lpc10", "out8.wav"))
    C.write_wav_atomic(wi, x8, 8000)
    C.run(["sox", wi, "-t", "lpc10", enc])
    C.run(["sox", "-t", "lpc10", enc, "-r", "8000", wo])
    y, _ = C.read_audio(wo)
    return C.fit_length(y, len(x8)), 8000


def griffin_lim(x, sr, rng):
    """Phase reconstruction from the STFT magnitude (Griffin-Lim, 32-64 iterations,
    torchaudio), half of the time from an 80-band mel spectrogram inverted with the
    filterbank pseudo-inverse (the Tacotron-1 style pipeline)."""
    import torch
    import torchaudio
    n_fft = int(rng.choice([512, 1024]))
    hop = n_fft // 4
    n_iter = int(rng.integers(32, 65))
    xt = torch.from_numpy(np.asarray(x, np.float32))
    spec = torchaudio.transforms.Spectrogram(n_fft=n_fft, hop_length=hop, power=1.0)(xt)
    if rng.random() < 0.5:
        fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, sr / 2, 80, sr,
                                                   norm="slaney", mel_scale="slaney")
        mel = fb.T @ spec
        spec = torch.clamp(torch.linalg.pinv(fb.T) @ mel, min=0.0)
    gl = torchaudio.transforms.GriffinLim(n_fft=n_fft, hop_length=hop, power=1.0,
                                          n_iter=n_iter, momentum=0.99, rand_init=True)
    torch.manual_seed(int(rng.integers(0, 2 ** 31)))
    y = gl(spec).numpy()
    return C.fit_length(y, len(x)), sr


# ============================================================================
# The registry
# ============================================================================

GENERATORS = [
    # --- formant ---
    # eSpeak speaks every language; in English it leaves room for the English-only
    # diphone/HTS/clustergen voices (lang_weight), which would otherwise be tiny.
    Generator("espeak_ng", "formant", "tts", ESPEAK_LANGS, espeak_ng, 0.08,
              tools=("espeak-ng",), batch_size=20, lang_weight=(("en", 0.3),),
              notes="eSpeak NG 1.51, random language voice x variant (+m1..f5 etc.), pitch, rate"),
    Generator("espeak_ng_klatt", "formant", "tts", ESPEAK_LANGS, espeak_ng_klatt, 0.05,
              tools=("espeak-ng",), batch_size=20, lang_weight=(("en", 0.3),), notes="eSpeak NG Klatt variants +klatt..+klatt6"),
    # --- diphone ---
    Generator("festival_kal", "diphone", "tts", ("en",), _festival(["kal_diphone"], "latin-1", _latin),
              0.03, tools=("festival",), requires=(f"{FEST}/english/kal_diphone",), batch_size=20),
    Generator("festival_ked", "diphone", "tts", ("en",), _festival(["ked_diphone"], "latin-1", _latin),
              0.03, tools=("festival",), requires=(f"{FEST}/english/ked_diphone",), batch_size=20),
    Generator("flite_kal", "diphone", "tts", ("en",), _flite("kal16"), 0.03, tools=("flite",),
              batch_size=20),
    Generator("festival_it", "diphone", "tts", ("it",),
              _festival(["lp_diphone", "pc_diphone"], "latin-1", _latin), 0.04,
              tools=("festival",), requires=(f"{FEST}/italian/lp_diphone",), batch_size=20,
              notes="festvox-italp16k / -itapc16k"),
    Generator("festival_czech", "diphone", "tts", ("cs",),
              _festival(["czech_ph", "czech_dita", "czech_krb", "czech_machac"], "iso-8859-2",
                        _latin), 0.05,
              tools=("festival",), requires=(f"{FEST}/czech/czech_ph",), batch_size=20),
    Generator("festival_finnish", "diphone", "tts", ("fi",),
              _festival(["suo_fi_lj_diphone", "hy_fi_mv_diphone"], "latin-1", _latin), 0.02,
              tools=("festival",), requires=(f"{FEST}/finnish/suo_fi_lj_diphone",), batch_size=20),
    # --- unit selection (same speaker as festvox-ru's recordings) ---
    Generator("festival_msu_ru", "unit_selection", "tts", ("ru",),
              _festival(["msu_ru_nsh_clunits"], "utf-8"), 0.06, tools=("festival",),
              requires=(f"{FEST}/russian/msu_ru_nsh_clunits",), derived_from="festvox_ru_nsh",
              text_pool="extra", batch_size=10,
              notes="built from the festvox-ru speaker; never fed its own prompts"),
    # --- HMM parametric (HTS + MLSA) ---
    Generator("festival_slt_hts", "hts", "tts", ("en",),
              _festival(["cmu_us_slt_arctic_hts"], "latin-1", _latin), 0.05, tools=("festival",),
              requires=(f"{FEST}/us/cmu_us_slt_arctic_hts",), batch_size=10),
    Generator("festival_ona_hts", "hts", "tts", ("ca",),
              _festival(["upc_ca_ona_hts"], "latin-1", _latin), 0.03, tools=("festival",),
              requires=(f"{FEST}/catalan/upc_ca_ona_hts",), batch_size=10),
    # --- clustergen parametric ---
    Generator("flite_awb", "clustergen", "tts", ("en",), _flite("awb"), 0.03, tools=("flite",),
              batch_size=10),
    Generator("flite_rms", "clustergen", "tts", ("en",), _flite("rms"), 0.03, tools=("flite",),
              batch_size=10),
    Generator("flite_slt", "clustergen", "tts", ("en",), _flite("slt"), 0.03, tools=("flite",),
              batch_size=10),
    # --- resynthesis of genuine recordings (same speaker, same text) ---
    Generator("sptk_mlsa", "sptk_mlsa", "resynthesis", ("*",), sptk_mlsa, 0.12, tools=("sptk",)),
    Generator("sptk_lpc", "sptk_lpc", "resynthesis", ("*",), sptk_lpc, 0.08, tools=("sptk",)),
    Generator("codec2", "codec2", "resynthesis", ("*",), codec2, 0.08, tools=("c2enc", "c2dec"),
              notes="modes " + "/".join(CODEC2_MODES)),
    Generator("griffin_lim", "griffin_lim", "resynthesis", ("*",), griffin_lim, 0.10),
    Generator("lpc10", "lpc10", "resynthesis", ("*",), lpc10, 0.06, tools=("sox",)),
]

BY_NAME = {g.name: g for g in GENERATORS}
assert len(BY_NAME) == len(GENERATORS), "generator names must be unique"


def available_generators():
    gens = [g for g in GENERATORS if g.available()]
    # sox must actually support lpc10 (libsox-fmt-all builds do).
    if any(g.name == "lpc10" for g in gens):
        try:
            if "lpc10" not in subprocess.run(["sox", "-h"], stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL).stdout.decode():
                gens = [g for g in gens if g.name != "lpc10"]
        except OSError:
            gens = [g for g in gens if g.name != "lpc10"]
    return gens


if __name__ == "__main__":
    for g in GENERATORS:
        print(f"{g.name:18s} {g.family:15s} {g.kind:12s} w={g.weight:.2f} "
              f"avail={g.available()} langs={','.join(g.languages)}")
