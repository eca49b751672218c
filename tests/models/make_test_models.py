#!/usr/bin/python3
"""Writes the small TorchScript models the C++ tests load (tests/data/models/).

They have random weights: they exercise loading, the contract, segmenting,
batching and calibration — not detection quality (the shipped model's tests do
that). Regenerate with Debian's interpreter:
    /usr/bin/python3 tests/models/make_test_models.py
"""
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "train"))
from model import SpoofNet  # noqa: E402

OUT = ROOT / "tests" / "data" / "models"

FEATURES = {"kind": "lfcc", "sample_rate_hz": 16000, "n_fft": 512, "win_length": 320,
            "hop_length": 160, "window": "hann", "center": False, "n_filters": 20, "n_coeffs": 10,
            "f_min_hz": 0.0, "f_max_hz": 8000.0, "deltas": 1, "preemphasis": 0.0, "log": "ln",
            "log_floor": 1e-7, "normalize": "none"}

CONTRACT = {
    "contract_version": 1, "name": "tiny-test-model", "version": "0.0.1-test",
    "feature_config": FEATURES, "sample_rate_hz": 16000, "segment_s": 2.0, "hop_s": 1.0,
    "min_segment_s": 1.0,
    "calibration": {"kind": "affine_logit_to_llr", "scale": 2.0, "offset": -0.5},
    "aggregation": {"kind": "mean_llr", "min_speech_fraction": 0.3},
    "operating_points": {"balanced": {"llr_threshold": 0.0, "description": "test"},
                         "strict": {"llr_threshold": 3.0, "description": "test"}},
    "default_operating_point": "balanced",
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SpoofNet(20, width=8).eval()
    scripted = torch.jit.freeze(torch.jit.script(model))
    torch.jit.save(scripted, str(OUT / "tiny.pt"),
                   _extra_files={"spoofd/contract.json": json.dumps(CONTRACT)})
    torch.jit.save(scripted, str(OUT / "tiny_no_contract.pt"))
    bad = dict(CONTRACT, feature_config=dict(FEATURES, n_coeffs=12))  # 24 dims != 20
    torch.jit.save(scripted, str(OUT / "tiny_wrong_dims.pt"),
                   _extra_files={"spoofd/contract.json": json.dumps(bad)})
    for p in sorted(OUT.glob("*.pt")):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
