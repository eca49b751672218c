#!/usr/bin/env python3
"""Checks of the networks' per-segment normalisation (models/train/model.py
normalize_over) that can fail: it matches the torch.std form it replaced (centred
rows scaled by 1 / max(unbiased std, 1e-4)) along any axis, a constant row becomes
zeros, the mean-only form leaves the spread alone, and a scripted, frozen SpoofNet
(as export.py writes it) gives the eager network's logits, and the --stem-stride
network halves the frames its stages see and scripts as well. Exit 0 when every check
holds, 1 otherwise, 77 (skipped) where python3-torch is not installed."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")

sys.path.insert(0, str(ROOT / "models" / "train"))
import model as nets  # noqa: E402


def reference(x, dim, scale_by_std):
    x = x - x.mean(dim=dim, keepdim=True)
    if scale_by_std:
        x = x / x.std(dim=dim, keepdim=True).clamp(min=1e-4)
    return x


torch.manual_seed(0)
x = torch.randn(3, 50, 7) * torch.linspace(0.5, 40.0, 7) + torch.linspace(-20.0, 20.0, 7)
for dim in (1, 2):
    got = nets.normalize_over(x, dim, True)
    check(torch.allclose(got, reference(x, dim, True), rtol=1e-5, atol=1e-5),
          f"cmvn along dim {dim} equals the torch.std form")
    check(torch.allclose(got.std(dim=dim), torch.ones(1), atol=1e-4), f"cmvn rows along dim {dim} have unit std")
    check(torch.allclose(nets.normalize_over(x, dim, False), reference(x, dim, False)),
          f"cmn along dim {dim} removes the mean only")
constant = torch.full((2, 30, 4), 3.25)
check(bool((nets.normalize_over(constant, 1, True) == 0).all()), "a constant row becomes zeros, not NaN")
check(not torch.allclose(nets.normalize_over(x, 1, True), nets.normalize_over(x, 1, False)),
      "cmvn and cmn differ")

net = nets.SpoofNet(7, width=8).eval()
with torch.no_grad():
    for m in net.modules():  # batch-norm statistics away from their defaults
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
segments = torch.randn(4, 120, 7) * 5 + 2
with torch.inference_mode():
    eager = net(segments)
    frozen = torch.jit.freeze(torch.jit.script(net))(segments)
check(torch.allclose(eager, frozen, atol=1e-5), "scripted and frozen SpoofNet gives the eager logits")
check(eager.shape == (4,), "one logit per segment")

# --stem-stride: settings without the key (every run before it) build a stride-1 stem;
# stride 2 halves the frames the residual stages see, and still scripts and freezes.
base = {"arch": "resnet1d", "n_dims": 7, "width": 8, "features": {}}
check(nets.build(base).stem[0].stride == (1,), "settings without stem_stride build a stride-1 stem")
strided = nets.build({**base, "stem_stride": 2}).eval()
with torch.inference_mode():
    frames = strided.stem(segments.transpose(1, 2)).shape[2]
    frozen_strided = torch.jit.freeze(torch.jit.script(strided))(segments)
    eager_strided = strided(segments)
check(frames == 60, f"stem_stride 2 gives the stages 60 of 120 frames (got {frames})")
check(torch.allclose(eager_strided, frozen_strided, atol=1e-5), "a strided SpoofNet scripts and freezes")
finish()
