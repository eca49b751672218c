#!/usr/bin/python3
"""Leave-one-source-out over the fetched neural sources (grouped into folds).

Each fold holds out a few whole sources (every split of them) and trains a reduced
detector on the Debian corpus, the remaining neural sources and (if present) the
vocoder copies; the held-out sources' synthetic clips are then scored against
genuine speech the run never saw: the held-out sources' own ground truth plus the
eval-split genuine clips of all other sources (a fixed reference set). Sources are
dealt into folds round-robin by size, so every fold is about equally large; one
training run per source would take a day on 2 cores.

  loso.py --folds 6 --epochs 3 --steps 200 --out models/results/loso.json

Resumable: each fold's run folder resumes, finished folds are skipped.
"""
import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "train"))
sys.path.insert(0, str(ROOT / "models" / "eval"))
sys.path.insert(0, str(ROOT / "models" / "corpus"))
import common as C  # noqa: E402
import data  # noqa: E402
import extras  # noqa: E402
import metrics  # noqa: E402
import model as nets  # noqa: E402
from train import score_clips  # noqa: E402

CORPUS = ROOT / "models" / "corpus" / "data"


def line(r):
    return f"{r['source']} {r['clip_id']} - {r['generator']} {r['label']}"


def folds_of(rows, k):
    size = {}
    for r in rows:
        size[r["source"]] = size.get(r["source"], 0) + 1
    order = sorted(size, key=lambda s: (-size[s], s))
    folds = [[] for _ in range(k)]
    for i, s in enumerate(order):
        folds[i % k if (i // k) % 2 == 0 else k - 1 - i % k].append(s)
    return folds


def other_sets():
    """The shipped recipe's training sets other than the pages (models/train/extras.tsv:
    the vocoder copies, the game lines), which every fold keeps: [(name, folder, weight)]."""
    return [(n, f, w) for n, f, w in extras.extra_sets()
            if not f.startswith("neural") and (CORPUS / f / "protocols" / "train.txt").exists()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--features", default=str(ROOT / "models/train/configs/lfcc60.json"))
    ap.add_argument("--work", default=str(ROOT / "models/work/loso"))
    ap.add_argument("--out", default=str(ROOT / "models/results/loso.json"))
    ap.add_argument("--only", type=int, action="append", help="run only these fold numbers")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", help="start every fold from this run's weights; it must not have seen "
                                   "any neural source (e.g. the Debian-only run)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--draws", type=int, default=0,
                    help="also train on channel draws 1..N of the kept sources (data/neural_d<N>, made by "
                         "extract_neural.py --draw N), as the shipped recipe does")
    ap.add_argument("--neural-weight", type=float, default=0.7,
                    help="sampling weight of the neural pages, split evenly over the draws")
    ap.add_argument("--parallel", type=int, default=1, help="folds trained at the same time")
    ap.add_argument("--average-from", type=int, default=0,
                    help="train.py --average-from (the shipped recipe: 7; 0 = the best dev epoch)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--feature-dtype", choices=("float32", "float16"), default="float32",
                    help="passed to train.py (float16 for wide front-ends)")
    ap.add_argument("--exclude-system", action="append", default=[], metavar="SYSTEM",
                    help="passed to train.py: a Debian-corpus generator kept out of every fold's "
                         "training (the shipped recipe: TRAIN_EXCLUDE in models/train/extras.sh)")
    ap.add_argument("--segment-frames", type=int, default=400,
                    help="passed to train.py: frames per training segment (the shipped recipe: 400 = 4 s)")
    ap.add_argument("--batch", type=int, default=32, help="passed to train.py")
    ap.add_argument("--sam", type=float, default=0.0, metavar="RHO",
                    help="passed to train.py: sharpness-aware minimisation (0: off, the shipped recipe)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = C.read_tsv(CORPUS / "neural" / "meta.tsv")
    folds = folds_of(rows, args.folds)
    work = pathlib.Path(args.work)
    results = {}
    out = pathlib.Path(args.out)
    if out.exists():
        results = json.loads(out.read_text()).get("sources", {})
    draws = {n: C.read_tsv(CORPUS / f"neural_d{n}" / "meta.tsv") for n in range(1, args.draws + 1)}
    w = args.neural_weight / (1 + args.draws)
    others = other_sets()
    pending, todo = [], []

    def finish():
        """Waits for the folds in training, then scores every fold waiting to be scored."""
        for proc in pending:
            if proc.wait() != 0:
                sys.exit(f"loso: a fold's training failed (exit {proc.returncode})")
        for fold in todo:
            results.update(score_fold(args, *fold))
            write_summary(args, results, out, others)
        pending.clear()
        todo.clear()

    for k, held in enumerate(folds):
        if args.only and k not in args.only:
            continue
        fdir = work / f"fold{k}"
        keep = [r for r in rows if r["source"] not in held]
        write_train_dev(fdir, keep)
        test = [r for r in rows if r["source"] in held]
        reference = [r for r in keep if r["split"] == "eval" and r["label"] == "bonafide"]
        (fdir / "eval.txt").write_text("".join(line(r) + "\n" for r in test + reference))
        run = fdir / "run"
        cmd = [sys.executable, str(ROOT / "models/train/train.py"), "--run", str(run),
               "--features", args.features, "--protocols", str(CORPUS / "protocols"),
               "--audio-dir", str(CORPUS / "clips"), "--epochs", str(args.epochs),
               "--steps-per-epoch", str(args.steps), "--threads", str(args.threads),
               "--extra", f"neural:{fdir}:{CORPUS / 'neural' / 'clips'}:{w}", "--splice-prob", "0.2",
               "--lr", str(args.lr), "--average-from", str(args.average_from), "--seed", str(args.seed),
               "--feature-dtype", args.feature_dtype]
        for n, drows in draws.items():
            ddir = fdir / f"draw{n}"
            write_train_dev(ddir, [r for r in drows if r["source"] not in held])
            cmd += ["--extra", f"neural{n}:{ddir}:{CORPUS / f'neural_d{n}' / 'clips'}:{w}"]
        for s in args.exclude_system:
            cmd += ["--exclude-system", s]
        if args.init:
            cmd += ["--init", args.init]
        if args.sam > 0:
            cmd += ["--sam", str(args.sam)]
        if args.segment_frames != 400 or args.batch != 32:
            cmd += ["--segment-frames", str(args.segment_frames), "--batch", str(args.batch)]
        for name, folder, weight in others:
            cmd += ["--extra", f"{name}:{CORPUS / folder / 'protocols'}:{CORPUS / folder / 'clips'}:{weight}"]
        if not (run / "history.json").exists():
            print(f"fold {k}: holding out {held}", flush=True)
            pending.append(subprocess.Popen(cmd))
        todo.append((k, held, fdir, run, reference))
        if len(pending) >= args.parallel:
            finish()
    finish()
    if results:
        print(f"mean EER {100 * np.mean([v['eer'] for v in results.values()]):.1f}% over {len(results)} sources")


def write_train_dev(folder, rows):
    """train.txt and dev.txt of `rows` (a fold's kept sources) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        (folder / f"{split}.txt").write_text("".join(line(r) + "\n" for r in rows if r["split"] == split))


def score_fold(args, k, held, fdir, run, reference):
    """EER of each held-out source against its own and the reference genuine clips."""
    results = {}
    model, st = nets.load_run(run)
    items = data.read_protocol(fdir / "eval.txt", CORPUS / "neural" / "clips")
    paths = data.cache_features(items, args.features, ROOT / "models/work/features")
    items, feats = data.load_features(items, paths, min_frames=1)
    scores = score_clips(model, feats, st["segment_frames"])
    labels = np.array([it.label for it in items])
    src = np.array([it.speaker for it in items])
    ref_ids = {r["clip_id"] for r in reference}
    ref = np.array([it.file_id in ref_ids for it in items])
    for s in held:
        sel = (src == s) | ref
        spoof = (src == s) & (labels == 1)
        if spoof.sum() == 0:
            continue
        e, _ = metrics.eer(scores[sel], labels[sel])
        own_bona = int(((src == s) & (labels == 0)).sum())
        results[s] = {"fold": k, "eer": float(e), "spoof_clips": int(spoof.sum()),
                      "own_bonafide_clips": own_bona, "reference_bonafide_clips": int(ref.sum()),
                      "held_out_with": held}
        print(f"fold {k} {s:18s} EER {100 * e:5.1f}% ({int(spoof.sum())} spoof, {own_bona} own genuine)",
              flush=True)
    return results


def write_summary(args, results, out, others):
    summary = {"sources": results,
               "mean_eer": float(np.mean([v["eer"] for v in results.values()])),
               "worst": max(results, key=lambda s: results[s]["eer"]),
               "settings": {"folds": args.folds, "epochs": args.epochs, "steps": args.steps,
                            "init": args.init, "draws": args.draws, "neural_weight": args.neural_weight,
                            "other_sets": {n: float(w) for n, _, w in others},
                            "average_from": args.average_from, "seed": args.seed,
                            "excluded_systems": args.exclude_system,
                            **({"sam": args.sam} if args.sam > 0 else {}),
                            **({"segment_frames": args.segment_frames, "batch": args.batch}
                               if args.segment_frames != 400 or args.batch != 32 else {}),
                            "features": pathlib.Path(args.features).name}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
