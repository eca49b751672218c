#!/usr/bin/python3
"""The shipped-model checks of tests/models/default_model_test.cc, for any model
file, before it is shipped: pairwise AUC of the bundled genuine and synthetic
clips (the test asks for >= 0.8), and the partial fake's timeline (every segment
without synthetic speech below the balanced threshold, the one holding the most
above it). Prints one report and exits 0; the C++ test stays the gate.

  samples.py --model models/work/runs/r1/model.pt
"""
import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from evaluate import run_spoofctl  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--samples", default=str(ROOT / "samples"))
    args = p.parse_args()
    samples = pathlib.Path(args.samples)
    names = sorted(f.name for f in samples.glob("*.wav"))
    results = {pathlib.Path(r["file"]).name: r for r in run_spoofctl(args.model, [samples / n for n in names])}
    g = [results[n]["llr"] for n in names if n.startswith("genuine_")]
    s = [results[n]["llr"] for n in names if n.startswith("synthetic_")]
    auc = sum(x > y for x in s for y in g) / (len(s) * len(g))
    for n in names:
        r = results[n]
        print(f"{n}: llr {r.get('llr', float('nan')):.2f} {r.get('decision', r.get('error'))}")
    print(f"bundled AUC {auc:.2f} (test: >= 0.8); mean LLR synthetic - genuine {sum(s) / len(s) - sum(g) / len(g):.2f}")
    start, end = (float(v) for v in (samples / "partial_fake_librivox.txt").read_text().split())
    r = results["partial_fake_librivox.wav"]
    flagged, most = 0, (0.0, None)
    for seg in r["segments"]:
        overlap = max(0.0, min(seg["end_s"], end) - max(seg["start_s"], start))
        mark = "synthetic" if overlap > 0 else ("FLAGGED" if seg["llr"] >= r["threshold"] else "ok")
        flagged += overlap == 0 and seg["llr"] >= r["threshold"]
        if overlap > most[0]:
            most = (overlap, seg)
        print(f"  partial fake {seg['start_s']:5.1f}-{seg['end_s']:5.1f} s llr {seg['llr']:6.2f} {mark}")
    located = most[1] is not None and most[1]["llr"] > r["threshold"]
    print(f"partial fake: threshold {r['threshold']:.2f}, genuine segments flagged {flagged}, "
          f"synthetic segment {'above' if located else 'NOT above'} the threshold -> "
          f"{'passes' if located and not flagged else 'fails'} the localisation test")
    print(json.dumps({"bundled_auc": auc, "partial_flagged": flagged, "partial_located": located}))


if __name__ == "__main__":
    main()
