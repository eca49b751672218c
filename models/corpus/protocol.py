#!/usr/bin/python3
"""Step 4: speaker- and text-disjoint splits and ASVspoof-format protocols.

Reads data/clips/meta.tsv, places every clip with splits.py and writes
  data/protocols/{train,dev,eval}.txt   lines: SPEAKER CLIP_ID - SYSTEM_ID LABEL
      SPEAKER = genuine speaker group (bonafide and resynthesised clips), the group a
      TTS voice was built from (derived_from), else tts_<generator>;
      SYSTEM_ID = generator name, '-' for bonafide; LABEL = bonafide | spoof
  data/protocols/meta.tsv              every clip, one row, all columns
  data/protocols/logo/<family>/{train,dev,eval}.txt
      leave-one-family-out: train/dev = the normal lists without that family's spoof;
      eval = that family's spoof from ANY split (the family is unseen in training
      either way) + the eval bonafide clips.
  data/protocols/dropped.tsv           clips left out because their speaker's split
      and their text's split disagree (a sentence said by speakers in two splits).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import splits as S  # noqa: E402

STEP = "protocol"

META_COLUMNS = ["clip_id", "split", "label", "speaker", "source", "language", "text_id",
                "generator", "family", "kind", "condition", "duration_s", "native_rate_hz",
                # extras
                "group", "derived_from", "condition_params", "native_match", "native_codec",
                "level_dbfs", "lead_s", "trail_s", "source_clip_id", "pair_clip_id",
                "generator_rate_hz", "text", "path"]


def place(r, tsplit, seed):
    """Returns (split, protocol speaker) or (None, reason)."""
    t = tsplit(r["text_id"])
    if r["label"] == "bonafide":
        s = S.group_split(r["group"], seed)
        spk = r["group"]
    elif r.get("kind") == "resynthesis":
        s = S.group_split(r["group"], seed)
        spk = r["group"]
    elif r.get("derived_from"):
        s = S.group_split(r["derived_from"], seed)
        spk = r["derived_from"]
    else:
        return t, f"tts_{r['generator']}"
    if s != t:
        return None, f"speaker split {s} != text split {t}"
    return s, spk


def main():
    cfg = C.load_config()
    seed = cfg["seed"]
    genuine = C.read_tsv(C.data_path("genuine", "meta.tsv"))
    clips = C.read_tsv(C.data_path("clips", "meta.tsv"))
    tsplit = S.TextSplits(genuine, seed)
    rows, dropped = [], []
    for r in clips:
        split, spk = place(r, tsplit, seed)
        if split is None:
            dropped.append(dict(clip_id=r["clip_id"], label=r["label"], group=r["group"],
                                text_id=r["text_id"], reason=spk))
            continue
        out = dict(r)
        out["split"] = split
        out["protocol_speaker"] = spk
        if r["label"] == "bonafide":
            out.update(generator="-", family="-", kind="-")
        else:
            out["generator_rate_hz"] = r.get("native_rate_hz", "")
            out["native_rate_hz"] = r.get("pair_native_rate_hz", "")
            out["native_codec"] = r.get("pair_native_codec", "")
        out["speaker"] = spk
        rows.append(out)
    rows.sort(key=lambda r: (r["split"], r["clip_id"]))

    pdir = C.data_path("protocols")
    C.ensure_dir(pdir)

    def line(r):
        sysid = "-" if r["label"] == "bonafide" else r["generator"]
        return f"{r['speaker']} {r['clip_id']} - {sysid} {r['label']}"

    by_split = {s: [r for r in rows if r["split"] == s] for s in S.SPLITS}
    for s, lst in by_split.items():
        C.atomic_write_text(os.path.join(pdir, f"{s}.txt"), "".join(line(r) + "\n" for r in lst))
    C.write_tsv(os.path.join(pdir, "meta.tsv"), rows, META_COLUMNS)
    C.write_tsv(os.path.join(pdir, "dropped.tsv"), dropped,
                ["clip_id", "label", "group", "text_id", "reason"])

    families = sorted({r["family"] for r in rows if r["label"] == "spoof"})
    for fam in families:
        d = os.path.join(pdir, "logo", fam)
        C.ensure_dir(d)
        for s in ("train", "dev"):
            keep = [r for r in by_split[s] if not (r["label"] == "spoof" and r["family"] == fam)]
            C.atomic_write_text(os.path.join(d, f"{s}.txt"), "".join(line(r) + "\n" for r in keep))
        ev = [r for r in by_split["eval"] if r["label"] == "bonafide"] + \
             [r for r in rows if r["label"] == "spoof" and r["family"] == fam]
        C.atomic_write_text(os.path.join(d, "eval.txt"), "".join(line(r) + "\n" for r in ev))

    # Sanity: no speaker group and no text in two splits.
    grp_split, txt_split = {}, {}
    for r in rows:
        grp_split.setdefault(r["speaker"] if not r["speaker"].startswith("tts_") else None,
                             set()).add(r["split"])
        txt_split.setdefault(r["text_id"], set()).add(r["split"])
    bad_g = [g for g, s in grp_split.items() if g and len(s) > 1]
    bad_t = [t for t, s in txt_split.items() if len(s) > 1]
    for s in S.SPLITS:
        lst = by_split[s]
        b = [r for r in lst if r["label"] == "bonafide"]
        C.log(STEP, f"{s}: {len(lst)} clips ({len(b)} bonafide, {len(lst) - len(b)} spoof), "
                    f"{sum(float(r['duration_s']) for r in lst) / 3600:.2f} h")
    C.log(STEP, f"dropped {len(dropped)} clips for speaker/text split conflicts; "
                f"leaks: {len(bad_g)} speakers, {len(bad_t)} texts in >1 split")
    if bad_g or bad_t:
        C.log(STEP, f"ERROR: split leak, e.g. {bad_g[:3]} {bad_t[:3]}")
        sys.exit(1)
    C.log(STEP, f"wrote protocols to {pdir} (+ logo/ for {len(families)} families)")


if __name__ == "__main__":
    main()
