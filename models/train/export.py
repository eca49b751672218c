#!/usr/bin/python3
"""Calibrates a trained run on its dev split and exports the TorchScript model
with its contract as extra files.

Calibration: an affine map llr = scale * logit + offset fitted by logistic
regression on dev segment logits with both classes weighted equally, so the
result is a log-likelihood ratio (log p(x|synthetic) / p(x|genuine)).
Operating points are thresholds on the file-level LLR (mean of segment LLRs,
as the service aggregates): `balanced` at the dev EER, `strict` at 1% false
alarms on dev genuine speech.

The file carries `spoofd/contract.json` (see models/README.md for the schema).
"""
import argparse
import datetime
import hashlib
import json
import pathlib
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "eval"))
import data  # noqa: E402
import metrics  # noqa: E402
import model as nets  # noqa: E402

CONTRACT_VERSION = 1


def segment_logits(model, feats, frames, hop):
    segs, owner = [], []
    for i, x in enumerate(feats):
        for w in data.windows(x, frames, hop):
            segs.append(w)
            owner.append(i)
    out = np.empty(len(segs), dtype=np.float64)
    with torch.no_grad():
        for s in range(0, len(segs), 64):
            out[s:s + 64] = model(torch.from_numpy(np.stack(segs[s:s + 64]))).numpy()
    return out, np.asarray(owner)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True, action="append",
                   help="trained run folder; repeat to export the mean of several runs (an ensemble "
                        "of runs with the same features and segment length)")
    p.add_argument("--out", required=True, help="TorchScript file to write")
    p.add_argument("--name", default="spoofd-detector")
    p.add_argument("--version", required=True)
    p.add_argument("--protocols")
    p.add_argument("--audio-dir")
    p.add_argument("--dev-protocol")
    p.add_argument("--dev-audio")
    p.add_argument("--audio-ext", default=".wav")
    p.add_argument("--cache", default=str(data.ROOT / "models" / "work" / "features"))
    p.add_argument("--segment-s", type=float, default=4.0)
    p.add_argument("--hop-s", type=float, default=2.0)
    p.add_argument("--training-summary", help="JSON file describing the training data")
    p.add_argument("--extra", action="append", default=[], metavar="NAME:PROTOCOLS:AUDIO[:WEIGHT]",
                   help="also calibrate on this data set's dev.txt (as train.py --extra)")
    args = p.parse_args()

    runs = [pathlib.Path(r) for r in args.run]
    loaded = [nets.load_run(r) for r in runs]
    settings = loaded[0][1]
    members = []
    for r, (net, st) in zip(runs, loaded):
        if st["features"] != settings["features"] or st["segment_frames"] != settings["segment_frames"]:
            sys.exit(f"export: {r} has other features or segment length than {runs[0]}")
        members.append(net)
    model = members[0] if len(members) == 1 else nets.Ensemble(members)
    model.eval()
    run = runs[0]

    feature_config = settings["features"]
    config_path = run / "features.json"
    config_path.write_text(json.dumps(feature_config))
    hop_frames_per_s = feature_config["sample_rate_hz"] / feature_config["hop_length"]
    frames = int(round(args.segment_s * hop_frames_per_s))
    hop = int(round(args.hop_s * hop_frames_per_s))

    if args.dev_protocol:
        dev = data.read_protocol(args.dev_protocol, args.dev_audio, args.audio_ext)
    else:
        dev = data.read_protocol(pathlib.Path(args.protocols) / "dev.txt", args.audio_dir, args.audio_ext)
    for spec in args.extra:
        _name, pdir, adir = spec.split(":")[:3]
        dev += data.read_protocol(pathlib.Path(pdir) / "dev.txt", adir, args.audio_ext)
    paths = data.cache_features(dev, config_path, args.cache)
    dev, feats = data.load_features(dev, paths)
    labels = np.array([it.label for it in dev])
    logits, owner = segment_logits(model, feats, frames, hop)
    seg_labels = labels[owner]

    lr = LogisticRegression(C=1e4, class_weight="balanced").fit(logits[:, None], seg_labels)
    scale, offset = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    seg_llr = scale * logits + offset
    file_llr = np.array([seg_llr[owner == i].mean() for i in range(len(dev))])
    eer, eer_threshold = metrics.eer(file_llr, labels)
    strict = metrics.threshold_at_far(file_llr, labels, 0.01)
    summary = metrics.summary(file_llr, labels, file_llr)
    frr_strict = float(np.mean(file_llr[labels == 1] < strict))
    print(f"dev: {len(dev)} files, EER {100 * eer:.2f}% at LLR {eer_threshold:.3f}; "
          f"Cllr {summary['cllr']:.3f}; strict threshold {strict:.3f} misses {100 * frr_strict:.1f}% of spoofs")

    contract = {
        "contract_version": CONTRACT_VERSION,
        "name": args.name,
        "version": args.version,
        "created_utc": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "feature_config": feature_config,
        "sample_rate_hz": feature_config["sample_rate_hz"],
        "segment_s": args.segment_s,
        "hop_s": args.hop_s,
        "min_segment_s": 1.0,
        "input": "float32 [batch, frames, dims] features from spoofd::dsp (feature_config)",
        "output": "float32 [batch] logit, higher = synthetic",
        "calibration": {"kind": "affine_logit_to_llr", "scale": scale, "offset": offset,
                        "fitted_on": f"dev split, {len(seg_llr)} segments of {len(dev)} files"},
        "aggregation": {"kind": "mean_llr", "min_speech_fraction": 0.3},
        "operating_points": {
            "balanced": {"llr_threshold": eer_threshold, "dev_eer": eer,
                         "description": "equal error rate on the dev split"},
            "strict": {"llr_threshold": strict, "dev_false_alarm_rate": 0.01, "dev_miss_rate": frr_strict,
                       "description": "1% false alarms on dev genuine speech"},
        },
        "default_operating_point": "balanced",
        "dev_metrics": summary,
        "training": {"arch": settings.get("arch", "resnet1d"), "head": settings.get("head", "bce"), "epochs": settings["epoch"], "train_clips": settings["train_clips"],
                     "excluded_systems": settings["excluded_systems"], "width": settings["width"],
                     "norm": settings.get("norm", "cmvn"),
                     "extra_data": [e.split(":")[0] for e in settings.get("extra", [])],
                     "splice_prob": settings.get("splice_prob", 0.0),
                     "segment_frames": settings["segment_frames"],
                     **({"stem_stride": settings["stem_stride"]} if "stem_stride" in settings else {}),
                     "ensemble_of": len(runs)},
    }
    if settings.get("averaged_epochs"):  # train.py --average-from: mean of these epochs' weights
        contract["training"]["averaged_epochs"] = settings["averaged_epochs"]
    if args.training_summary:
        contract["training"]["data"] = json.loads(pathlib.Path(args.training_summary).read_text())

    scripted = torch.jit.freeze(torch.jit.script(model))
    out = pathlib.Path(args.out)
    tmp = out.with_suffix(".tmp")
    torch.jit.save(scripted, str(tmp), _extra_files={"spoofd/contract.json": json.dumps(contract, indent=1)})
    tmp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    (run / "contract.json").write_text(json.dumps(contract, indent=1))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}…)")


if __name__ == "__main__":
    main()
