#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses from the committed fixtures.

    tests/fuzz/make_seeds.py OUT_DIR

OUT_DIR/<harness>/ gets one file per seed:
  decode_fuzz          every file in tests/data/fixtures and samples/ (every
                       container and codec the decoder supports, plus the bad ones)
  raw_stream_fuzz      the headerless fixtures with the 3-byte prefix the
                       harness reads (encoding, rate, chunking)
  feature_config_fuzz  feature configurations: every kind/window/log/normalise
                       value, edge values, the tiny test model's
  request_fuzz         serialized ScoreRequests of every fixture (several
                       encodings and options) and framed StreamScore calls
Standard library only (no protobuf module): the few fields used are encoded
by hand below.
"""
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "fixtures"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_double(num, value):
    return varint(num << 3 | 1) + struct.pack("<d", value)


def audio_format(encoding=0, rate=0, hint=""):
    m = b""
    if encoding:
        m += field_varint(1, encoding)
    if rate:
        m += field_varint(2, rate)
    if hint:
        m += field_bytes(3, hint.encode())
    return m


def score_options(op="", segment_s=0.0):
    m = b""
    if op:
        m += field_bytes(1, op.encode())
    if segment_s:
        m += field_double(2, segment_s)
    return m


def score_request(audio, fmt=b"", opts=b"", request_id="seed"):
    return (field_bytes(1, request_id.encode()) + field_bytes(2, audio) +
            (field_bytes(3, fmt) if fmt else b"") + (field_bytes(4, opts) if opts else b""))


def stream_config(encoding, rate, interval=0.0, opts=b""):
    m = field_bytes(1, b"call") + field_varint(2, encoding) + field_varint(3, rate)
    if interval:
        m += field_double(4, interval)
    if opts:
        m += field_bytes(5, opts)
    return field_bytes(1, m)  # StreamScoreRequest.config


def frame(messages):
    return b"".join(struct.pack("<H", len(m)) + m for m in messages)


def main():
    out = pathlib.Path(sys.argv[1])
    fixtures = sorted(p for p in FIXTURES.iterdir() if p.is_file())
    samples = sorted((ROOT / "samples").glob("*.wav"))

    d = out / "decode_fuzz"
    d.mkdir(parents=True, exist_ok=True)
    for p in fixtures + samples[:1]:
        (d / p.name).write_bytes(p.read_bytes())

    d = out / "raw_stream_fuzz"
    d.mkdir(parents=True, exist_ok=True)
    raw = {"raw_s16le_8k.raw": 0, "raw_mulaw_8k.raw": 1, "raw_alaw_8k.raw": 2}
    for name, enc in raw.items():
        data = (FIXTURES / name).read_bytes()[:8000]
        for rate_index, chunk in ((0, 0), (1, 17), (4, 200)):  # 8 kHz, 16 kHz, 44.1 kHz
            (d / f"{name}.{rate_index}.{chunk}").write_bytes(bytes([enc, rate_index, chunk]) + data)

    d = out / "feature_config_fuzz"
    d.mkdir(parents=True, exist_ok=True)
    base = {"kind": "lfcc", "sample_rate_hz": 16000, "n_fft": 512, "win_length": 400,
            "hop_length": 160, "window": "hann", "center": False, "n_filters": 20,
            "n_coeffs": 20, "f_min_hz": 0.0, "f_max_hz": 0.0, "deltas": 0, "preemphasis": 0.0,
            "log": "ln", "log_floor": 1e-6, "normalize": "none"}
    variants = [{}, {"kind": "mfcc", "n_filters": 40, "n_coeffs": 13, "deltas": 2},
                {"kind": "logmel", "n_filters": 64, "center": True, "log": "db"},
                {"kind": "logspec", "window": "hamming", "normalize": "meanvar"},
                {"n_fft": 16, "win_length": 2, "hop_length": 1, "n_filters": 9, "n_coeffs": 1},
                {"sample_rate_hz": 8000, "f_min_hz": 300.0, "f_max_hz": 3400.0,
                 "preemphasis": 0.97, "normalize": "mean"},
                {"kind": "mfcc", "n_fft": 2048, "n_filters": 128, "n_coeffs": 128, "center": True}]
    for i, v in enumerate(variants):
        c = dict(base, **v)
        (d / f"config{i}.json").write_text(json.dumps(c))
    (d / "partial.json").write_text('{"kind": "logmel", "n_filters": 64}')
    (d / "empty_object.json").write_text("{}")

    d = out / "request_fuzz"
    d.mkdir(parents=True, exist_ok=True)
    score = b"\x00"
    stream = b"\x01"
    for p in fixtures:
        data = p.read_bytes()[:48000]
        (d / f"score.{p.name}").write_bytes(score + score_request(data, audio_format(hint=p.name)))
    wav = (FIXTURES / "wav_s16le_16k.wav").read_bytes()
    (d / "score.options").write_bytes(
        score + score_request(wav, b"", score_options("strict", 1.5)))
    for name, enc in raw.items():
        data = (FIXTURES / name).read_bytes()
        (d / f"score.{name}").write_bytes(score + score_request(data, audio_format(enc + 1, 8000)))
        chunks = [field_bytes(2, data[i:i + 1600]) for i in range(0, len(data), 1600)]
        (d / f"stream.{name}").write_bytes(
            stream + frame([stream_config(enc + 1, 8000, 0.5, score_options("", 1.0))] + chunks))
    data = (FIXTURES / "raw_s16le_8k.raw").read_bytes()
    (d / "stream.config_twice").write_bytes(
        stream + frame([stream_config(1, 8000), field_bytes(2, data[:3200]), stream_config(1, 8000)]))
    (d / "stream.audio_first").write_bytes(stream + frame([field_bytes(2, data[:3200])]))


if __name__ == "__main__":
    main()
