#!/usr/bin/env python3
"""Checks of models/eval/train_fit.py that can fail, on constructed protocols and
scores (no model, no spoofctl): the draw caps every generator, takes the asked
number of genuine clips and is the same for the same seed; the table gives a
separated generator EER 0 and an inseparable one about 50%, worst first, and
leaves out files that could not be scored. Exit 0 when every check holds."""
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "eval"))
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish  # noqa: E402
import train_fit  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    proto = pathlib.Path(tmp) / "train.txt"
    lines = [f"spk g{i} - - bonafide" for i in range(50)]
    lines += [f"spk a{i} - easy spoof" for i in range(30)]
    lines += [f"spk b{i} - hard spoof" for i in range(10)]
    proto.write_text("\n".join(lines) + "\n")
    keys = train_fit.draw(proto, per_generator=20, n_genuine=40, seed=1)
    systems = [s for _, s, y in keys if y == 1]
    check(systems.count("easy") == 20, f"a generator with 30 clips is capped at 20 ({systems.count('easy')})")
    check(systems.count("hard") == 10, f"a generator with 10 clips keeps all 10 ({systems.count('hard')})")
    check(sum(1 for _, _, y in keys if y == 0) == 40, "40 genuine clips drawn")
    check(keys == train_fit.draw(proto, 20, 40, seed=1), "the same seed draws the same clips")
    check(keys != train_fit.draw(proto, 20, 40, seed=2), "another seed draws other clips")

# Genuine LLRs 0..39; "easy" far above them; "hard" spread over the same range.
keys = [(f"g{i}", "-", 0) for i in range(40)] + [(f"a{i}", "easy", 1) for i in range(20)] + \
       [(f"b{i}", "hard", 1) for i in range(10)] + [("broken", "hard", 1)]
results = {f"g{i}": {"llr": float(i)} for i in range(40)}
results.update({f"a{i}": {"llr": 100.0 + i} for i in range(20)})
results.update({f"b{i}": {"llr": 4.0 * i + 0.5} for i in range(10)})
results["broken"] = {"llr": None, "error": "decode"}
table = train_fit.fit_table(keys, results)
gens = table["generators"]
check(gens["easy"]["eer"] == 0.0, f"a separated generator: EER 0 ({gens['easy']['eer']})")
check(0.35 < gens["hard"]["eer"] < 0.65, f"an inseparable generator: EER about 50% ({gens['hard']['eer']:.2f})")
check(gens["hard"]["n_spoof"] == 10, "a file without a score is left out")
check(table["n_genuine"] == 40, "every genuine clip counted")
check(0.0 < table["pooled_eer"] < gens["hard"]["eer"], "the pooled EER lies between the two")
finish()
