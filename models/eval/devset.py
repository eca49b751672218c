#!/usr/bin/python3
"""Evaluation on ../shared/devset (public real-world neural clones).

EVALUATION ONLY: nothing here may feed training, calibration or threshold
choice. Scores every clip through the C++ pipeline (`spoofctl score --json`)
and reports EER overall and per source repository, and the false-alarm /
miss rates at the model's own `balanced` threshold.

  devset.py --model models/spoofd-default.pt --out models/work/eval/devset.json

Next to the JSON it writes the per-file scores (devset.scores.txt, evaluate.py's
format) and the labels as an ASVspoof protocol (devset.protocol.txt), so two
models can be compared on the same clips with compare.py.
"""
import argparse
import collections
import csv
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402
from evaluate import run_spoofctl  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEVSET = ROOT.parent / "shared" / "devset"


def file_id(row):
    """A protocol-safe id for a manifest row: its path with the separators replaced."""
    return row["path"].replace("/", "__").replace(" ", "_")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--devset", default=str(DEVSET))
    p.add_argument("--out", required=True)
    args = p.parse_args()
    devset = pathlib.Path(args.devset)
    with open(devset / "manifest.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    files = [devset / r["path"] for r in rows]
    results = {r["file"]: r for r in run_spoofctl(args.model, files)}
    scored = []
    for row, path in zip(rows, files):
        r = results.get(str(path))
        if r is None or r.get("error") or r["decision"] == "inconclusive":
            continue
        scored.append({"id": file_id(row), "source": row["source_repo"], "generator": row["generator"],
                       "label": 1 if row["label"] == "spoof" else 0, "llr": r["llr"],
                       "decision": r["decision"]})
    labels = np.array([s["label"] for s in scored])
    llr = np.array([s["llr"] for s in scored])
    dec = np.array([s["decision"] == "synthetic" for s in scored])
    report = {"n_files": len(rows), "n_scored": len(scored), "overall": metrics.summary(llr, labels, llr),
              "false_alarm_rate_balanced": float(dec[labels == 0].mean()),
              "miss_rate_balanced": float((~dec[labels == 1]).mean()), "per_source": {}}
    by_source = collections.defaultdict(list)
    for s in scored:
        by_source[s["source"]].append(s)
    for source, members in sorted(by_source.items()):
        lab = np.array([m["label"] for m in members])
        ll = np.array([m["llr"] for m in members])
        d = np.array([m["decision"] == "synthetic" for m in members])
        entry = metrics.summary(ll, lab, ll)
        if (lab == 0).any():
            entry["false_alarm_rate_balanced"] = float(d[lab == 0].mean())
        if (lab == 1).any():
            entry["miss_rate_balanced"] = float((~d[lab == 1]).mean())
        report["per_source"][source] = entry
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=1))
    stem = str(pathlib.Path(args.out).with_suffix(""))
    pathlib.Path(stem + ".scores.txt").write_text(
        "".join(f"{s['id']} {s['llr']:.5f} {s['llr']:.5f}\n" for s in scored))
    pathlib.Path(stem + ".protocol.txt").write_text("".join(
        f"{row['source_repo'].replace('/', '_')} {file_id(row)} - {row['generator'] or '-'} "
        f"{'spoof' if row['label'] == 'spoof' else 'bonafide'}\n" for row in rows))
    o = report["overall"]
    print(f"devset: {len(scored)}/{len(rows)} scored, EER {100 * o['eer']:.2f}%, "
          f"false alarms {100 * report['false_alarm_rate_balanced']:.1f}%, "
          f"misses {100 * report['miss_rate_balanced']:.1f}% at balanced")
    for source, e in report["per_source"].items():
        print(f"  {source:45s} " + (f"EER {100 * e['eer']:.1f}%" if "eer" in e else "") +
              f" n={e['n_bonafide']}+{e['n_spoof']}")


if __name__ == "__main__":
    main()
