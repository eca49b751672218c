#!/usr/bin/env python3
"""Checks of train.py --source-adversary that can fail: the gradient reversal is the
identity forward and flips and scales the gradient backward; recording sources are
read from a set's meta.tsv and numbered per class, leaving out text-to-speech clips
and sources with too few clips; the adversary counts only the clips it may; and, on
a toy problem where one input direction gives the label and another the recording
source, an encoder trained with the reversal keeps the label and loses most of the
source, while the same encoder trained without it keeps the source. Exit 0 when
every check holds, 1 otherwise, 77 (skipped) where python3-torch is not installed."""
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")
import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "models" / "train"))
import data  # noqa: E402
import train  # noqa: E402

# Gradient reversal.
x = torch.randn(4, 3, requires_grad=True)
y = train.GradientReversal.apply(x, 0.5)
check(torch.equal(y, x), "the reversal is the identity on the way forward")
y.sum().backward()
check(torch.allclose(x.grad, torch.full_like(x, -0.5)), "the gradient comes back times -scale")

# Sources from meta.tsv, numbered per class.
with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    (tmp / "protocols").mkdir()
    (tmp / "meta.tsv").write_text("clip_id\tsplit\tsource\tpath\n"
                                  "a\ttrain\tpkg1\tx\nb\ttrain\t-\tx\nc\ttrain\t\tx\nd\ttrain\tpage2\tx\n")
    got = data.read_sources(tmp / "protocols")
    check(got == {"a": "pkg1", "d": "page2"},
          f"meta.tsv beside the protocols folder is read, '-' and empty sources left out ({got})")
    (tmp / "protocols" / "meta.tsv").write_text("clip_id\tsource\ne\tinside\n")
    got = data.read_sources(tmp / "protocols")
    check(got == {"e": "inside"}, f"meta.tsv inside the protocols folder comes first ({got})")
    (tmp / "protocols" / "meta.tsv").write_text("clip_id\tsource\tcondition\ne\tinside\tgsm\nf\tx\t-\n")
    got = data.read_sources(tmp / "protocols", "condition")
    check(got == {"e": "gsm"}, f"another column (the channel condition) can be read instead ({got})")

with tempfile.TemporaryDirectory() as tmp:
    check(data.read_sources(pathlib.Path(tmp) / "protocols") == {},
          "a folder with no meta.tsv in it or beside it gives no sources")

Item = data.Item
items = ([Item("s", f"g{i}", "-", 0, pathlib.Path("x"), source="A") for i in range(3)]
         + [Item("s", f"h{i}", "-", 0, pathlib.Path("x"), source="B") for i in range(2)]
         + [Item("s", f"t{i}", "tts", 1, pathlib.Path("x"), source="") for i in range(2)]
         + [Item("s", f"v{i}", "voc", 1, pathlib.Path("x"), source="A") for i in range(3)])
labels = np.array([it.label for it in items])
ids, names = train.source_ids(items, labels, 3)
check(names == [["A"], ["A"]], f"sources with fewer than min_clips clips of a class are dropped ({names})")
check(ids.tolist() == [0, 0, 0, -1, -1, -1, -1, 0, 0, 0],
      f"each clip gets its source's index within its class, -1 when none ({ids.tolist()})")
ids, names = train.source_ids(items, labels, 1)
check(names == [["A", "B"], ["A"]] and ids[3] == 1 and ids[5] == -1,
      f"with min_clips 1, B is a genuine source and text-to-speech clips stay out ({names}, {ids.tolist()})")

adv = train.SourceAdversary(8, [2, 3])
_, stats = adv(torch.randn(4, 8), torch.tensor([0, 0, 1, 1]), torch.tensor([1, -1, -1, -1]))
check(stats[0][1] == 1 and stats[1] == (0, 0),
      f"only clips with a source are counted, each in its own class's classifier ({stats})")
genuine_only = train.SourceAdversary(8, [2, 0])
loss, stats = genuine_only(torch.randn(4, 8), torch.tensor([0, 0, 1, 1]), torch.tensor([1, 0, 0, 1]))
check(list(genuine_only.heads) == ["0"] and stats[1] == (0, 0) and stats[0][1] == 2,
      f"a class with no sources has no classifier and its clips are not counted ({stats})")


def toy(reverse, steps=600, seed=0):
    """Encoder z = W x on inputs whose dimension 0 carries the label and dimension 1
    the source (two sources in each class); returns (label accuracy, accuracy of a
    fresh probe that guesses the source from z)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n = 512
    label = torch.randint(0, 2, (n,), generator=gen)
    source = torch.randint(0, 2, (n,), generator=gen)
    inputs = torch.randn(n, 6, generator=gen) * 0.3
    inputs[:, 0] += 2.0 * label - 1.0
    inputs[:, 1] += 2.0 * source - 1.0
    enc = torch.nn.Linear(6, 4)
    head = torch.nn.Linear(4, 1)
    adv = train.SourceAdversary(4, [2, 2])
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters(), *adv.parameters()], lr=0.02)
    for _ in range(steps):
        z = enc(inputs)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(z).squeeze(1), label.float())
        if reverse:
            adv_loss, _ = adv(train.GradientReversal.apply(z, 1.0), label, source)
            loss = loss + adv_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z = enc(inputs)
        label_acc = float(((head(z).squeeze(1) > 0).long() == label).float().mean())
    probe = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    popt = torch.optim.Adam(probe.parameters(), lr=0.02)
    for _ in range(400):
        loss = torch.nn.functional.cross_entropy(probe(z), source)
        popt.zero_grad()
        loss.backward()
        popt.step()
    with torch.no_grad():
        source_acc = float((probe(z).argmax(1) == source).float().mean())
    return label_acc, source_acc


plain_label, plain_source = toy(False)
adv_label, adv_source = toy(True)
check(plain_source > 0.95, f"without reversal the encoder keeps the source ({plain_source:.2f} probe accuracy)")
check(adv_source < 0.85, f"with reversal a fresh probe finds little of the source ({adv_source:.2f}; chance 0.5)")
check(adv_label > 0.95, f"with reversal the label is still learned ({adv_label:.2f} accuracy)")
finish()
