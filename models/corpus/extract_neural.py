#!/usr/bin/python3
"""Public neural speech: extracts the files listed in sources.tsv from fetched
repositories and passes every clip, genuine or synthetic, through one chain.

Repositories are read as bare git mirrors, never checked out:
  $SPOOFD_MIRROR/<owner>+<name>/repo      (default SPOOFD_MIRROR=/work/.mirror)
With internet access the same data comes from
  git clone --mirror https://github.com/<owner>/<name> "$SPOOFD_MIRROR/<owner>+<name>/repo"
and the pinned commit in sources.tsv makes the file list reproducible (a row whose
commit is missing from the mirror is reported and skipped).

The chain (per clip, seeded by the clip id, identical for both classes) removes the
demo-page traps — generated columns at another sample rate, loudness, length or
container than the ground truth:
  decode (ffmpeg, any container) -> mono -> 16 kHz -> 20 Hz high-pass (no DC, no
  rumble difference) -> silence trimmed -> long files split at pauses -> active level
  normalised to a random -30..-16 dBFS -> noise floor and 0-0.5 s of padding ->
  one channel condition from channel.CONDITIONS (telephony codecs, MP3/AAC/Opus,
  band limits, noise, reverberation) -> peak kept below -0.1 dBFS.

Output: data/neural/clips/<clip_id>.wav, data/neural/meta.tsv, and ASVspoof-style
protocols in data/neural/protocols/{train,dev,eval}.txt: the split is drawn per
utterance group (the digits of the file name inside one source, so a ground-truth
recording and its vocoded copies land in the same split). Leave-one-source-out
protocols are made at evaluation time from meta.tsv (models/eval/loso.py).
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np
from scipy import signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import augment as A  # noqa: E402
import common as C  # noqa: E402

STEP = "neural"
SR = C.TARGET_RATE_HZ
HERE = os.path.dirname(os.path.abspath(__file__))
AUDIO_EXT = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a")
SPLIT_WEIGHTS = (("train", 0.70), ("dev", 0.15), ("eval", 0.15))


def read_sources(path):
    rows = []
    header = None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if header is None:
            header = cols
            continue
        if len(cols) != len(header):
            sys.exit(f"{path}: row has {len(cols)} columns, expected {len(header)}: {line[:80]}")
        rows.append(dict(zip(header, cols)))
    return rows


def mirror_dir(repo):
    root = os.environ.get("SPOOFD_MIRROR", "/work/.mirror")
    return os.path.join(root, repo.replace("/", "+"), "repo")


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", mirror_dir(repo), *args], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


def list_files(row):
    out = git(row["repo"], "ls-tree", "-r", "--name-only", row["commit"]).decode()
    inc = re.compile(row["include"])
    exc = re.compile(row["exclude"]) if row["exclude"] not in ("", "-") else None
    return [p for p in out.splitlines()
            if p.lower().endswith(AUDIO_EXT) and inc.search(p) and not (exc and exc.search(p))]


def utterance(path):
    """File name without folders and extension; devset names flatten folders with '__'."""
    return os.path.splitext(os.path.basename(path))[0].split("__")[-1]


def group_of(source, path):
    """Utterance group: digits of the file name (GT and its copies share them)."""
    base = os.path.splitext(os.path.basename(path))[0]
    digits = "".join(re.findall(r"\d+", base))
    return f"{source}:{digits or base}"


def split_of(group, seed):
    return C.pick_split(C.stable_random(seed, "neural-split", group).random(), SPLIT_WEIGHTS)


def sidecar_path(t):
    return C.data_path(t["out"], "_done", t["task_id"][:8], t["task_id"] + ".json")


def decode_blob(t):
    blob = git(t["repo"], "cat-file", "blob", f"{t['commit']}:{t['path']}")
    d = C.tmp_dir()
    ext = os.path.splitext(t["path"])[1].lower()
    tmp = os.path.join(d, "in" + ext)
    with open(tmp, "wb") as f:
        f.write(blob)
    try:
        x, sr = C.read_audio(tmp)
    finally:
        os.unlink(tmp)
    x = C.to_mono(x)
    if sr != SR:
        x = C.resample(x, sr, SR)
    return np.asarray(x, np.float64), sr, len(blob)


_HP = signal.butter(4, 20.0, btype="highpass", fs=SR, output="sos")


def process(t):
    x, native_sr, nbytes = decode_blob(t)
    if len(x) < SR // 2 or not np.any(x):
        C.atomic_write_json(sidecar_path(t), {"task_id": t["task_id"], "clips": [],
                                              "skipped": "shorter than 0.5 s or silent"})
        return 1
    x = signal.sosfilt(_HP, x)
    pieces = C.split_long(C.trim_silence(x, SR), SR, max_s=12.0, target_s=8.0, min_s=1.0)
    clips = []
    light = dict(floor_below_db=(70.0, 90.0), channel=False) if t["light"] else {}
    for k, (start, piece) in enumerate(pieces):
        clip_id = t["prefix"] + C.short_hash(t["task_id"], k, n=12)
        y, params = A.chain(piece, A.clip_rng(t["seed"], clip_id), **light)
        rel = os.path.join(t["out"], "clips", clip_id + ".wav")
        C.write_wav_atomic(C.data_path(rel), y)
        row = {k2: t[k2] for k2 in ("source", "repo", "commit", "path", "label", "family",
                                     "generator", "licence", "group", "split")}
        row.update(params, clip_id=clip_id, piece=k, piece_start_s=round(start / SR, 3),
                   native_rate_hz=native_sr, file_bytes=nbytes,
                   duration_s=round(len(y) / SR, 3), clip_path=rel)
        clips.append(row)
    C.atomic_write_json(sidecar_path(t), {"task_id": t["task_id"], "clips": clips})
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", action="append",
                    help="source table (repeatable; default sources.tsv, the shipped recipe's 23 pages; "
                         "add sources_more.tsv for the 31-page build)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--list", action="store_true", help="only count the files per row")
    ap.add_argument("--exclude-utterances", metavar="MANIFEST",
                    help="a TSV whose source_path/path columns name evaluation files: any file here with "
                         "the same utterance name (file name without extension) is kept out of every "
                         "split, so a recording shared by a demo page and an evaluation set can never "
                         "be trained on")
    ap.add_argument("--draw", type=int, default=0,
                    help="N > 0: another channel draw of the same files into data/neural_d<N>/ (clip ids "
                         "n<N>_...; same splits, new level, padding, noise floor and channel condition "
                         "per clip): more varied copies of the few genuine page recordings")
    ap.add_argument("--light", action="store_true",
                    help="the light chain into data/neural_light/ (clip ids nl_...): level and padding as "
                         "always, but a noise floor 70-90 dB under the speech instead of 35-65 and no "
                         "codec or other channel condition, so high-band artifacts stay audible")
    ap.add_argument("--splits", default="train,dev,eval",
                    help="extract only these splits (e.g. train for an extra --draw)")
    args = ap.parse_args()
    # data/<out>/ and clip-id prefix: "neural" and "n_", or "neural_d<N>" and "n<N>_" for --draw N
    out, prefix = (f"neural_d{args.draw}", f"n{args.draw}_") if args.draw > 0 else ("neural", "n_")
    if args.light:
        if args.draw:
            sys.exit("--light and --draw: choose one")
        out, prefix = "neural_light", "nl_"
    keep_splits = set(args.splits.split(","))

    held_out = set()
    if args.exclude_utterances:
        import csv
        with open(args.exclude_utterances) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                for col in ("source_path", "path"):
                    if r.get(col):
                        held_out.add(utterance(r[col].split(":")[-1]))
    tasks, seen, n_held_out = [], {}, 0
    tables = args.sources or [os.path.join(HERE, "sources.tsv")]
    for row in [r for path in tables for r in read_sources(path)]:
        if not os.path.isdir(mirror_dir(row["repo"])):
            C.log(STEP, f"missing mirror for {row['repo']} ({mirror_dir(row['repo'])}): skipped")
            continue
        try:
            files = list_files(row)
        except subprocess.CalledProcessError:
            C.log(STEP, f"{row['repo']}: commit {row['commit']} not in the mirror: skipped")
            continue
        C.log(STEP, f"{row['source']:16s} {row['label']:8s} {row['generator']:24s} {len(files):4d} files")
        for p in files:
            key = (row["repo"], p)
            if key in seen:
                sys.exit(f"{row['repo']}:{p} matched by two rows ({seen[key]} and {row['generator']})")
            seen[key] = row["generator"]
            group = group_of(row["source"], p)
            split = "excluded" if utterance(p) in held_out else split_of(group, args.seed)
            n_held_out += split == "excluded"
            if split not in keep_splits:
                continue
            tasks.append(dict(row, path=p, group=group, split=split, out=out, prefix=prefix,
                              light=args.light, seed=args.seed, task_id=C.short_hash(row["repo"], row["commit"], p, n=16)))
    n_b = sum(t["label"] == "bonafide" for t in tasks)
    if held_out:
        C.log(STEP, f"{n_held_out} files share an utterance name with "
                    f"{args.exclude_utterances}: kept out of every split")
    C.log(STEP, f"{len(tasks)} files ({n_b} bonafide, {len(tasks) - n_b} spoof) from "
                f"{len({t['source'] for t in tasks})} sources")
    if args.list:
        return
    C.clean_tmp_root()
    C.run_tasks(STEP, tasks, process, sidecar_path, jobs=args.jobs)
    rows = []
    split_now = {t["task_id"]: t["split"] for t in tasks}
    for side in C.gather_sidecars(sidecar_path(t) for t in tasks):
        for clip in side.get("clips", []):
            clip["split"] = split_now[side["task_id"]]  # the plan may have changed since extraction
            rows.append(clip)
    rows.sort(key=lambda r: r["clip_id"])
    cols = ["clip_id", "split", "label", "source", "family", "generator", "group", "repo", "commit",
            "path", "piece", "piece_start_s", "native_rate_hz", "file_bytes", "condition",
            "condition_params", "level_dbfs", "floor_dbfs", "lead_s", "trail_s", "duration_s",
            "licence", "clip_path"]
    C.write_tsv(C.data_path(out, "meta.tsv"), rows, cols)
    pdir = C.data_path(out, "protocols")
    C.ensure_dir(pdir)
    for split in ("train", "dev", "eval"):
        lines = [f"{r['source']} {r['clip_id']} - {r['generator']} {r['label']}"
                 for r in rows if r["split"] == split]
        C.atomic_write_text(os.path.join(pdir, f"{split}.txt"), "\n".join(lines) + "\n")
    C.prune(C.data_path(out, "clips"), {C.data_path(r["clip_path"]) for r in rows}, STEP)
    hours = {lab: sum(float(r["duration_s"]) for r in rows if r["label"] == lab) / 3600
             for lab in ("bonafide", "spoof")}
    C.log(STEP, f"wrote {out}/meta.tsv: {len(rows)} clips, bonafide {hours['bonafide']:.2f} h, "
                f"spoof {hours['spoof']:.2f} h")


if __name__ == "__main__":
    main()
