"""Channel simulation: the conditions augment.py draws from, and native-channel
matching for synthetic clips.

Every function takes float32 mono audio at 16 kHz and a numpy Generator and returns
(audio at 16 kHz, parameter string). Codecs run through ffmpeg/sox (subprocess) or
libsox in-process via torchaudio.functional.apply_codec (G.711, GSM 06.10, AMR-NB,
Vorbis), which saves a process start per clip.

CONDITIONS is the single list of channel conditions with their probabilities; it is
applied with the same distribution to genuine and synthetic clips.
"""

import os

import numpy as np
from scipy import signal

import common as C

SR = C.TARGET_RATE_HZ


# ----------------------------------------------------------------------------
# Codec helpers
# ----------------------------------------------------------------------------

def _torch_codec(x, sr, fmt, **kw):
    import torch
    import torchaudio.functional as F
    t = torch.from_numpy(np.clip(np.asarray(x, np.float32), -1, 1))[None, :]
    y = F.apply_codec(t, sr, fmt, **kw)[0].numpy()
    return _align(y, x)


def _av_roundtrip(x, sr, container, encoder, options=None, cli_args=None):
    """Encodes and decodes in-process with FFmpeg (torchaudio.io StreamWriter/Reader,
    ~10x cheaper than two ffmpeg processes); falls back to the ffmpeg CLI."""
    import io
    import torch
    from torchaudio.io import StreamReader, StreamWriter
    try:
        buf = io.BytesIO()
        w = StreamWriter(buf, format=container)
        w.add_audio_stream(sample_rate=sr, num_channels=1, encoder=encoder, encoder_option=options)
        with w.open():
            w.write_audio_chunk(0, torch.from_numpy(np.clip(np.asarray(x, np.float32), -1, 1))[:, None])
        r = StreamReader(io.BytesIO(buf.getvalue()), format=container)
        r.add_basic_audio_stream(frames_per_chunk=-1, sample_rate=sr)
        chunks = [c[0] for c in r.stream() if c[0] is not None]
        y = torch.cat(chunks)[:, 0].numpy() if chunks else np.zeros(0, np.float32)
    except Exception:  # noqa: BLE001 - e.g. a torchaudio without FFmpeg support
        y = _ffmpeg_roundtrip(x, sr, cli_args or ["-c:a", encoder], container, out_rate=sr)
    return _align(y, x)


def _ffmpeg_roundtrip(x, sr, enc_args, container, out_rate=SR):
    """Encodes with ffmpeg into `container` (stdin->file) and decodes back to
    out_rate (file->stdout). A file in between because some demuxers need to seek."""
    d = C.tmp_dir()
    enc = os.path.join(d, "chan." + container)
    C.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "wav", "-i", "-"] + enc_args +
          ["-f", container, enc], input_bytes=C.wav_bytes(x, sr))
    out = C.run(["ffmpeg", "-nostdin", "-v", "error", "-i", enc, "-ac", "1", "-ar", str(out_rate),
                 "-f", "wav", "-acodec", "pcm_f32le", "-"])
    y, _ = C.decode_wav_bytes(out)
    return y


def _via_8k(x, fn):
    x8 = C.resample(x, SR, 8000)
    y8 = fn(x8)
    return C.fit_length(C.resample(C.fit_length(y8, len(x8)), 8000, SR), len(x))


# ----------------------------------------------------------------------------
# Conditions
# ----------------------------------------------------------------------------

def clean(x, rng, ctx):
    return x, ""


def g711_mulaw(x, rng, ctx):
    return _via_8k(x, lambda a: _torch_codec(a, 8000, "wav", encoding="ULAW",
                                             bits_per_sample=8)), "8k"


def g711_alaw(x, rng, ctx):
    return _via_8k(x, lambda a: _torch_codec(a, 8000, "wav", encoding="ALAW",
                                             bits_per_sample=8)), "8k"


def gsm_fr(x, rng, ctx):
    return _via_8k(x, lambda a: _torch_codec(a, 8000, "gsm")), "gsm0610"


def amr_nb(x, rng, ctx):
    mode = int(rng.integers(0, 8))  # 4.75 ... 12.2 kb/s
    return _via_8k(x, lambda a: _torch_codec(a, 8000, "amr-nb", compression=mode)), f"mode{mode}"


def g722(x, rng, ctx):
    return _av_roundtrip(x, SR, "wav", "g722"), "64k"


def g726(x, rng, ctx):
    br = int(rng.choice([16, 24, 32, 40]))
    return _via_8k(x, lambda a: _av_roundtrip(a, 8000, "wav", "g726", {"b": str(br * 1000)},
                                              ["-c:a", "adpcm_g726", "-b:a", f"{br}k"])), f"{br}k"


def mp3(x, rng, ctx):
    br = int(rng.choice([16, 24, 32]))
    return _av_roundtrip(x, SR, "mp3", "libmp3lame", {"b": str(br * 1000)},
                         ["-c:a", "libmp3lame", "-b:a", f"{br}k"]), f"{br}k"


def aac(x, rng, ctx):
    br = int(rng.choice([16, 24, 32]))
    return _av_roundtrip(x, SR, "mp4", "aac", {"b": str(br * 1000)},
                         ["-c:a", "aac", "-b:a", f"{br}k"]), f"{br}k"


def opus(x, rng, ctx):
    br = int(rng.integers(8, 17))
    return _av_roundtrip(x, SR, "ogg", "libopus", {"b": str(br * 1000), "application": "voip"},
                         ["-c:a", "libopus", "-b:a", f"{br}k", "-application", "voip"]), f"{br}k"


def speex(x, rng, ctx):
    q = int(rng.integers(2, 9))
    if rng.random() < 0.5:
        return _via_8k(x, lambda a: _av_roundtrip(a, 8000, "ogg", "libspeex", {"cbr_quality": str(q)},
                                                  ["-c:a", "libspeex", "-q:a", str(q)])), f"nb_q{q}"
    return _av_roundtrip(x, SR, "ogg", "libspeex", {"cbr_quality": str(q)},
                         ["-c:a", "libspeex", "-q:a", str(q)]), f"wb_q{q}"


def bandlimit(x, rng, ctx):
    lo, hi = float(rng.uniform(200, 400)), float(rng.uniform(3000, 3800))
    sos = signal.butter(6, [lo, hi], btype="bandpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32), f"{lo:.0f}-{hi:.0f}Hz"


def noise(x, rng, ctx):
    snr = float(rng.uniform(5, 30))
    kind = str(rng.choice(["white", "pink", "babble"]))
    if kind == "white":
        n = rng.normal(0, 1, len(x))
    elif kind == "pink":
        n = pink_noise(len(x), rng)
    else:
        n = ctx["babble"](len(x), rng) if ctx.get("babble") else None
        if n is None:
            kind, n = "pink", pink_noise(len(x), rng)
    sp = 10 ** (C.active_rms_dbfs(x, SR) / 20)
    nr = np.sqrt(np.mean(n ** 2)) + 1e-12
    y = x + n * (sp / nr) * 10 ** (-snr / 20)
    return y.astype(np.float32), f"{kind}_snr{snr:.0f}"


def reverb(x, rng, ctx):
    rt60 = float(rng.uniform(0.15, 0.9))
    drr_db = float(rng.uniform(-3, 12))
    n = int(SR * min(1.2, rt60 * 1.3))
    t = np.arange(n) / SR
    tail = rng.normal(0, 1, n) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    tail[: int(0.002 * SR)] = 0
    # Early reflections: a few sparse taps within 5-40 ms.
    for _ in range(int(rng.integers(3, 8))):
        k = int(rng.uniform(0.005, 0.04) * SR)
        tail[k] += rng.uniform(-1, 1) * 3
    tail /= np.sqrt(np.sum(tail ** 2)) + 1e-12
    h = tail * 10 ** (-drr_db / 20)
    h[0] += 1.0
    y = signal.fftconvolve(x, h)[: len(x)]
    y *= np.sqrt(np.mean(x ** 2) / (np.mean(y ** 2) + 1e-12))
    return y.astype(np.float32), f"rt60_{rt60:.2f}_drr{drr_db:.0f}"


def gain(x, rng, ctx):
    """Slowly varying level (AGC-like ride), ±3..8 dB, no clipping."""
    depth = float(rng.uniform(3, 8))
    k = int(rng.integers(2, 6))
    pts = rng.uniform(-depth / 2, depth / 2, k + 1)
    env_db = np.interp(np.linspace(0, k, len(x)), np.arange(k + 1), pts)
    return (x * 10 ** (env_db / 20)).astype(np.float32), f"ride{depth:.0f}dB"


def pink_noise(n, rng):
    """1/f noise: white noise through Kellet's 3-pole approximation of a -3 dB/octave
    filter (an FFT of a prime length would be slow)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    y = signal.lfilter(b, a, rng.normal(0, 1, n + 2000))[2000:]
    return y / (np.std(y) + 1e-12)


def _align(y, x):
    """Removes codec delay (AAC priming, Speex/G.722/AMR look-ahead): the lag of the
    cross-correlation maximum within 0-100 ms, then the input length."""
    y = np.asarray(y, np.float32)
    m = min(len(x), len(y), SR * 3)
    if m < 2048:
        return C.fit_length(y, len(x))
    c = signal.correlate(y[:m], x[:m], mode="full", method="fft")[m - 1: m - 1 + SR // 10]
    lag = int(np.argmax(c))  # codecs delay, they never invert
    return C.fit_length(y[lag:], len(x))


# name, probability, function. Same table for both classes.
CONDITIONS = [
    ("clean", 0.18, clean),
    ("g711_mulaw", 0.07, g711_mulaw),
    ("g711_alaw", 0.05, g711_alaw),
    ("gsm", 0.07, gsm_fr),
    ("g722", 0.05, g722),
    ("g726", 0.05, g726),
    ("amr_nb", 0.07, amr_nb),
    ("mp3", 0.07, mp3),
    ("aac", 0.05, aac),
    ("opus", 0.07, opus),
    ("speex", 0.05, speex),
    ("bandlimit", 0.05, bandlimit),
    ("noise", 0.09, noise),
    ("reverb", 0.06, reverb),
    ("gain", 0.02, gain),
]
_P = np.array([p for _, p, _ in CONDITIONS])
_P = _P / _P.sum()


def draw_condition(rng):
    i = int(rng.choice(len(CONDITIONS), p=_P))
    return CONDITIONS[i]


def apply_condition(name, x, rng, ctx):
    fn = {n: f for n, _, f in CONDITIONS}[name]
    return fn(x, rng, ctx)


# ----------------------------------------------------------------------------
# Native-channel matching (synthetic clips only)
# ----------------------------------------------------------------------------

def match_native(x, rate_hz, codec, bandwidth_hz, rng):
    """Gives a synthetic clip the native channel of its paired genuine recording:
    resample down to the pair's native rate (when below 16 kHz), pass through its
    native codec (GSM, G.711, Vorbis, MP3, 8-bit PCM), low-pass to its effective bandwidth
    when that is clearly narrower than the rate allows, and come back to 16 kHz.
    Returns (audio, description)."""
    rate = int(float(rate_hz)) if rate_hz else SR
    work_rate = rate if rate < SR else SR
    steps = []
    y = C.resample(x, SR, work_rate) if work_rate != SR else np.asarray(x, np.float32)
    if work_rate != SR:
        steps.append(f"sr{work_rate}")
    codec = (codec or "").lower()
    if codec == "gsm":
        y8 = y if work_rate == 8000 else C.resample(y, work_rate, 8000)
        y8 = _torch_codec(y8, 8000, "gsm")
        y = y8 if work_rate == 8000 else C.fit_length(C.resample(y8, 8000, work_rate), len(y))
        steps.append("gsm")
    elif codec in ("mulaw", "alaw"):
        y = _torch_codec(y, work_rate, "wav", encoding="ULAW" if codec == "mulaw" else "ALAW",
                         bits_per_sample=8)
        steps.append(codec)
    elif codec == "vorbis":
        q = float(rng.uniform(1, 5))
        y = _torch_codec(y, work_rate, "vorbis", compression=q)
        steps.append(f"vorbis_q{q:.0f}")
    elif codec == "mp3":
        # Low-rate game speech (e.g. 11,025 Hz at 16 kb/s): one more generation.
        y = _av_roundtrip(y, work_rate, "mp3", "libmp3lame", {"b": "16000"},
                          ["-c:a", "libmp3lame", "-b:a", "16k"])
        steps.append("mp3_16k")
    elif codec in ("pcm_u8", "pcm_s8"):
        y = np.round(np.clip(y, -1, 1) * 127) / 127
        steps.append("8bit")
    bw = float(bandwidth_hz) if bandwidth_hz else work_rate / 2
    if bw < 0.45 * work_rate:
        sos = signal.butter(8, bw, btype="lowpass", fs=work_rate, output="sos")
        y = signal.sosfilt(sos, y)
        steps.append(f"lp{bw:.0f}")
    if work_rate != SR:
        y = C.resample(y, work_rate, SR)
    return C.fit_length(y, len(x)), "+".join(steps) or "none"
