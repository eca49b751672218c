#!/usr/bin/python3
"""Step 3: the anti-shortcut chain, applied to EVERY clip of both classes.

Per clip, with a seed derived from (global seed, clip id):
  a) synthetic only: native-channel matching to the paired genuine recording
     (channel.match_native: its native sample rate, codec, effective bandwidth);
     genuine clips already carry their native channel;
  -) both: leading/trailing silence trimmed (same detector for both classes), with
     10 ms fades at the cuts;
  b) loudness: active-speech RMS normalised to a random -30..-16 dBFS;
  c) a noise floor under the whole clip (35-65 dB below the speech) and random
     leading/trailing silence of 0-0.5 s made of that floor, never digital zero;
  d) one channel condition drawn from channel.CONDITIONS (same probabilities for
     both classes); babble noise is made from other clips of the same split, half
     genuine and half synthetic.
Then the peak is kept below -0.1 dBFS by scaling (never clipping) and the clip is
written as data/clips/<clip_id>.wav (16 kHz mono s16). data/clips/meta.tsv holds
the genuine or spoof metadata plus label and the chain's parameters.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import channel as CH  # noqa: E402
import common as C  # noqa: E402
import splits as S  # noqa: E402

STEP = "augment"
SR = C.TARGET_RATE_HZ

_STATE = {}


def sidecar_path(t):
    return C.data_path("clips", "_done", t["clip_id"][:8], t["clip_id"] + ".json")


def _babble(split):
    pool = _STATE["babble_pool"].get(split) or []

    def make(n, rng):
        if len(pool) < 8:
            return None
        talkers = int(rng.integers(4, 8))
        out = np.zeros(n, np.float64)
        for k in range(talkers):
            x, _ = C.read_audio(C.data_path(pool[int(rng.integers(0, len(pool)))]))
            x = C.trim_silence(x, SR)
            if len(x) < SR // 2:
                continue
            x = x / (10 ** (C.active_rms_dbfs(x, SR) / 20) + 1e-9)
            reps = int(np.ceil(n / len(x))) + 1
            x = np.tile(x, reps)
            off = int(rng.integers(0, len(x) - n))
            out += x[off: off + n]
        return out if np.any(out) else None
    return make


def chain(x, rng, babble=None, floor_below_db=(35.0, 65.0), channel=True):
    """Steps b)-d) and the peak limit on 16 kHz audio (after trimming); returns
    (audio, parameters). Shared with the neural sources and the vocoder copies so
    every clip of every class goes through the same code. `floor_below_db` is the
    range of the noise floor under the speech; channel=False skips step d) (the
    "light" chain: level, padding and a floor only, so nothing masks the high band)."""
    x = C.trim_silence(x, SR)
    # 10 ms raised-cosine fades: a cut inside background noise (or a decoder start-up
    # click) must not leave a step that only one class would have.
    nf = min(len(x) // 4, SR // 100)
    if nf > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, nf))
        x = np.array(x, np.float64)
        x[:nf] *= ramp
        x[-nf:] *= ramp[::-1]
    # b) loudness
    level = float(rng.uniform(-30, -16))
    x = x * 10 ** ((level - C.active_rms_dbfs(x, SR)) / 20)
    # c) noise floor and padding
    floor_db = level - float(rng.uniform(*floor_below_db))
    lead, trail = float(rng.uniform(0, 0.5)), float(rng.uniform(0, 0.5))
    x = np.concatenate([np.zeros(int(lead * SR)), x, np.zeros(int(trail * SR))])
    fl = CH.pink_noise(len(x), rng) if rng.random() < 0.5 else rng.normal(0, 1, len(x))
    x = (x + fl * 10 ** (floor_db / 20)).astype(np.float32)
    # d) channel
    cname, _p, _f = CH.draw_condition(rng)
    if not channel:
        cname = "clean"
    y, params = CH.apply_condition(cname, x, rng, {"babble": babble})
    y = np.nan_to_num(np.asarray(y, np.float64))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.989:
        y = y * (0.989 / peak)
    return y.astype(np.float32), dict(condition=cname, condition_params=params,
                                       level_dbfs=round(level, 1), floor_dbfs=round(floor_db, 1),
                                       lead_s=round(lead, 3), trail_s=round(trail, 3))


def clip_rng(seed, clip_id):
    return C.stable_rng(seed, "augment", clip_id)


def process(t):
    r = t["row"]
    rng = clip_rng(_STATE["seed"], t["clip_id"])
    x, sr = C.read_audio(C.data_path(r["path"]))
    if sr != SR:
        x = C.resample(x, sr, SR)
    native = ""
    if t["label"] == "spoof":
        x, native = CH.match_native(x, r.get("pair_native_rate_hz"), r.get("pair_native_codec"),
                                    r.get("pair_bandwidth_hz"), rng)
    y, info = chain(x, rng, _babble(t["split"]))
    rel = os.path.join("clips", t["clip_id"] + ".wav")
    C.write_wav_atomic(C.data_path(rel), y)
    out = dict(r)
    out.update(label=t["label"], split_hint=t["split"], native_match=native,
               duration_s=round(len(y) / SR, 3), orig_duration_s=r["duration_s"],
               in_path=r["path"], path=rel, **info)
    C.atomic_write_json(sidecar_path(t), out)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    cfg = C.load_config()
    seed = cfg["seed"]
    genuine = C.read_tsv(C.data_path("genuine", "meta.tsv"))
    spoof = C.read_tsv(C.data_path("spoof", "meta.tsv"))
    tsplit = S.TextSplits(genuine, seed)

    def split_of(r, label):
        if label == "bonafide" or r.get("kind") == "resynthesis":
            return S.group_split(r["group"], seed)
        if r.get("derived_from"):
            return S.group_split(r["derived_from"], seed)
        return tsplit(r["text_id"])

    tasks = [dict(clip_id=r["clip_id"], label="bonafide", row=r, split=split_of(r, "bonafide"))
             for r in genuine]
    tasks += [dict(clip_id=r["clip_id"], label="spoof", row=r, split=split_of(r, "spoof"))
              for r in spoof]
    # Babble pool per split: equal numbers of genuine and synthetic source files.
    pool = {}
    for label in ("bonafide", "spoof"):
        by = {}
        for t in tasks:
            if t["label"] == label:
                by.setdefault(t["split"], []).append(t["row"]["path"])
        for sp, lst in by.items():
            pool.setdefault(sp, {})[label] = sorted(lst, key=lambda p: C.stable_hash(seed, p))
    _STATE["babble_pool"] = {}
    for sp, d in pool.items():
        n = min(len(d.get("bonafide", [])), len(d.get("spoof", [])), 400)
        _STATE["babble_pool"][sp] = d.get("bonafide", [])[:n] + d.get("spoof", [])[:n]
    _STATE["seed"] = seed
    C.clean_tmp_root()
    tasks.sort(key=lambda t: C.stable_hash("order", t["clip_id"]))
    C.run_tasks(STEP, tasks, process, sidecar_path, jobs=args.jobs)
    rows = [r for r in C.gather_sidecars(sidecar_path(t) for t in tasks)]
    rows.sort(key=lambda r: r["clip_id"])
    cols = ["clip_id", "label", "split_hint", "generator", "family", "kind", "source", "speaker",
            "group", "derived_from", "language", "text", "text_id", "source_clip_id",
            "pair_clip_id", "pair_native_rate_hz", "pair_native_codec", "pair_bandwidth_hz",
            "native_rate_hz", "native_codec", "bandwidth_hz", "native_match", "condition",
            "condition_params", "level_dbfs", "floor_dbfs", "lead_s", "trail_s", "duration_s",
            "orig_duration_s", "path", "in_path", "orig_path"]
    C.write_tsv(C.data_path("clips", "meta.tsv"), rows, cols)
    C.prune(C.data_path("clips"), {C.data_path(r["path"]) for r in rows} |
            {sidecar_path(t) for t in tasks}, STEP)
    C.log(STEP, f"wrote clips/meta.tsv: {len(rows)} clips, "
                f"{sum(float(r['duration_s']) for r in rows) / 3600:.2f} h")


if __name__ == "__main__":
    main()
