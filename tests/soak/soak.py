#!/usr/bin/python3
"""Soak test: a spoofd server under a mix of good and hostile requests for a
bounded time (tests/RELIABILITY.md). Needs Debian's python3-grpcio; messages
are encoded by hand (tests/fuzz/make_seeds.py), so no generated stubs.

    tests/soak/soak.py --duration-s 600 --threads 6            # build/bin/spoofd, bundled model
    tests/soak/soak.py --spoofd build-asan/bin/spoofd --duration-s 120

It starts its own spoofd (ephemeral ports), runs --threads client threads
that each pick a random case, checks every answer against the status code the
API documents for that case, samples the server's RSS every 10 s, and at the
end checks the server still answers health checks and exits 0 on SIGTERM.
Prints a JSON summary; exit status 0 only if every good request was answered
OK, every bad one got its documented code, and the server never died.
"""
import argparse
import json
import os
import pathlib
import random
import signal
import struct
import subprocess
import sys
import threading
import time

import grpc

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
import make_seeds as pb  # noqa: E402  (hand-written protobuf encoders)

FIX = ROOT / "tests" / "data" / "fixtures"
HOSTILE = ROOT / "tests" / "data" / "hostile"
SVC = "/spoofd.v1.Detector/"
OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def fields(msg):
    """Top-level fields of a protobuf message: {number: [values]} (varint/bytes/fixed64)."""
    out, i = {}, 0
    while i < len(msg):
        key, i = varint_at(msg, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint_at(msg, i)
        elif wt == 1:
            v, i = msg[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint_at(msg, i)
            v, i = msg[i:i + n], i + n
        elif wt == 5:
            v, i = msg[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def varint_at(b, i):
    shift = value = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def float_wav(samples, rate=16000):
    data = struct.pack("<%df" % len(samples), *samples)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 3, 1, rate, rate * 4, 4, 32) + b"data" +
            struct.pack("<I", len(data)) + data)


def lying_wav():
    wav = (FIX / "wav_s16le_16k.wav").read_bytes()
    return wav[:40] + struct.pack("<I", 0xFFFFFFF0) + wav[44:]


def multichannel_wav(channels=8, rate=96000, seconds=1.0):
    import math
    frames = int(rate * seconds)
    data = bytearray()
    for i in range(frames):
        for c in range(channels):
            data += struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * (c + 1) * i / rate)))
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) +
            b"data" + struct.pack("<I", len(data)) + bytes(data))


class Cases:
    def __init__(self, max_message_bytes):
        rnd = random.Random(1)
        self.sample = (ROOT / "samples" / "genuine_librivox_0870.wav").read_bytes()
        self.mp3 = (FIX / "speech.mp3").read_bytes()
        self.m4a = (FIX / "speech_aac.m4a").read_bytes()
        self.mulaw = (FIX / "raw_mulaw_8k.raw").read_bytes()
        self.pcm16 = self.sample[44:]
        self.random = bytes(rnd.getrandbits(8) for _ in range(65536))
        self.truncated = [p.read_bytes()[: max(1, p.stat().st_size // 20)]
                          for p in sorted(FIX.iterdir()) if p.stat().st_size > 100]
        self.nan = float_wav([0.1] * 8000 + [float("nan")] + [0.1] * 8000)
        self.inf = float_wav([0.1] * 8000 + [float("inf")] + [0.1] * 8000)
        self.lying = lying_wav()
        self.wide = multichannel_wav()
        self.flac_bomb = (HOSTILE / "silence_10h_8k.flac").read_bytes()
        self.opus_bomb = (HOSTILE / "bomb_opus_10min.opus").read_bytes()
        self.oversize = b"\0" * (max_message_bytes + 1024)


def run_case(channel, cases, name, rnd):
    """Runs one case; returns (good?, expected codes, actual code)."""
    score = channel.unary_unary(SVC + "Score")
    upload = channel.stream_unary(SVC + "ScoreUpload")
    stream = channel.stream_stream(SVC + "StreamScore")

    def call_score(audio, fmt=b"", timeout=120):
        try:
            score(pb.score_request(audio, fmt), timeout=timeout)
            return OK
        except grpc.RpcError as e:
            return e.code()

    def call_stream(messages, timeout=120, cancel_after_first=False):
        try:
            it = stream(iter(messages), timeout=timeout)
            last = None
            for response in it:
                last = response
                if cancel_after_first:
                    it.cancel()
                    return grpc.StatusCode.CANCELLED
            if last is None or fields(last).get(2, [0])[0] != 1:
                return grpc.StatusCode.UNKNOWN  # no final result
            return OK
        except grpc.RpcError as e:
            return e.code()

    def stream_msgs(enc, rate, audio, chunk):
        yield pb.stream_config(enc, rate)
        for i in range(0, len(audio), chunk):
            yield pb.field_bytes(2, audio[i:i + chunk])

    if name == "score_mp3":
        return True, {OK}, call_score(cases.mp3)
    if name == "score_wav":
        return True, {OK}, call_score(cases.sample)
    if name == "score_m4a":
        return True, {OK}, call_score(cases.m4a)
    if name == "score_lying_header":
        return True, {OK}, call_score(cases.lying)
    if name == "score_96k_8ch":
        return True, {OK}, call_score(cases.wide)
    if name == "upload_wav":
        msgs = [pb.field_bytes(1, pb.field_bytes(1, b"soak"))] + [
            pb.field_bytes(2, cases.sample[i:i + 65536]) for i in range(0, len(cases.sample), 65536)]
        try:
            upload(iter(msgs), timeout=120)
            return True, {OK}, OK
        except grpc.RpcError as e:
            return True, {OK}, e.code()
    if name == "stream_mulaw":
        return True, {OK}, call_stream(stream_msgs(2, 8000, cases.mulaw, 1600))
    if name == "stream_pcm16":
        return True, {OK}, call_stream(stream_msgs(1, 16000, cases.pcm16, 6400))
    # Hostile.
    if name == "empty":
        return False, {INVALID}, call_score(b"")
    if name == "random":
        return False, {INVALID}, call_score(cases.random)
    if name == "truncated":
        return False, {OK, INVALID, grpc.StatusCode.UNIMPLEMENTED}, call_score(rnd.choice(cases.truncated))
    if name == "nan":
        return False, {INVALID}, call_score(rnd.choice([cases.nan, cases.inf]))
    if name == "flac_bomb":
        return False, {EXHAUSTED}, call_score(cases.flac_bomb)
    if name == "opus_bomb":
        return False, {EXHAUSTED}, call_score(cases.opus_bomb)
    if name == "oversize":
        return False, {EXHAUSTED}, call_score(cases.oversize)
    if name == "stream_no_config":
        return False, {INVALID}, call_stream([pb.field_bytes(2, cases.mulaw[:1600])])
    if name == "stream_config_twice":
        return False, {INVALID}, call_stream(
            [pb.stream_config(2, 8000), pb.field_bytes(2, cases.mulaw[:1600]), pb.stream_config(2, 8000)])
    if name == "stream_nothing":
        return False, {INVALID}, call_stream([])
    if name == "stream_cancelled":
        return False, {grpc.StatusCode.CANCELLED}, call_stream(
            stream_msgs(2, 8000, cases.mulaw * 4, 1600), cancel_after_first=True)
    if name == "deadline":
        return False, {grpc.StatusCode.DEADLINE_EXCEEDED, OK}, call_score(cases.sample, timeout=0.005)
    raise ValueError(name)


GOOD = ["score_mp3", "score_wav", "score_m4a", "score_lying_header", "score_96k_8ch", "upload_wav",
        "stream_mulaw", "stream_pcm16"]
BAD = ["empty", "random", "truncated", "nan", "flac_bomb", "opus_bomb", "oversize",
       "stream_no_config", "stream_config_twice", "stream_nothing", "stream_cancelled", "deadline"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spoofd", default=str(ROOT / "build" / "bin" / "spoofd"))
    ap.add_argument("--model", default=str(ROOT / "models" / "spoofd-default.pt"))
    ap.add_argument("--duration-s", type=float, default=600)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--bad-share", type=float, default=0.4, help="share of hostile requests")
    ap.add_argument("--max-audio-s", type=float, default=300,
                    help="server --max-audio-s (both bombs, 10 h and 10 min, are refused)")
    ap.add_argument("--max-message-mb", type=float, default=4)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--log", default="/tmp/spoofd-soak.log", help="the server's JSON log")
    args = ap.parse_args()

    log = open(args.log, "w")
    server = subprocess.Popen(
        [args.spoofd, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--model",
         args.model, "--max-audio-s", str(args.max_audio_s), "--max-message-mb",
         str(args.max_message_mb)], stderr=log, stdout=subprocess.DEVNULL)
    port = 0
    for _ in range(3000):
        with open(args.log) as f:
            for line in f:
                if '"event":"listening"' in line:
                    port = json.loads(line)["port"]
        if port or server.poll() is not None:
            break
        time.sleep(0.02)
    if not port:
        sys.exit("soak: spoofd did not start (see %s)" % args.log)
    target = "127.0.0.1:%d" % port
    opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    probe = grpc.insecure_channel(target, options=opts)
    health = probe.unary_unary("/grpc.health.v1.Health/Check")
    for _ in range(3000):
        try:
            if fields(health(b"", timeout=5)).get(1, [0])[0] == 1:  # SERVING
                break
        except grpc.RpcError:
            pass
        time.sleep(0.05)

    cases = Cases(int(args.max_message_mb * (1 << 20)))
    counts = {}
    unexpected = []
    lock = threading.Lock()
    end = time.monotonic() + args.duration_s
    rss = [(0.0, rss_kb(server.pid))]
    start = time.monotonic()

    def worker(i):
        rnd = random.Random(args.seed * 100 + i)
        channel = grpc.insecure_channel(target, options=opts)
        while time.monotonic() < end and server.poll() is None:
            name = rnd.choice(BAD if rnd.random() < args.bad_share else GOOD)
            good, expected, code = run_case(channel, cases, name, rnd)
            with lock:
                key = "%s %s" % (name, code.name)
                counts[key] = counts.get(key, 0) + 1
                if code not in expected:
                    unexpected.append({"case": name, "good": good, "code": code.name,
                                       "t_s": round(time.monotonic() - start, 1)})
        channel.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(10)
        if server.poll() is None:
            rss.append((round(time.monotonic() - start, 1), rss_kb(server.pid)))
    for t in threads:
        t.join()
    alive = server.poll() is None
    serving = False
    if alive:
        try:
            serving = fields(health(b"", timeout=10)).get(1, [0])[0] == 1
        except grpc.RpcError:
            serving = False
        rss.append((round(time.monotonic() - start, 1), rss_kb(server.pid)))
        server.send_signal(signal.SIGTERM)
    exit_code = server.wait(timeout=120)
    good_total = sum(v for k, v in counts.items() if k.split()[0] in GOOD)
    good_ok = sum(v for k, v in counts.items() if k.split()[0] in GOOD and k.endswith(" OK"))
    summary = {
        "duration_s": args.duration_s, "threads": args.threads, "seed": args.seed,
        "requests": sum(counts.values()), "good": good_total, "good_ok": good_ok,
        "unexpected": unexpected[:50], "unexpected_count": len(unexpected),
        "server_alive_at_end": alive, "serving_at_end": serving, "server_exit_code": exit_code,
        "error_events_in_log": sum(1 for line in open(args.log) if "\"level\":\"error\"" in line),
        "rss_kb": {"first": rss[0][1], "after_60s": next((r for t, r in rss if t >= 60), None),
                   "max": max(r for _, r in rss), "end": rss[-1][1]},
        "rss_samples": rss, "counts": dict(sorted(counts.items())),
    }
    print(json.dumps(summary, indent=1))
    ok = alive and serving and exit_code == 0 and not unexpected and good_ok == good_total
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
