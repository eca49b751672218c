#!/usr/bin/python3
"""How well a model separates its own training clips, generator by generator.

A detector that cannot separate a generator's *training* clips from genuine
training speech has not learnt that generator at all; its eval EER there says
nothing about generalisation. This draws up to --per-generator synthetic clips of
every generator and --genuine genuine clips from a training protocol (a fixed
seed, so two models see the same files), scores them through the C++ pipeline
(evaluate.py's spoofctl runner, cached per model) and prints each generator's EER
against the drawn genuine clips, worst first.

  train_fit.py --model models/work/runs/g3r/model.pt \
      --protocol models/corpus/data/protocols/train.txt \
      --audio-dir models/corpus/data/clips --out models/work/fit_g3r

Writes OUT/fit.json ({generator: {n_spoof, eer}}, the genuine count and the
pooled EER) and OUT/fit.scores.txt.
"""
import argparse
import hashlib
import json
import pathlib
import random
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402
import score as score_file  # noqa: E402
from evaluate import score_protocol  # noqa: E402


def draw(protocol, per_generator, n_genuine, seed):
    """[(file_id, system, label)] with at most per_generator clips of each spoof
    system and n_genuine bonafide clips, the same draw for the same arguments."""
    by_system, genuine = {}, []
    for key in score_file.read_keys(protocol):
        if key[2] == 0:
            genuine.append(key)
        else:
            by_system.setdefault(key[1], []).append(key)
    rng = random.Random(seed)
    picked = []
    for system in sorted(by_system):
        clips = sorted(by_system[system])
        rng.shuffle(clips)
        picked += clips[:per_generator]
    genuine.sort()
    rng.shuffle(genuine)
    return picked + genuine[:n_genuine]


def _eer(bona, spoof):
    scores = np.concatenate([bona, spoof])
    labels = np.concatenate([np.zeros(len(bona)), np.ones(len(spoof))])
    return metrics.eer(scores, labels)[0]


def fit_table(keys, results):
    """{system: {n_spoof, eer}} of each spoof system against all drawn genuine clips,
    plus the pooled EER; files that could not be scored are left out."""
    def ok(fid):
        r = results.get(fid)
        return r is not None and r.get("llr") is not None
    bona = np.array([results[f]["llr"] for f, _, y in keys if y == 0 and ok(f)])
    table = {}
    for system in sorted({s for _, s, y in keys if y == 1}):
        spoof = np.array([results[f]["llr"] for f, s, y in keys if s == system and ok(f)])
        if len(spoof) and len(bona):
            table[system] = {"n_spoof": int(len(spoof)), "eer": _eer(bona, spoof)}
    every = np.array([results[f]["llr"] for f, _, y in keys if y == 1 and ok(f)])
    pooled = _eer(bona, every) if len(every) and len(bona) else float("nan")
    return {"n_genuine": int(len(bona)), "pooled_eer": pooled, "generators": table}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--protocol", required=True, help="training protocol (ASVspoof format)")
    p.add_argument("--audio-dir", required=True)
    p.add_argument("--audio-ext", default=".wav")
    p.add_argument("--out", required=True)
    p.add_argument("--per-generator", type=int, default=80)
    p.add_argument("--genuine", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keys = draw(args.protocol, args.per_generator, args.genuine, args.seed)
    sha = hashlib.sha256(pathlib.Path(args.model).read_bytes()).hexdigest()[:12]
    results = score_protocol(args.model, keys, args.audio_dir, args.audio_ext, out / f"fit-{sha}.jsonl")
    with open(out / "fit.scores.txt", "w") as f:
        for fid, _, _ in keys:
            r = results.get(fid, {})
            if r.get("llr") is not None:
                f.write(f"{fid} {r['llr']:.5f}\n")
    table = fit_table(keys, results)
    (out / "fit.json").write_text(json.dumps(table, indent=1))
    print(f"training clips: {table['n_genuine']} genuine, pooled EER {100 * table['pooled_eer']:.2f}%")
    for system, row in sorted(table["generators"].items(), key=lambda kv: -kv[1]["eer"]):
        print(f"  {system:24s} {row['n_spoof']:5d} synthetic  EER {100 * row['eer']:6.2f}%")


if __name__ == "__main__":
    main()
