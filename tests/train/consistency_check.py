#!/usr/bin/env python3
"""Checks of train.py --codec-partners (codec-consistency training) that can fail:
spec_augment without partners draws and masks exactly as before (a reference copy of
the earlier code), a partner row gets its original's masks, the consistency loss is
the mean squared logit gap and pulls the two logits together, the embedding variant
is 1 - cosine, and
read_codec_partners maps each partner to its original's index. Exit 0 when every
check holds, 1 otherwise, 77 (skipped) where python3-torch or numpy is missing."""
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")
np = skip_without("numpy", "python3-numpy is not installed")

sys.path.insert(0, str(ROOT / "models" / "train"))
import train  # noqa: E402


def reference_spec_augment(x, rng):
    """train.spec_augment as it was before codec partners (no twins)."""
    b, t, d = x.shape
    for i in range(b):
        if rng.random() < 0.5:
            w = int(rng.integers(1, max(2, d // 8)))
            s = int(rng.integers(0, d - w))
            x[i, :, s:s + w] = 0.0
        if rng.random() < 0.5:
            w = int(rng.integers(1, t // 10))
            s = int(rng.integers(0, t - w))
            x[i, s:s + w, :] = 0.0
    return x


base = np.random.default_rng(0).normal(size=(16, 400, 120)).astype(np.float32) + 5.0
a = train.spec_augment(base.copy(), np.random.default_rng(7))
b = reference_spec_augment(base.copy(), np.random.default_rng(7))
check(np.array_equal(a, b), "without partners, spec_augment masks exactly as the earlier code")
check(int((a == 0).sum()) > 0, "spec_augment masked something")

# Rows 16 and 17 are partners of rows 3 and 9 (same content here, so equal masks
# mean equal rows).
x = np.concatenate([base, base[[3, 9]]])
rng = np.random.default_rng(11)
masked = train.spec_augment(x.copy(), rng, {16: 3, 17: 9})
check(np.array_equal(masked[16], masked[3]) and np.array_equal(masked[17], masked[9]),
      "a partner row gets exactly its original's masks")
check(np.array_equal(masked[:16], train.spec_augment(base.copy(), np.random.default_rng(11))),
      "partners do not change the masks of the other rows")
hit = [(masked[i] == 0).any() for i in range(16)]
check(any(hit) and not all(hit), f"masks vary across rows ({sum(hit)} of 16 masked)")

logits = torch.tensor([0.5, -1.0, 2.0, 1.5, -0.5], requires_grad=True)
twins = {3: 2, 4: 1}  # row 3 is row 2's partner, row 4 row 1's
loss = train.consistency_loss(logits, twins)
want = ((1.5 - 2.0) ** 2 + (-0.5 + 1.0) ** 2) / 2
check(abs(float(loss) - want) < 1e-6, f"consistency loss is the mean squared gap ({float(loss):.4f}, want {want:.4f})")
loss.backward()
g = logits.grad
check(float(g[0]) == 0.0, "a row without a partner gets no consistency gradient")
check(float(g[2]) > 0 > float(g[3]) and float(g[1]) < 0 < float(g[4]),
      f"the gradient pulls each pair together ({g.tolist()})")

e = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 5.0]])
check(abs(float(train.embedding_consistency_loss(e, {2: 0, 3: 1}))) < 1e-6,
      "embedding consistency: partners pointing the same way as their originals cost nothing, whatever the scale")
check(abs(float(train.embedding_consistency_loss(e, {3: 0})) - 1.0) < 1e-6,
      "embedding consistency: an orthogonal partner costs 1")

# read_codec_partners on a tiny folder with fake cached features.
with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    (tmp / "protocols").mkdir()
    (tmp / "partners.tsv").write_text("original_id\tpartner_id\tcodec\tset\n"
                                      "a1\tcp_a1\tgsm\tmain\nb2\tcp_b2\tmp3\tmain\nzz\tcp_zz\tgsm\tmain\n")
    (tmp / "protocols" / "train.txt").write_text("spk cp_a1 - - bonafide\nspk cp_b2 - sys spoof\n"
                                                 "spk cp_zz - - bonafide\n")

    class Args:
        audio_ext = ".wav"
        features = "unused.json"
        cache = str(tmp / "cache")
        jobs = 1
        feature_dtype = "float32"

    items = [train.data.Item("spk", "b2", "sys", 1, tmp / "b2.wav"),
             train.data.Item("spk", "a1", "-", 0, tmp / "a1.wav")]
    fake = {"cp_a1": np.full((60, 4), 1.0, np.float32), "cp_b2": np.full((60, 4), 2.0, np.float32)}
    saved = train.data.cache_features, train.data.load_features
    train.data.cache_features = lambda its, *_: {it.file_id: it.file_id for it in its}
    train.data.load_features = lambda its, paths, **_: (its, [fake[it.file_id] for it in its])
    try:
        got = train.read_codec_partners(tmp, items, Args())
    finally:
        train.data.cache_features, train.data.load_features = saved
    check(sorted(got) == [0, 1], f"partners found for both train clips, not for the absent one ({sorted(got)})")
    check(float(got[0][0, 0]) == 2.0 and float(got[1][0, 0]) == 1.0,
          "each partner's features land at its original's index")
finish()
