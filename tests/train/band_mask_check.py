#!/usr/bin/env python3
"""Checks of train.py --band-mask that can fail: on cepstra made from a known log
spectrum, the flattened run of bands loses most of its variation over time, bands
far from it keep theirs, the deltas of the run shrink, every segment keeps its
shape, and p = 0 changes nothing. Exit 0 when every check holds, 1 otherwise, 77
(skipped) where python3-torch is not installed (CI installs only the runtime)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")
import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "models" / "train"))
import model as nets  # noqa: E402
import train  # noqa: E402

N_FILTERS, N_COEFFS, T, B = 60, 20, 80, 6
idct = nets.inverse_dct(N_FILTERS, N_COEFFS).numpy().astype(np.float32)
gen = np.random.default_rng(3)
logspec = gen.normal(size=(B, T, N_FILTERS)).astype(np.float32)
static = logspec @ idct.T  # [B, T, n_coeffs]
delta = np.gradient(static, axis=1)
x = np.concatenate([static, delta, np.gradient(delta, axis=1)], axis=2).astype(np.float32)


class FixedRng:
    """Stands in for numpy's Generator: always masks, at a chosen run. band_mask
    draws each segment's width first (1..max), then its start."""
    def __init__(self, start, width):
        self.start, self.width = start, width
        self.draws = 0

    def random(self):
        return 0.0

    def integers(self, lo, hi):
        v = self.width if self.draws % 2 == 0 else self.start
        self.draws += 1
        assert lo <= v < hi, (lo, v, hi)
        return v


start, width = 30, 8
y = train.band_mask(x.copy(), FixedRng(start, width), idct, 1.0, 15)
check(y.shape == x.shape and y.dtype == x.dtype, "shape and dtype are kept")
before = (x[:, :, :N_COEFFS] @ idct).std(axis=1)  # [B, n_filters]
after = (y[:, :, :N_COEFFS] @ idct).std(axis=1)
run = slice(start + 1, start + width - 1)  # the run's inner bands
ratio = (after[:, run] / before[:, run]).mean()
check(ratio < 0.5, f"the run's variation over time drops below half ({ratio:.2f} of before)")
far = np.r_[0:start - 6, start + width + 6:N_FILTERS]
far_ratio = (after[:, far] / before[:, far]).mean()
check(abs(far_ratio - 1.0) < 0.1, f"bands 6 or more away keep their variation ({far_ratio:.3f} of before)")
d_before = np.abs(x[:, :, N_COEFFS:2 * N_COEFFS] @ idct)[:, :, run].mean()
d_after = np.abs(y[:, :, N_COEFFS:2 * N_COEFFS] @ idct)[:, :, run].mean()
check(d_after < 0.5 * d_before, f"the run's deltas shrink ({d_after:.3f} against {d_before:.3f})")
level_before = (x[:, :, :N_COEFFS] @ idct)[:, :, run].mean(axis=1)
level_after = (y[:, :, :N_COEFFS] @ idct)[:, :, run].mean(axis=1)
check(np.allclose(level_before, level_after, atol=1e-4), "the run keeps its mean level")

z = train.band_mask(x.copy(), np.random.default_rng(0), idct, 0.0, 15)
check(np.array_equal(z, x), "p = 0 leaves every segment unchanged")
w = train.band_mask(x.copy(), np.random.default_rng(0), idct, 0.5, 15)
changed = [not np.array_equal(w[i], x[i]) for i in range(B)]
check(0 < sum(changed) < B, f"p = 0.5 changes some segments and not others ({sum(changed)} of {B})")
finish()
