#!/usr/bin/python3
"""Writes the genuine partner of every synthetic clip that has one, for paired
training (train.py --pairs).

A pair is a synthetic clip and a genuine recording of the same speaker saying
the same words, so the two differ mainly in how the waveform was made:
- Debian corpus resynthesis (SPTK, LPC, codec2, Griffin-Lim, LPC-10): the
  synthetic clip's `source_clip_id` in protocols/meta.tsv;
- copies by the vocoders trained here: `source_clip_id` in vocoded/meta.tsv;
- fetched demo pages: genuine clips of the same utterance group on the same page
  and in the same split (neural/meta.tsv `group`), e.g. a vocoder column and the
  page's ground truth. A synthetic clip may have several partners (one row each).

Output: TSV `spoof_id<TAB>bonafide_id`, one row per pair. Clips are named by
their file ids, as in the protocols; a missing meta file is skipped.

  pairs.py --out models/work/pairs.tsv \
      --corpus-meta models/corpus/data/protocols/meta.tsv \
      --vocoded-meta models/corpus/data/vocoded/meta.tsv \
      --neural-meta models/corpus/data/neural/meta.tsv
"""
import argparse
import collections
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "corpus"))
import common as C  # noqa: E402


def read(path):
    """Rows of a meta TSV; none when the path is not given or the file is absent."""
    return C.read_tsv(path) if path and os.path.exists(path) else []


def source_pairs(rows, genuine_ids):
    """(spoof, bonafide) from a source_clip_id column whose target is a known genuine clip."""
    return [(r["clip_id"], r["source_clip_id"]) for r in rows
            if r.get("label", "spoof") == "spoof" and r.get("source_clip_id") in genuine_ids]


def group_pairs(rows):
    """(spoof, bonafide) for every genuine clip of the same group and split."""
    bona = collections.defaultdict(list)
    for r in rows:
        if r["label"] == "bonafide":
            bona[(r["split"], r["group"])].append(r["clip_id"])
    return [(r["clip_id"], b) for r in rows if r["label"] == "spoof"
            for b in bona.get((r["split"], r["group"]), [])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus-meta", help="protocols/meta.tsv of the Debian corpus")
    ap.add_argument("--vocoded-meta", help="vocoded/meta.tsv (copies by the vocoders trained here)")
    ap.add_argument("--neural-meta", action="append", default=[],
                    help="neural/meta.tsv (fetched demo pages); repeat for extra channel draws "
                         "(neural_d<N>/meta.tsv), each paired within itself")
    args = ap.parse_args()

    corpus = read(args.corpus_meta)
    genuine = {r["clip_id"] for r in corpus if r["label"] == "bonafide"}
    found = {"corpus": source_pairs(corpus, genuine),
             "vocoded": source_pairs(read(args.vocoded_meta), genuine),
             "neural": [p for m in args.neural_meta for p in group_pairs(read(m))]}
    rows = [p for ps in found.values() for p in ps]
    if not rows:
        sys.exit("pairs.py: no pairs found (check the meta paths)")
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(f"{s}\t{b}\n" for s, b in rows))
    os.replace(tmp, args.out)
    print(" ".join(f"{k} {len(v)}" for k, v in found.items()) + f" -> {args.out}")


if __name__ == "__main__":
    main()
