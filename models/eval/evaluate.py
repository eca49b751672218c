#!/usr/bin/python3
"""File-level evaluation through the C++ pipeline, exactly as the service scores.

Runs `spoofctl score --json --model MODEL` over every file of a protocol (many
files per process), writes a score file (`FILE_ID SCORE LLR`), and reports
EER / minDCF / actDCF / Cllr overall, per generator, per family, per channel
condition and per genuine source, plus the false-alarm rate on genuine speech at
the model's `balanced` threshold. Results are cached per model sha256, so a rerun
only scores what is missing.

  evaluate.py --model models/spoofd-default.pt --protocol .../eval.txt \
      --audio-dir .../clips --meta .../meta.tsv --out models/work/eval/default
"""
import argparse
import collections
import csv
import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402
import score as score_file  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPOOFCTL = ROOT / "build" / "bin" / "spoofctl"


def run_spoofctl(model, files, extra=(), chunk=400):
    """Yields one parsed JSON result per file (errors included)."""
    for i in range(0, len(files), chunk):
        part = [str(f) for f in files[i:i + chunk]]
        proc = subprocess.run([str(SPOOFCTL), "score", "--json", "--model", str(model), *extra, *part],
                              capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            sys.exit(f"spoofctl score failed ({proc.returncode}): {proc.stderr[-500:]}")
        for line in proc.stdout.splitlines():
            yield json.loads(line)
        print(f"  scored {min(i + chunk, len(files))}/{len(files)}", flush=True)


def score_protocol(model, keys, audio_dir, ext, cache_path):
    """Returns {file_id: result dict}; cached in a JSONL file next to the outputs."""
    cache = {}
    if cache_path.exists():
        for line in cache_path.read_text().splitlines():
            r = json.loads(line)
            cache[r["file_id"]] = r
    todo = [k for k in keys if k[0] not in cache]
    if todo:
        files = [pathlib.Path(audio_dir) / (fid + ext) for fid, _, _ in todo]
        by_path = {str(f): fid for f, (fid, _, _) in zip(files, todo)}
        with open(cache_path, "a") as out:
            for r in run_spoofctl(model, files):
                r["file_id"] = by_path[r["file"]]
                slim = {k: r.get(k) for k in ("file_id", "llr", "score", "decision", "reason", "error",
                                              "duration_s", "speech_s", "max_segment_llr")}
                slim["segment_llrs"] = [s["llr"] for s in r.get("segments", [])]
                out.write(json.dumps(slim) + "\n")
                cache[slim["file_id"]] = slim
    return cache


def read_meta(path):
    if not path or not pathlib.Path(path).exists():
        return {}
    with open(path) as f:
        return {row["clip_id"]: row for row in csv.DictReader(f, delimiter="\t")}


def group_table(rows, column, meta, by_label_too=False):
    """EER of each group's spoof against all bonafide (generator, family), or of
    the group's bonafide + spoof together (condition, source) when by_label_too."""
    out = {}
    bona = [r for r in rows if r["label"] == 0]
    groups = collections.defaultdict(list)
    for r in rows:
        g = meta.get(r["file_id"], {}).get(column) or r.get(column) or "-"
        groups[g].append(r)
    for g, members in sorted(groups.items()):
        if by_label_too:
            sel = members
        else:
            spoof = [r for r in members if r["label"] == 1]
            if not spoof:
                continue
            sel = bona + spoof
        labels = np.array([r["label"] for r in sel])
        llr = np.array([r["llr"] for r in sel])
        m = metrics.summary(llr, labels, llr)
        m["hours"] = sum(r["duration_s"] for r in members) / 3600
        out[g] = m
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--protocol", required=True)
    p.add_argument("--audio-dir", required=True)
    p.add_argument("--audio-ext", default=".wav")
    p.add_argument("--meta", help="corpus meta.tsv (generator, family, condition, source columns)")
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="eval")
    args = p.parse_args()

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(pathlib.Path(args.model).read_bytes()).hexdigest()[:12]
    keys = score_file.read_keys(args.protocol)
    results = score_protocol(args.model, keys, args.audio_dir, args.audio_ext,
                             out / f"{args.name}-{digest}.jsonl")
    meta = read_meta(args.meta)

    rows, errors, inconclusive = [], [], 0
    for fid, system, label in keys:
        r = results.get(fid)
        if r is None or r.get("error"):
            errors.append(fid)
            continue
        if r["decision"] == "inconclusive":
            inconclusive += 1
            continue
        rows.append({"file_id": fid, "system": system, "label": label, "llr": r["llr"],
                     "duration_s": r["duration_s"], "decision": r["decision"]})
    with open(out / f"{args.name}.scores.txt", "w") as f:
        for r in rows:
            f.write(f"{r['file_id']} {r['llr']:.5f} {r['llr']:.5f}\n")

    labels = np.array([r["label"] for r in rows])
    llr = np.array([r["llr"] for r in rows])
    overall = metrics.summary(llr, labels, llr)
    decisions = np.array([r["decision"] == "synthetic" for r in rows])
    overall["false_alarm_rate_balanced"] = float(decisions[labels == 0].mean()) if (labels == 0).any() else None
    overall["miss_rate_balanced"] = float((~decisions[labels == 1]).mean()) if (labels == 1).any() else None
    overall["errors"] = len(errors)
    overall["inconclusive"] = inconclusive
    if "eer" in overall:
        overall["eer_interval95"] = metrics.eer_interval(llr, labels)
    for r in rows:
        r["generator"] = r["system"]
    report = {
        "model_sha256_prefix": digest,
        "overall": overall,
        "per_generator": group_table(rows, "generator", meta),
        "per_family": group_table(rows, "family", meta),
        "per_condition": group_table(rows, "condition", meta, by_label_too=True),
        "per_source": group_table(rows, "source", meta, by_label_too=True),
    }
    # False alarms per genuine source at the balanced threshold.
    fa = collections.defaultdict(list)
    for r in rows:
        if r["label"] == 0:
            fa[meta.get(r["file_id"], {}).get("source", "-")].append(r["decision"] == "synthetic")
    report["false_alarms_by_genuine_source"] = {k: {"rate": float(np.mean(v)), "n": len(v)}
                                                for k, v in sorted(fa.items())}
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    score_file.plot_det({args.name: (llr, labels)}, out / f"{args.name}.det.png")
    lo, hi = overall.get("eer_interval95", (float("nan"), float("nan")))
    print(f"{args.name}: {len(rows)} files ({len(errors)} errors, {inconclusive} inconclusive): "
          f"EER {100 * overall.get('eer', float('nan')):.2f}% (95% interval {100 * lo:.1f}-{100 * hi:.1f}%), "
          f"minDCF {overall.get('min_dcf', float('nan')):.4f}, "
          f"actDCF {overall['act_dcf']:.4f}, Cllr {overall['cllr']:.4f}, "
          f"false alarms at balanced {100 * (overall['false_alarm_rate_balanced'] or 0):.2f}%")


if __name__ == "__main__":
    main()
