#!/usr/bin/env python3
"""Checks of train.py --sam (sharpness-aware minimisation's second pass) that can fail:
the weights come back exactly to where they were, the gradient left for the optimiser
is the loss's gradient at the weights moved by rho along the normalised first gradient
(computed here by hand on a least-squares problem), and rho 0 leaves the first
gradient. Exit 0 when every check holds, 1 otherwise, 77 (skipped) where python3-torch
is not installed (CI installs only the runtime)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")

sys.path.insert(0, str(ROOT / "models" / "train"))
import train  # noqa: E402

torch.manual_seed(0)
x = torch.randn(16, 3, dtype=torch.float64)
y = torch.randn(16, dtype=torch.float64)
layer = torch.nn.Linear(3, 1).double()
params = list(layer.parameters())


def loss_fn():
    return ((layer(x).squeeze(1) - y) ** 2).mean()


def grads_at(w, b):
    """The loss's gradient at weights (w, b), by hand: d/dθ mean((xw + b - y)^2)."""
    r = x @ w.reshape(-1) + b - y
    return (2.0 / len(y)) * (x.T @ r), (2.0 / len(y)) * r.sum()


for rho in (0.05, 0.0):
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    layer.zero_grad()
    loss_fn().backward()
    g_w, g_b = grads_at(w0, b0)
    check(torch.allclose(layer.weight.grad.reshape(-1), g_w) and torch.allclose(layer.bias.grad, g_b.reshape(1)),
          "the first pass's gradient is the hand-computed one")
    norm = torch.sqrt((g_w ** 2).sum() + g_b ** 2)
    train.sam_second_pass(layer, params, rho, loss_fn)
    check(torch.equal(layer.weight.detach(), w0) and torch.equal(layer.bias.detach(), b0),
          f"rho {rho}: the weights are restored after the second pass")
    e_w, e_b = rho * g_w / norm, rho * g_b / norm
    s_w, s_b = grads_at(w0 + e_w.reshape(w0.shape), b0 + e_b)
    check(torch.allclose(layer.weight.grad.reshape(-1), s_w, atol=1e-12) and
          torch.allclose(layer.bias.grad, s_b.reshape(1), atol=1e-12),
          f"rho {rho}: the gradient is taken at the weights moved by rho along the normalised gradient")
    if rho > 0:
        check(not torch.allclose(layer.weight.grad.reshape(-1), g_w, atol=1e-6),
              "rho 0.05: the gradient differs from the first pass's")
    with torch.no_grad():
        layer.weight.add_(0.3)
finish()
