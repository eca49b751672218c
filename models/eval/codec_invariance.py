#!/usr/bin/python3
"""Do scores move when the same clip passes through different codecs?

Takes eval clips (both classes), transcodes each through the telephony and
low-bitrate codecs callers really use (ffmpeg, in a work folder), scores every
version through the C++ pipeline and reports, per codec: the mean and 95th
percentile |LLR change| against the original, the share of decisions that flip,
and the EER on that codec alone.

  codec_invariance.py --model M --meta meta.tsv --clips clips/ --work models/work/codecs \
      --out models/work/eval/codecs.json
"""
import argparse
import csv
import json
import pathlib
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics  # noqa: E402
from evaluate import run_spoofctl  # noqa: E402

# name -> (extension, ffmpeg output arguments)
CODECS = {
    "g711_mulaw_8k": (".wav", ["-ar", "8000", "-c:a", "pcm_mulaw"]),
    "g711_alaw_8k": (".wav", ["-ar", "8000", "-c:a", "pcm_alaw"]),
    "gsm_8k": (".wav", ["-ar", "8000", "-c:a", "gsm_ms"]),
    "g722_16k": (".wav", ["-ar", "16000", "-c:a", "g722"]),
    "mp3_24k": (".mp3", ["-c:a", "libmp3lame", "-b:a", "24k"]),
    "aac_32k": (".m4a", ["-c:a", "aac", "-b:a", "32k"]),
    "opus_12k": (".ogg", ["-c:a", "libopus", "-b:a", "12k"]),
    # Recording-chain faults that say nothing about how the voice was made.
    "dc_offset_2pct": (".wav", ["-af", "dcshift=0.02"]),
    "highpass_150hz": (".wav", ["-af", "highpass=f=150"]),
    "level_minus12db": (".wav", ["-af", "volume=-12dB"]),
}


def transcode(src, dst, args):
    if dst.exists():
        return True
    tmp = dst.with_name("tmp." + dst.name)
    rc = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1",
                         *args, str(tmp)]).returncode
    if rc == 0:
        tmp.replace(dst)
    return rc == 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--clips", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=300, help="clips per class")
    args = p.parse_args()
    with open(args.meta) as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "eval"]
    # Originals that went through no codec, so each transcoding is the only one.
    clean = [r for r in rows if r.get("condition", "clean") == "clean"] or rows
    rng = np.random.default_rng(0)
    picked = []
    for label in ("bonafide", "spoof"):
        members = [r for r in clean if r["label"] == label]
        picked += [members[i] for i in rng.choice(len(members), min(args.n, len(members)), replace=False)]
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    versions = {"original": [pathlib.Path(args.clips) / (r["clip_id"] + ".wav") for r in picked]}
    for name, (ext, ff) in CODECS.items():
        (work / name).mkdir(exist_ok=True)
        paths = []
        for r in picked:
            dst = work / name / (r["clip_id"] + ext)
            paths.append(dst if transcode(pathlib.Path(args.clips) / (r["clip_id"] + ".wav"), dst, ff) else None)
        versions[name] = paths
        print(f"transcoded {name}", flush=True)
    labels = np.array([1 if r["label"] == "spoof" else 0 for r in picked])
    llrs, decisions = {}, {}
    for name, paths in versions.items():
        present = [p for p in paths if p is not None]
        got = {r["file"]: r for r in run_spoofctl(args.model, present)}
        llrs[name] = np.array([got[str(p)]["llr"] if p is not None and str(p) in got and not got[str(p)].get("error")
                               else np.nan for p in paths])
        decisions[name] = np.array([got[str(p)]["decision"] if p is not None and str(p) in got and not got[str(p)].get("error")
                                    else "error" for p in paths])
    report = {"clips_per_class": int((labels == 0).sum()), "codecs": {}}
    base = llrs["original"]
    for name in versions:
        ok = ~np.isnan(llrs[name]) & ~np.isnan(base)
        delta = np.abs(llrs[name][ok] - base[ok])
        e, _ = metrics.eer(llrs[name][ok], labels[ok])
        flips = np.mean(decisions[name][ok] != decisions["original"][ok])
        report["codecs"][name] = {"eer": e, "mean_abs_llr_change": float(delta.mean()),
                                  "p95_abs_llr_change": float(np.percentile(delta, 95)),
                                  "decision_flip_rate": float(flips), "n": int(ok.sum())}
        print(f"{name:16s} EER {100 * e:5.2f}%  mean |dLLR| {delta.mean():.3f}  p95 {np.percentile(delta, 95):.3f}  "
              f"flips {100 * flips:.1f}%")
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
