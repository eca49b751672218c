#!/usr/bin/python3
"""Game voice acting as an extra training set: the spoken lines of Flight of the
Amazon Queen (Debian package flight-of-the-amazon-queen, ScummVM data file
queen.1c) and a resynthesised copy of each line.

The Debian corpus has few English voices (one asterisk speaker, a few words from
the KDE games and Tux Paint). This set adds the game's whole cast, English
dialogue, about 4.5 h. Both classes come from the same recordings: each synthetic
clip is a genuine line passed through one vocoder, so speaker, words and
recording chain are shared and only the vocoder differs.

  extract_games.py [--jobs N] [--copy-frac 1.0] [--vocoders models/work/vocoders]

1. queen.1c starts with a resource table: "QTBL", a 5-byte version, 3 unused
   bytes, a compression byte (1 = MP3), a big-endian entry count and 21-byte
   entries (12-byte name, bundle byte, big-endian offset and size). The .SB
   entries are the speech lines: MP3, 11,025 Hz mono, 16 kb/s.
2. Lines are grouped by scene (the dialogue number, or the cutscene/script name
   in the file name). Splits are 70/15/15 by a stable hash of the scene, so a
   sentence never crosses splits. The player character (Joe) speaks in every
   scene; all his lines go to train. The other characters are voiced by a small
   cast, so the same actor can appear in train and eval: this set's eval split is
   scene- and text-disjoint, not speaker-disjoint.
3. A copy is made from the decoded line by one generator chosen by a stable hash:
   the Debian resynthesis vocoders (SPTK mel-cepstrum/MLSA, SPTK LPC, codec2,
   Griffin-Lim, LPC-10) or a checkpoint of the neural vocoders trained here.
4. Both classes then get the game's native channel once more (11,025 Hz, MP3 at
   16 kb/s: channel.match_native), so a second MP3 generation cannot tell them
   apart, and the chain of augment.py, the copy with the same random draws as
   its original.

Output: data/games/clips/*.wav, data/games/meta.tsv and ASVspoof protocols
data/games/protocols/{train,dev,eval}.txt. Resumable: one sidecar per clip.
"""
import argparse
import os
import pathlib
import re
import struct
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "vocoders"))
import augment as A  # noqa: E402
import channel as CH  # noqa: E402
import common as C  # noqa: E402
import generators as G  # noqa: E402

STEP = "games"
SOURCE = "flight-of-the-amazon-queen"
QUEEN = "/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
NATIVE_RATE_HZ = 11025
NATIVE_CODEC = "mp3"
RESYNTH = ("sptk_mlsa", "sptk_lpc", "codec2", "griffin_lim", "lpc10")
SPLITS = (("train", 0.70), ("dev", 0.15), ("eval", 0.15))


def read_table(path):
    """[(name, offset, size)] of the .SB (speech) entries of a queen.1c file."""
    with open(path, "rb") as f:
        head = f.read(15)
        if head[:4] != b"QTBL":
            raise C.ToolError(f"{path}: no QTBL resource table")
        if head[12] != 1:
            raise C.ToolError(f"{path}: compression type {head[12]}, expected 1 (MP3)")
        n = struct.unpack(">H", head[13:15])[0]
        table = f.read(21 * n)
    out = []
    for i in range(n):
        e = table[21 * i: 21 * (i + 1)]
        name = e[:12].split(b"\0")[0].decode("ascii", "replace")
        off, size = struct.unpack(">II", e[13:21])
        if name.upper().endswith(".SB"):
            out.append((name[:-3], off, size))
    return out


_DIALOGUE = re.compile(r"^([0-9A-F]{2})[0-9A-F]{4}([JP])[0-9]$")


def scene_and_speaker(name):
    """(scene, speaker) from a speech file name. Dialogue lines are NNxxxx{J,P}k:
    dialogue NN, J = Joe, P = the other person. Joe's monologue lines start JO."""
    m = _DIALOGUE.match(name)
    if m:
        scene = f"dlg{m.group(1)}"
        return scene, ("joe" if m.group(2) == "J" else f"{scene}_p")
    if name.startswith("JO"):
        return "joe", "joe"
    scene = re.match(r"^([A-Z]+[0-9]*[A-Z]?|[0-9]{2})", name)
    scene = scene.group(1) if scene else name[:4]
    return f"scn{scene}", f"scn{scene}"


def split_of(scene, speaker):
    if speaker == "joe":
        return "train"
    return C.pick_split(C.stable_hash("games-split", scene) / 2 ** 64, SPLITS)


def decode_mp3(data):
    out = C.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "mp3", "-i", "-", "-ac", "1",
                 "-ar", str(CH.SR), "-f", "wav", "-acodec", "pcm_f32le", "-"], input_bytes=data)
    x, sr = C.decode_wav_bytes(out)
    return np.asarray(x, np.float32), sr


def sidecar_path(t):
    return C.data_path("games", "_done", t["clip_id"][:12], t["clip_id"] + ".json")


def vocode(x, t):
    """One neural-vocoder copy (mel -> waveform), as vocoders/resynth.py makes them."""
    import torch
    import resynth  # noqa: E402 - vocoders/resynth.py
    g = resynth.generator(t["kind"], t["ckpt"])
    peak = float(np.max(np.abs(x))) + 1e-6
    with torch.no_grad():
        y = g(resynth._MEL(torch.from_numpy(x / peak * 0.9)[None]))[0].numpy()
    return G._match_len(y * (peak / 0.9), len(x))


def process(t):
    with open(QUEEN, "rb") as f:
        f.seek(t["offset"])
        data = f.read(t["size"])
    x, sr = decode_mp3(data)
    if len(x) < int(1.0 * sr):
        raise C.ToolError(f"{t['name']}: shorter than 1 s after decoding")
    bandwidth = C.estimate_bandwidth_hz(x, sr)  # of the genuine line, for both classes
    rng = C.stable_rng(t["seed"], "games-gen", t["clip_id"])
    if t["label"] == "spoof":
        if t["generator"] in RESYNTH:
            x, _ = G.BY_NAME[t["generator"]].synth(x, sr, rng)
        else:
            x = vocode(x, t)
        x = np.nan_to_num(np.asarray(x, np.float32))
    x, native = CH.match_native(x, NATIVE_RATE_HZ, NATIVE_CODEC, bandwidth,
                                C.stable_rng(t["seed"], "games-native", t["clip_id"]))
    # The chain draws are seeded by the genuine line, so a copy gets its original's.
    y, info = A.chain(x, A.clip_rng(t["seed"], t["source_clip_id"]))
    rel = os.path.join("games", "clips", t["clip_id"] + ".wav")
    C.write_wav_atomic(C.data_path(rel), y)
    row = {k: t[k] for k in ("clip_id", "split", "label", "speaker", "group", "source", "language",
                             "text_id", "generator", "family", "kind", "source_clip_id")}
    row.update(info, native_match=native, native_rate_hz=NATIVE_RATE_HZ, native_codec=NATIVE_CODEC,
               duration_s=round(len(y) / CH.SR, 3), path=rel)
    C.atomic_write_json(sidecar_path(t), row)
    return 1


def plan(args, seed):
    lines = read_table(QUEEN)
    # 16 kb/s: 2,000 bytes per second; the lines under about 1 s are grunts and
    # one-word answers, and the decoder checks the exact length again.
    lines = [e for e in lines if e[2] >= 2000]
    vocs = []
    if args.vocoders and os.path.isdir(args.vocoders):
        import resynth  # noqa: E402
        vocs = resynth.checkpoints(args.vocoders)
    gens = [("resynth", g) for g in RESYNTH if g in {x.name for x in G.available_generators()}]
    gens += [("vocoder", v) for v in vocs]
    tasks = []
    for name, off, size in lines:
        scene, speaker = scene_and_speaker(name)
        split = split_of(scene, speaker)
        cid = f"q_{name.lower()}"
        base = dict(offset=off, size=size, name=name, split=split, speaker=speaker, group=speaker,
                    source=SOURCE, language="en", text_id=f"en:queen-{name.lower()}",
                    source_clip_id=cid, seed=seed)
        tasks.append(dict(base, clip_id=cid, label="bonafide", generator="-", family="-", kind="-"))
        if C.stable_hash("games-copy", cid) / 2 ** 64 >= args.copy_frac or not gens:
            continue
        # Half of the copies from the neural vocoders (when any), half from Debian's.
        pick = C.stable_hash("games-gen", cid)
        pool = [g for g in gens if g[0] == "vocoder"] if vocs and pick % 2 else \
            [g for g in gens if g[0] == "resynth"]
        kind, g = pool[(pick // 2) % len(pool)]
        if kind == "resynth":
            gen = G.BY_NAME[g]
            tasks.append(dict(base, clip_id=f"qs_{g}_{name.lower()}", label="spoof", generator=g,
                              family=gen.family, kind="resynthesis"))
        else:
            vkind, step, path = g
            tasks.append(dict(base, clip_id=f"qs_{vkind}_{step}_{name.lower()}", label="spoof",
                              generator=f"voc-{vkind}-{step}", family=f"own_{vkind}_vocoder",
                              kind=vkind, ckpt=str(path), step=step))
    # Same-checkpoint copies in a row: the vocoder cache holds one network at a time.
    tasks.sort(key=lambda t: (t.get("ckpt", ""), t["clip_id"]))
    return tasks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--copy-frac", type=float, default=1.0,
                    help="share of the genuine lines that also get a synthetic copy")
    ap.add_argument("--vocoders", default="models/work/vocoders",
                    help="checkpoints of models/corpus/vocoders (skipped when absent)")
    args = ap.parse_args()
    if not os.path.exists(QUEEN):
        sys.exit(f"extract_games: {QUEEN} is missing (apt-get install flight-of-the-amazon-queen)")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    cfg = C.load_config()
    tasks = plan(args, cfg["seed"])
    C.log(STEP, f"{sum(t['label'] == 'bonafide' for t in tasks)} genuine lines, "
                f"{sum(t['label'] == 'spoof' for t in tasks)} copies")
    C.run_tasks(STEP, tasks, process, sidecar_path, jobs=args.jobs)
    rows = sorted(C.gather_sidecars(sidecar_path(t) for t in tasks), key=lambda r: r["clip_id"])
    cols = ["clip_id", "split", "label", "generator", "family", "kind", "speaker", "group", "source",
            "language", "text_id", "source_clip_id", "native_match", "native_rate_hz", "native_codec",
            "condition", "condition_params", "level_dbfs", "floor_dbfs", "lead_s", "trail_s",
            "duration_s", "path"]
    C.write_tsv(C.data_path("games", "meta.tsv"), rows, cols)
    pdir = C.data_path("games", "protocols")
    C.ensure_dir(pdir)
    for split, _ in SPLITS:
        lines = [f"{r['speaker']} {r['clip_id']} - {r['generator']} {r['label']}"
                 for r in rows if r["split"] == split]
        C.atomic_write_text(os.path.join(pdir, f"{split}.txt"), "\n".join(lines) + "\n")
    for label in ("bonafide", "spoof"):
        sel = [r for r in rows if r["label"] == label]
        C.log(STEP, f"{label}: {len(sel)} clips, {sum(float(r['duration_s']) for r in sel) / 3600:.2f} h, "
                    + ", ".join(f"{s} {sum(r['split'] == s for r in sel)}" for s, _ in SPLITS))


if __name__ == "__main__":
    main()
