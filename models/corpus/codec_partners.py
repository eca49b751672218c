#!/usr/bin/python3
"""Codec partners for consistency training (train.py --codec-partners).

For every training clip of the given sets, writes a partner: the same clip (already
through its corpus channel) passed once more through a telephone or low-bitrate codec
drawn from PARTNER_CODECS, in-process with the corpus's own channel functions
(channel.py). The codecs remove the codec delay, so the partner is sample-aligned with
its original and has the same length; a crop at the same frame offset of both holds the
same speech. Both classes get partners from the same codec table, so a codec says
nothing about the label.

Output folder:
  clips/<partner_id>.wav      16 kHz mono s16; partner_id = "cp_" + original id
  protocols/train.txt         the originals' protocol lines under the partners' ids
  partners.tsv                original_id, partner_id, codec, set

Resumable: a partner whose WAV exists is kept; the TSV and protocol are rewritten
from what exists at the end. The codec of a clip is fixed by a hash of its id and
--seed, so a rerun makes the same partners.

  codec_partners.py --out models/corpus/data/codec_partners --jobs 2 \
      --set main:models/corpus/data/protocols/train.txt:models/corpus/data/clips \
      --set games:models/corpus/data/games/protocols/train.txt:models/corpus/data/games/clips
"""
import argparse
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import channel as CH  # noqa: E402
import common as C  # noqa: E402

STEP = "codec_partners"

# Telephone channels first: they are where the shipped model's decisions move most
# (the codec check of the model card). Fixed before any consistency run was scored.
PARTNER_CODECS = [
    ("g711_mulaw", 0.15, CH.g711_mulaw),
    ("g711_alaw", 0.15, CH.g711_alaw),
    ("gsm", 0.15, CH.gsm_fr),
    ("amr_nb", 0.15, CH.amr_nb),
    ("g726", 0.10, CH.g726),
    ("g722", 0.05, CH.g722),
    ("mp3", 0.10, CH.mp3),
    ("opus", 0.10, CH.opus),
    ("speex", 0.05, CH.speex),
]


def draw_codec(rng):
    p = np.array([w for _, w, _ in PARTNER_CODECS])
    return PARTNER_CODECS[int(rng.choice(len(PARTNER_CODECS), p=p / p.sum()))]


def partner_id(clip_id):
    return "cp_" + clip_id


def make_partner(task):
    """Writes one partner WAV; returns (codec name, codec parameters)."""
    x, sr = C.read_audio(task["src"])
    if sr != C.TARGET_RATE_HZ:
        x = C.resample(x, sr, C.TARGET_RATE_HZ)
    rng = C.stable_rng(task["seed"], task["clip_id"], "codec_partner")
    name, _, fn = draw_codec(rng)
    y, params = fn(np.asarray(x, np.float32), rng, {})
    y = C.fit_length(y, len(x))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.989:  # keep the peak below -0.1 dBFS by scaling, never clipping
        y = y * (0.989 / peak)
    C.write_wav_atomic(task["dst"], y)
    return name, params


def read_set(spec):
    parts = spec.split(":")
    if len(parts) != 3:
        sys.exit(f"--set {spec}: expected NAME:PROTOCOL:CLIPS")
    name, protocol, clips = parts
    lines = []
    for line in open(protocol):
        cols = line.split()
        if len(cols) >= 5 and not line.startswith("#"):
            lines.append((cols, os.path.join(clips, cols[1] + ".wav")))
    return name, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", required=True, metavar="NAME:PROTOCOL:CLIPS",
                    help="a set's train protocol and its clip folder; repeat for more sets")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()

    clips_dir = os.path.join(args.out, "clips")
    C.ensure_dir(clips_dir)
    C.ensure_dir(os.path.join(args.out, "protocols"))
    tasks, protocol_rows = [], []
    for spec in args.set:
        set_name, lines = read_set(spec)
        for cols, src in lines:
            if not os.path.exists(src):
                continue
            pid = partner_id(cols[1])
            tasks.append({"clip_id": cols[1], "src": src, "seed": args.seed, "set": set_name,
                          "dst": os.path.join(clips_dir, pid + ".wav")})
            protocol_rows.append([cols[0], pid] + cols[2:])

    C.run_tasks(STEP, tasks, make_partner, lambda t: t["dst"], jobs=args.jobs)

    # The codec of each partner follows from its id and the seed; recompute it for the
    # table rather than keeping per-clip sidecars.
    rows, kept = [], []
    for task, prow in zip(tasks, protocol_rows):
        if not os.path.exists(task["dst"]):
            continue
        name = draw_codec(C.stable_rng(task["seed"], task["clip_id"], "codec_partner"))[0]
        rows.append({"original_id": task["clip_id"], "partner_id": partner_id(task["clip_id"]),
                     "codec": name, "set": task["set"]})
        kept.append(" ".join(prow))
    C.write_tsv(os.path.join(args.out, "partners.tsv"), rows, ["original_id", "partner_id", "codec", "set"])
    C.atomic_write_text(os.path.join(args.out, "protocols", "train.txt"), "\n".join(kept) + "\n")
    counts = collections.Counter(r["codec"] for r in rows)
    C.log(STEP, f"{len(rows)} partners of {len(tasks)} clips: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
