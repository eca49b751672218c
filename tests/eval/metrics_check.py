#!/usr/bin/env python3
"""Checks of models/eval/metrics.py and compare.py that can fail: EER on
constructed scores with a known answer, bootstrap intervals that hold the point
value and narrow with more files, and a paired comparison that tells a clearly
better model from an equal one. Exit 0 when every check holds, 1 otherwise."""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "eval"))
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish  # noqa: E402
import metrics  # noqa: E402


labels = np.array([0] * 4 + [1] * 4)
check(metrics.eer(np.array([0, 1, 2, 3, 4, 5, 6, 7.0]), labels)[0] == 0.0, "separable scores: EER 0")
check(metrics.eer(np.array([4, 5, 6, 7, 0, 1, 2, 3.0]), labels)[0] == 1.0, "inverted scores: EER 1")
# One genuine file above every synthetic one and one synthetic file below every
# genuine one: 1 of 4 on each side.
check(abs(metrics.eer(np.array([0, 1, 2, 9, -1, 5, 6, 7.0]), labels)[0] - 0.25) < 1e-9,
      "one error per class of four: EER 25%")
# Ties: a threshold cannot split equal scores, whatever order the files come in.
for order in (labels, labels[::-1]):
    e = metrics.eer(np.zeros(8), order)[0]
    check(abs(e - 0.5) < 1e-9, f"one score for every file: EER 50% in either file order ({e:.3f})")
tied = metrics.eer(np.array([0, 1, 5, 5, 5, 5, 6, 7.0]), labels)[0]
check(abs(tied - 0.25) < 1e-9, f"two genuine and two synthetic files tied in the middle: EER 25% ({tied:.3f})")
m, _ = metrics.min_dcf(np.zeros(8), labels)
check(abs(m - 1.0) < 1e-9, f"one score for every file: minDCF 1 (no better than a trivial system; {m:.3f})")

rng = np.random.default_rng(7)


def draw(n_bona, n_spoof, gap):
    y = np.r_[np.zeros(n_bona, int), np.ones(n_spoof, int)]
    return rng.normal(0, 1, len(y)) + gap * y, y


s, y = draw(80, 500, 1.0)
lo, hi = metrics.eer_interval(s, y, 300)
e = metrics.eer(s, y)[0]
check(lo <= e <= hi, f"interval {lo:.3f}-{hi:.3f} holds the EER {e:.3f}")
s2, y2 = draw(2000, 2000, 1.0)
lo2, hi2 = metrics.eer_interval(s2, y2, 300)
check(hi2 - lo2 < (hi - lo) / 2, f"4000 files give a narrower interval ({hi2 - lo2:.3f}) than 580 ({hi - lo:.3f})")
# Theoretical EER for two unit normals one apart: Phi(-0.5) = 0.3085.
check(lo2 <= 0.3085 <= hi2, f"interval {lo2:.3f}-{hi2:.3f} holds the true EER 0.3085")

good = s + 2.0 * y  # the same files, far better separated
d = metrics.paired_eer_difference(good, s, y, 300)
check(d["difference"] < 0 and d["interval"][1] < 0 and d["a_better_share"] > 0.95,
      f"clearly better model: difference {d['difference']:.3f}, interval {d['interval']}, "
      f"share {d['a_better_share']:.2f}")
same = metrics.paired_eer_difference(s, s.copy(), y, 100)
check(same["difference"] == 0 and same["interval"] == (0.0, 0.0) and same["a_better_share"] == 0.0,
      "identical scores: difference 0 with a zero-width interval")

# compare.py end to end on files it writes itself.
with tempfile.TemporaryDirectory() as tmp:
    t = pathlib.Path(tmp)
    ids = [f"f{i:04d}" for i in range(len(y))]
    (t / "p.txt").write_text("".join(f"S {i} - X {'spoof' if l else 'bonafide'}\n" for i, l in zip(ids, y)))
    (t / "a.txt").write_text("".join(f"{i} {v:.5f} {v:.5f}\n" for i, v in zip(ids, good)))
    (t / "b.txt").write_text("".join(f"{i} {v:.5f} {v:.5f}\n" for i, v in zip(ids[:-10], s[:-10])))
    out = subprocess.run([sys.executable, str(ROOT / "models" / "eval" / "compare.py"), "--protocol",
                          str(t / "p.txt"), "--a", str(t / "a.txt"), "--b", str(t / "b.txt"),
                          "--resamples", "200"], capture_output=True, text=True)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    check(out.returncode == 0 and "10 not in both" in last and "A lower in 100%" in last,
          f"compare.py reports the better model and the 10 files only one model scored: {last!r}")
    (t / "one.txt").write_text("".join(f"S {i} - X bonafide\n" for i in ids))
    bad = subprocess.run([sys.executable, str(ROOT / "models" / "eval" / "compare.py"), "--protocol",
                          str(t / "one.txt"), "--a", str(t / "a.txt"), "--b", str(t / "b.txt")],
                         capture_output=True, text=True)
    check(bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1,
          f"one-class protocol: non-zero exit with one line on stderr ({bad.stderr.strip()!r})")

finish()
