#!/usr/bin/python3
"""Game voice acting as an extra training set: the spoken lines of Flight of the
Amazon Queen (Debian package flight-of-the-amazon-queen, ScummVM data file
queen.1c) and, with --games queen,sky, of Beneath a Steel Sky (beneath-a-steel-sky,
sky.dnr + sky.dsk), and a resynthesised copy of each line. The shipped model
(2026.11.27-cqcc60-games) was trained on the first game only, the default.

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
   Beneath a Steel Sky: sky.dnr is a 32-bit count and 8-byte entries (file number,
   24-bit offset, whose top bit means "times 16", and 24-bit size with flags);
   files 50000-55999 are the speech, a 22-byte header and an RNC-packed body
   (rnc.py) of 8-bit unsigned PCM at 11,025 Hz. Which character speaks a line is
   not in the data, so its lines are grouped by blocks of 100 file numbers.
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
   16 kb/s or 8-bit PCM: channel.match_native), so a second generation of it
   cannot tell them apart, and the chain of augment.py, the copy with the same random draws as
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

import rnc  # noqa: E402

STEP = "games"
QUEEN = "/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
SKY = "/usr/share/scummvm/beneath-a-steel-sky/sky"  # .dnr (index) and .dsk (data)
# Per game: Debian package, native channel, clip-id prefix, file that must exist.
GAMES = {
    "queen": dict(source="flight-of-the-amazon-queen", codec="mp3", prefix="q", needs=QUEEN),
    "sky": dict(source="beneath-a-steel-sky", codec="pcm_u8", prefix="s", needs=SKY + ".dsk"),
}
NATIVE_RATE_HZ = 11025
SKY_SPEECH = range(50000, 56000)
SKY_HEADER = 22
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


def read_sky_index(dnr):
    """[(file number, offset, size, flags)] of Beneath a Steel Sky's speech files."""
    with open(dnr, "rb") as f:
        data = f.read()
    n = struct.unpack("<I", data[:4])[0]
    if len(data) < 4 + 8 * n:
        raise C.ToolError(f"{dnr}: index shorter than its {n} entries")
    out = []
    for i in range(n):
        e = data[4 + 8 * i: 12 + 8 * i]
        num = struct.unpack("<H", e[:2])[0]
        off = int.from_bytes(e[2:5], "little")
        size = int.from_bytes(e[5:8], "little")
        if off & 0x800000:
            off = (off & 0x7FFFFF) << 4
        if num in SKY_SPEECH:
            out.append((num, off, size & 0x3FFFFF, size >> 22))
    return out


def read_sky_line(off, size):
    """8-bit PCM samples (float, 11,025 Hz) of one speech file."""
    with open(SKY + ".dsk", "rb") as f:
        f.seek(off)
        data = f.read(size)
    try:
        pcm = rnc.unpack(data[SKY_HEADER:])
    except ValueError as e:
        raise C.ToolError(f"sky.dsk at {off}: {e}") from e
    return (np.frombuffer(pcm, np.uint8).astype(np.float32) - 128.0) / 128.0


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


def sidecar_path(t):
    return C.data_path("games", "_done", t["clip_id"][:12], t["clip_id"] + ".json")


def process(t):
    if t["game"] == "sky":
        x, sr = C.resample(read_sky_line(t["offset"], t["size"]), NATIVE_RATE_HZ, CH.SR), CH.SR
    else:
        with open(QUEEN, "rb") as f:
            f.seek(t["offset"])
            data = f.read(t["size"])
        x, sr = C.ffmpeg_decode(None, fmt="mp3", rate_hz=CH.SR, input_bytes=data)
    if len(x) < int(1.0 * sr):
        raise C.ToolError(f"{t['name']}: shorter than 1 s after decoding")
    bandwidth = C.estimate_bandwidth_hz(x, sr)  # of the genuine line, for both classes
    rng = C.stable_rng(t["seed"], "games-gen", t["clip_id"])
    if t["label"] == "spoof":
        if t["generator"] in RESYNTH:
            x, _ = G.BY_NAME[t["generator"]].synth(x, sr, rng)
        else:
            import resynth  # noqa: E402 - vocoders/resynth.py (needs torch)
            x = C.fit_length(resynth.copy_synthesis(t["kind"], t["ckpt"], x), len(x))
        x = np.nan_to_num(np.asarray(x, np.float32))
    codec = GAMES[t["game"]]["codec"]
    x, native = CH.match_native(x, NATIVE_RATE_HZ, codec, bandwidth,
                                C.stable_rng(t["seed"], "games-native", t["clip_id"]))
    # The chain draws are seeded by the genuine line, so a copy gets its original's.
    y, info = A.chain(x, A.clip_rng(t["seed"], t["source_clip_id"]))
    rel = os.path.join("games", "clips", t["clip_id"] + ".wav")
    C.write_wav_atomic(C.data_path(rel), y)
    row = {k: t[k] for k in ("clip_id", "split", "label", "speaker", "group", "source", "language",
                             "text_id", "generator", "family", "kind", "source_clip_id")}
    row.update(info, native_match=native, native_rate_hz=NATIVE_RATE_HZ, native_codec=codec,
               duration_s=round(len(y) / CH.SR, 3), path=rel)
    C.atomic_write_json(sidecar_path(t), row)
    return 1


def game_lines(game):
    """[(name, offset, size, scene, speaker)] of one game's speech lines of 1 s or more."""
    out = []
    if game == "queen":
        # 16 kb/s: 2,000 bytes per second; the lines under about 1 s are grunts and
        # one-word answers, and the decoder checks the exact length again.
        for name, off, size in read_table(QUEEN):
            if size >= 2000:
                out.append((name, off, size) + scene_and_speaker(name))
        return out
    with open(SKY + ".dsk", "rb") as f:
        for num, off, size, _flags in read_sky_index(SKY + ".dnr"):
            f.seek(off + SKY_HEADER)
            head = f.read(8)
            # The RNC header's unpacked length is the number of samples.
            if head[:4] == b"RNC\x01" and struct.unpack(">I", head[4:8])[0] >= NATIVE_RATE_HZ:
                scene = f"sky{num // 100}"
                out.append((str(num), off, size, scene, scene))
    return out


def plan(args, seed):
    vocs = []
    if args.vocoders and os.path.isdir(args.vocoders):
        import resynth  # noqa: E402
        vocs = resynth.checkpoints(args.vocoders)
    gens = [("resynth", g) for g in RESYNTH if g in {x.name for x in G.available_generators()}]
    gens += [("vocoder", v) for v in vocs]
    tasks = []
    lines = [(game,) + line for game in args.games for line in game_lines(game)]
    for game, name, off, size, scene, speaker in lines:
        split = split_of(scene, speaker)
        prefix = GAMES[game]["prefix"]
        cid = f"{prefix}_{name.lower()}"
        base = dict(game=game, offset=off, size=size, name=name, split=split, speaker=speaker,
                    group=speaker, source=GAMES[game]["source"], language="en",
                    text_id=f"en:{game}-{name.lower()}", source_clip_id=cid, seed=seed)
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
            tasks.append(dict(base, clip_id=f"{prefix}s_{g}_{name.lower()}", label="spoof", generator=g,
                              family=gen.family, kind="resynthesis"))
        else:
            vkind, step, path = g
            tasks.append(dict(base, clip_id=f"{prefix}s_{vkind}_{step}_{name.lower()}", label="spoof",
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
    ap.add_argument("--games", default="queen",
                    help="comma-separated: queen (Flight of the Amazon Queen, the shipped recipe), "
                         "sky (Beneath a Steel Sky)")
    args = ap.parse_args()
    args.games = [g for g in args.games.split(",") if g]
    for g in args.games:
        if g not in GAMES:
            sys.exit(f"extract_games: unknown game {g!r} (choose from {', '.join(GAMES)})")
        if not os.path.exists(GAMES[g]["needs"]):
            sys.exit(f"extract_games: {GAMES[g]['needs']} is missing (apt-get install {GAMES[g]['source']})")
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
