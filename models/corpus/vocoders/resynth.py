#!/usr/bin/python3
"""Copy-synthesis with the vocoders trained here: genuine corpus clips are turned
into mel spectrograms and back into speech by every kept generator checkpoint.

A copy differs from its genuine original only in the vocoder (the pairing of
Wang & Yamagishi, ICASSP 2023, arXiv 2210.10570): the copy is made from the
genuine recording before the channel chain, given the original's native channel
(sample rate, codec, bandwidth: channel.match_native), and then passed through the
channel chain with the SAME random draws as its genuine original (same level,
padding, noise floor and channel condition). Each copy keeps its original's split,
so held-out speakers stay held out.

  resynth.py --vocoders models/work/vocoders --per-split train=120,dev=30,eval=30

Output: data/vocoded/clips/<clip_id>.wav, data/vocoded/meta.tsv and ASVspoof
protocols data/vocoded/protocols/{train,dev,eval}.txt (SYSTEM_ID voc-<kind>-<step>).
Resumable (one sidecar per copy); each checkpoint draws its own genuine clips.

  resynth.py --vocoders models/work/vocoders_gpu --name vocoded_gpu --tag gpu ...

writes another set (data/vocoded_gpu, SYSTEM_ID voc-gpu-<kind>-<step>) from other
vocoders, e.g. the ones trained on the lent GPU (gpu_train.sh), without touching the
first set.
"""
import argparse
import os
import pathlib
import re
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import augment as A  # noqa: E402
import channel as CH  # noqa: E402
import common as C  # noqa: E402
import nets  # noqa: E402

_GEN = {}
_MEL = nets.LogMel()


def checkpoints(root):
    out = []
    for kind_dir in sorted(pathlib.Path(root).iterdir()):
        if not kind_dir.is_dir():
            continue
        for f in sorted(kind_dir.glob("g_*.pt")):
            m = re.match(r"g_(\d+)\.pt$", f.name)
            if m:
                out.append((kind_dir.name, int(m.group(1)), f))
    return out


def generator(kind, path):
    key = str(path)
    if key not in _GEN:
        g = nets.make_generator(kind)
        g.load_state_dict(torch.load(path, map_location="cpu"))
        g.eval()
        _GEN.clear()  # one generator in memory at a time (tasks are sorted by checkpoint)
        _GEN[key] = g
    return _GEN[key]


def sidecar_path(t):
    return C.data_path(t["set"], "_done", t["clip_id"][:10], t["clip_id"] + ".json")


@torch.no_grad()
def copy_synthesis(kind, ckpt, x):
    """x (16 kHz) -> mel spectrogram -> waveform by one checkpoint, at x's level; at most
    len(x) samples. Also used by extract_games.py for the game lines' copies."""
    x = np.asarray(x, np.float32)
    peak = float(np.max(np.abs(x))) + 1e-6
    wav = torch.from_numpy(x / peak * 0.9)[None]
    return generator(kind, ckpt)(_MEL(wav))[0].numpy()[: len(x)] * (peak / 0.9)


def process(t):
    x, sr = C.read_audio(C.data_path(t["in_path"]))
    if sr != nets.SR:
        x = C.resample(x, sr, nets.SR)
    y = copy_synthesis(t["kind"], t["ckpt"], x)
    rng_native = C.stable_rng(t["seed"], "vocoded-native", t["clip_id"])
    y, native = CH.match_native(y, t["native_rate_hz"], t["native_codec"], t["bandwidth_hz"], rng_native)
    # Same chain draws as the genuine original: seeded by the ORIGINAL clip id.
    y, info = A.chain(y, A.clip_rng(t["corpus_seed"], t["source_clip_id"]))
    rel = os.path.join(t["set"], "clips", t["clip_id"] + ".wav")
    C.write_wav_atomic(C.data_path(rel), y)
    row = {k: t[k] for k in ("clip_id", "split", "speaker", "source", "language", "source_clip_id",
                             "generator", "kind", "step")}
    row.update(info, label="spoof", family="own_" + t["kind"] + "_vocoder", native_match=native,
               duration_s=round(len(y) / nets.SR, 3), path=rel)
    C.atomic_write_json(sidecar_path(t), row)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocoders", default="models/work/vocoders")
    ap.add_argument("--per-split", default="train=120,dev=30,eval=30",
                    help="genuine clips copied per checkpoint and split")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--name", default="vocoded", help="output set (folder under data/)")
    ap.add_argument("--tag", default="", help="prefix of the generator names and clip ids")
    args = ap.parse_args()
    out_set = args.name
    tag = args.tag + "-" if args.tag else ""           # in generator names: voc-gpu-...
    id_tag = args.tag + "_" if args.tag else ""        # in clip ids: v_gpu_...
    torch.set_num_threads(1)
    cfg = C.load_config()
    per = {k: int(v) for k, v in (kv.split("=") for kv in args.per_split.split(","))}
    proto = {r["clip_id"]: r for r in C.read_tsv(C.data_path("protocols", "meta.tsv"))}
    clips = [r for r in C.read_tsv(C.data_path("clips", "meta.tsv"))
             if r["label"] == "bonafide" and r["clip_id"] in proto and float(r["orig_duration_s"]) >= 1.5]
    tasks = []
    for kind, step, path in checkpoints(args.vocoders):
        name = f"voc-{tag}{kind}-{step}"
        for split, n in per.items():
            pool = [r for r in clips if proto[r["clip_id"]]["split"] == split]
            pool.sort(key=lambda r: C.stable_hash(name, r["clip_id"]))
            for r in pool[:n]:
                tasks.append(dict(clip_id=f"v_{id_tag}{kind}_{step}_{r['clip_id']}", kind=kind, step=step,
                                  ckpt=str(path), generator=name, split=split, speaker=r["speaker"],
                                  source=r["source"], language=r["language"], source_clip_id=r["clip_id"],
                                  in_path=r["in_path"], native_rate_hz=r["native_rate_hz"],
                                  native_codec=r["native_codec"], bandwidth_hz=r["bandwidth_hz"],
                                  seed=cfg["seed"], corpus_seed=cfg["seed"], set=out_set))
    C.log(out_set, f"{len(tasks)} copies from {len(checkpoints(args.vocoders))} checkpoints")
    C.run_tasks(out_set, tasks, process, sidecar_path, jobs=args.jobs)
    rows = sorted(C.gather_sidecars(sidecar_path(t) for t in tasks), key=lambda r: r["clip_id"])
    cols = ["clip_id", "split", "label", "generator", "family", "kind", "step", "speaker", "source",
            "language", "source_clip_id", "native_match", "condition", "condition_params",
            "level_dbfs", "floor_dbfs", "lead_s", "trail_s", "duration_s", "path"]
    C.write_tsv(C.data_path(out_set, "meta.tsv"), rows, cols)
    pdir = C.data_path(out_set, "protocols")
    C.ensure_dir(pdir)
    for split in ("train", "dev", "eval"):
        lines = [f"{r['speaker']} {r['clip_id']} - {r['generator']} spoof" for r in rows if r["split"] == split]
        C.atomic_write_text(os.path.join(pdir, f"{split}.txt"), "\n".join(lines) + "\n")
    C.log(out_set, f"wrote {out_set}/meta.tsv: {len(rows)} copies, "
                f"{sum(float(r['duration_s']) for r in rows) / 3600:.2f} h")


if __name__ == "__main__":
    main()
