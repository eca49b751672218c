#!/usr/bin/env python3
"""Checks of train.py --average-from that can fail: the running mean of weight
snapshots equals their plain mean, integer buffers are left alone, and the
batch-norm refresh leaves each layer's running statistics equal to the mean and
variance of the inputs it saw. Exit 0 when every check holds, 1 otherwise, 77
(skipped) where python3-torch is not installed (CI installs only the runtime)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")
import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "models" / "train"))
import train  # noqa: E402


torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
snapshots, mean, n = [], None, 0
for _ in range(5):
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    snapshots.append({k: v.clone() for k, v in net.state_dict().items()})
    mean = train.accumulate_mean(mean, net, n)
    n += 1
expected = torch.stack([s["0.weight"] for s in snapshots]).mean(0)
check(torch.allclose(mean["0.weight"], expected, atol=1e-6), "running mean of 5 snapshots = their mean")
check("1.num_batches_tracked" not in mean, "integer buffers are not averaged")
check(not torch.allclose(mean["0.weight"], snapshots[-1]["0.weight"]), "the mean differs from the last snapshot")

bn = torch.nn.BatchNorm1d(2, momentum=0.1)
rng = np.random.default_rng(0)
batches = [rng.normal([3.0, -1.0], [2.0, 0.5], size=(64, 2)).astype(np.float32) for _ in range(20)]
train.refresh_batch_norm(bn, iter(batches))
allx = np.concatenate(batches)
check(np.allclose(bn.running_mean.numpy(), allx.mean(0), atol=1e-4), "refreshed running mean = mean of the inputs")
# PyTorch keeps the unbiased per-batch variance; averaged over equal batches.
var = np.mean([b.var(0, ddof=1) for b in batches], axis=0)
check(np.allclose(bn.running_var.numpy(), var, rtol=1e-4), "refreshed running variance = mean of the batch variances")
check(bn.momentum == 0.1, "the layer's momentum is restored")

finish()
