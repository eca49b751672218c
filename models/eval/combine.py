#!/usr/bin/python3
"""Merges several (protocol, audio folder, meta.tsv) sets into one evaluation set:
a folder of symbolic links, one protocol and one meta.tsv, so evaluate.py can
score, for example, the vocoder copies against the genuine clips they came from.

  combine.py --out models/work/combined/vocoded \
      --set models/corpus/data/vocoded/protocols/eval.txt:models/corpus/data/vocoded/clips:models/corpus/data/vocoded/meta.tsv:spoof \
      --set models/corpus/data/protocols/eval.txt:models/corpus/data/clips:models/corpus/data/protocols/meta.tsv:bonafide

The optional fourth field keeps only that label from the set.
"""
import argparse
import csv
import os
import pathlib


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", required=True, metavar="PROTOCOL:AUDIO:META[:LABEL]")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    clips = out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    lines, meta_rows, columns = [], [], []
    for spec in args.set:
        parts = spec.split(":")
        protocol, audio, meta = pathlib.Path(parts[0]), pathlib.Path(parts[1]), pathlib.Path(parts[2])
        only = parts[3] if len(parts) > 3 else None
        with open(meta) as f:
            rows = {r["clip_id"]: r for r in csv.DictReader(f, delimiter="\t")}
        for line in protocol.read_text().splitlines():
            cols = line.split()
            if len(cols) < 5 or (only and cols[4] != only):
                continue
            link = clips / (cols[1] + ".wav")
            if not link.exists():
                os.symlink(os.path.abspath(audio / (cols[1] + ".wav")), link)
            lines.append(line)
            r = rows.get(cols[1])
            if r:
                meta_rows.append(r)
                columns += [c for c in r if c not in columns]
    (out / "eval.txt").write_text("\n".join(lines) + "\n")
    with open(out / "meta.tsv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, delimiter="\t", restval="", extrasaction="ignore")
        w.writeheader()
        w.writerows(meta_rows)
    print(f"{out}: {len(lines)} files")


if __name__ == "__main__":
    main()
