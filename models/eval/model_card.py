#!/usr/bin/python3
"""Renders models/MODEL_CARD.md from the evaluation JSON under models/work/.

Every number in the card comes from a file this pipeline wrote; the script
also copies the small result files to models/results/ so they are committed
next to the card.
"""
import argparse
import datetime
import re
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Front-ends compared in the card: models/train/configs/<name>.json, trained into
# models/work/runs/<name>, evaluated into models/work/eval/<name>.
FRONTENDS = ("lfcc60", "logmel80", "cqcc60", "logspec257")


def load(path):
    p = pathlib.Path(path)
    return json.loads(p.read_text()) if p.exists() else None


def pct(x):
    return "—" if x is None else f"{100 * x:.2f}%"


def eer_cell(o):
    """The EER with its bootstrap interval when evaluate.py recorded one."""
    iv = o.get("eer_interval95")
    if o.get("eer") is None or not iv:
        return pct(o.get("eer"))
    return f"{pct(o['eer'])} ({100 * iv[0]:.1f}–{100 * iv[1]:.1f})"


def num(x, digits=3):
    return "—" if x is None else f"{x:.{digits}f}"


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def group_rows(groups):
    rows = []
    for name, m in groups.items():
        row = [name, m.get("n_bonafide", 0), m.get("n_spoof", 0), f"{m.get('hours', 0):.2f}",
               pct(m.get("eer")), num(m.get("min_dcf")), num(m.get("cllr"))]
        rows.append(row)
    return rows


def group_table(first_column, groups):
    """One row per group: its genuine and synthetic files, hours, EER, minDCF and Cllr."""
    return table([first_column, "genuine", "synthetic", "hours", "EER", "minDCF", "Cllr"],
                 group_rows(groups))


def front_end_eval(folder):
    """A front-end's Debian eval result: evaluate.py's eval.json in folder, or
    default/eval.json when the folder is the output of candidate.sh."""
    return load(folder / "eval.json") or load(folder / "default" / "eval.json")


def measured(work_file, results_file):
    """An evaluation result: from this machine's run (work_file, copied into the committed
    results_file) or, on a machine without that run, from the committed copy."""
    if work_file.exists():
        shutil.copy(work_file, results_file)
    return load(results_file)


def neural_sections(work, results):
    """Tables for the public neural sources, the vocoder copies and leave-one-source-out."""
    import csv
    lines = []
    meta = ROOT / "models" / "corpus" / "data" / "neural" / "meta.tsv"
    if meta.exists():
        with open(meta) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        per = {}
        for r in rows:
            d = per.setdefault(r["source"], {"bonafide": [0, 0.0], "spoof": [0, 0.0], "gens": set(), "fams": set()})
            d[r["label"]][0] += 1
            d[r["label"]][1] += float(r["duration_s"]) / 3600
            if r["label"] == "spoof":
                d["gens"].add(r["generator"])
                d["fams"].add(r["family"])
        fams = {r["family"] for r in rows if r["label"] == "spoof"}
        lines += ["## Public neural speech used for training (`models/corpus/sources.tsv`)", "",
                  f"{len(per)} sources, {len(fams)} synthesis families, {len(rows)} clips after splitting long "
                  "files; every clip of both classes passed through the same chain (16 kHz, 20 Hz high-pass, "
                  "trimmed, level-normalised, padded, one random channel condition). Splits: 70/15/15 by "
                  "utterance group inside each source.", "",
                  table(["source", "genuine clips (h)", "synthetic clips (h)", "generators"],
                        [[k, f"{v['bonafide'][0]} ({v['bonafide'][1]:.2f})", f"{v['spoof'][0]} ({v['spoof'][1]:.2f})",
                          ", ".join(sorted(v["gens"]))] for k, v in sorted(per.items())]), ""]
    neural = measured(work / "eval" / "neural" / "eval.json", results / "eval_neural.json")
    if neural:
        o = neural["overall"]
        lines += ["## Neural sources, eval split (utterances never seen in training)", "",
                  table(["files (genuine + synthetic)", "EER (95% bootstrap interval)", "minDCF", "Cllr", "false alarms @balanced",
                         "misses @balanced"],
                        [[f"{o['n_bonafide']} + {o['n_spoof']}", eer_cell(o), num(o.get("min_dcf")),
                          num(o.get("cllr")), pct(o.get("false_alarm_rate_balanced")),
                          pct(o.get("miss_rate_balanced"))]]), "",
                  "### Per source (its genuine and synthetic eval clips)", "",
                  group_table("source", neural.get("per_source", {})), "",
                  "### Per synthesis family (its synthetic clips against all genuine neural eval clips)", "",
                  group_table("family", neural["per_family"]), "",
                  "### Per generator", "",
                  group_table("generator", neural["per_generator"]), "",
                  "### Per channel condition (neural eval split)", "",
                  group_table("condition", neural["per_condition"]), ""]
    voc = measured(work / "eval" / "vocoded" / "eval.json", results / "eval_vocoded.json")
    if voc:
        lines += ["## Vocoders trained here: copies of held-out genuine speakers", "",
                  "Each checkpoint resynthesises eval-split genuine clips (speakers never seen by the vocoders "
                  "or the detector); the copies are scored against all genuine eval clips of the Debian corpus.", "",
                  group_table("vocoder checkpoint", voc["per_generator"]), ""]
    games = measured(work / "eval" / "games" / "eval.json", results / "eval_games.json")
    if games:
        o = games["overall"]
        lines += ["## Game voice acting: Flight of the Amazon Queen (`corpus/extract_games.py`)", "",
                  "English lines of the game's cast (Debian package flight-of-the-amazon-queen) against a "
                  "resynthesised copy of each line (Debian's vocoders and the vocoders trained here); "
                  "both classes through the game's native channel (11 kHz, MP3 16 kb/s) and the chain. "
                  "The eval split holds scenes and sentences never seen in training; the cast is small, "
                  "so an actor can be in both.", "",
                  table(["files (genuine + synthetic)", "EER (95% bootstrap interval)", "minDCF", "Cllr",
                         "false alarms @balanced", "misses @balanced"],
                        [[f"{o['n_bonafide']} + {o['n_spoof']}", eer_cell(o), num(o.get("min_dcf")),
                          num(o.get("cllr")), pct(o.get("false_alarm_rate_balanced")),
                          pct(o.get("miss_rate_balanced"))]]), "",
                  "### Per generator", "",
                  group_table("generator", games["per_generator"]), ""]
        sg = measured(work / "eval" / "shortcut_games.json", results / "shortcut_games.json")
        sgn = measured(work / "eval" / "shortcut_games_nodc.json", results / "shortcut_games_nodc.json")
        if sg:
            rows = [[k, pct(v["eval_eer"]), pct(sgn["classifiers"][k]["eval_eer"]) if sgn else "—"]
                    for k, v in sg["classifiers"].items()]
            lines += ["### Channel-shortcut check on the game lines", "",
                      "Classifiers on channel statistics only (as for the Debian corpus). A copy keeps its "
                      "original's channel draws, so what separates the classes here is what the generators did "
                      "to the signal: codec2 and LPC-10 remove almost all energy under 300 Hz (0.4–2.4% of the "
                      "energy against 31% in the genuine lines), the iSTFT vocoder raises the spectral roll-off "
                      "(2.5 kHz against 1.3 kHz) and leaves a DC offset, which the front-end removes.", "",
                      table(["classifier on channel statistics", "eval EER", "eval EER without dc"], rows), ""]
    loso = load(ROOT / "models" / "results" / "loso.json")
    if loso:
        st = loso["settings"]
        rows = [[k, v["fold"], v["spoof_clips"], v["own_bonafide_clips"], pct(v["eer"])]
                for k, v in sorted(loso["sources"].items(), key=lambda kv: -kv[1]["eer"])]
        lines += ["## Leave-one-source-out (neural sources)", "",
                  f"Sources dealt into {st['folds']} folds; each fold's sources are held out completely "
                  f"({st['epochs']} epochs × {st['steps']} steps, {st['features']}"
                  + (", each fold fine-tuned from the Debian-only model, which never saw a neural source"
                     if st.get("init") else "")
                  + (f", the kept sources in {1 + st['draws']} channel draws as in the shipped recipe"
                     if st.get("draws") else "")
                  + (f", without the generators the shipped recipe keeps out of training ({', '.join(st['excluded_systems'])})"
                     if st.get("excluded_systems") else
                     ", with every Debian generator in training (the shipped recipe has left Griffin-Lim and "
                     "unit selection out since 2026.12.07)")
                  + (f", the mean of the weights after epochs {st['average_from']}–{st['epochs']}, seed {st.get('seed')}"
                     if st.get("average_from") else "") + ") and their synthetic "
                  "clips are scored against their own genuine clips plus the eval-split genuine clips of all "
                  "other sources.", "",
                  table(["held-out source", "fold", "synthetic clips", "own genuine clips", "EER"], rows), "",
                  f"Mean EER {pct(loso['mean_eer'])}; worst source: {loso['worst']} "
                  f"({pct(loso['sources'][loso['worst']]['eer'])}).", ""]
    lines += loso_by_front_end(ROOT / "models" / "results")
    sn = measured(work / "eval" / "shortcut_neural.json", results / "shortcut_neural.json")
    if sn:
        rows = [[k, pct(v["eval_eer"])] for k, v in sn["classifiers"].items()]
        lines += ["### Channel-shortcut check on the neural sources", "",
                  table(["classifier on channel statistics", "eval EER"], rows), ""]
    return lines


def loso_by_front_end(results):
    """One row per committed leave-one-source-out run (results/loso*.json): the
    front-end and the recipe it was trained with, the mean and the worst source."""
    rows = []
    for f in sorted(results.glob("loso*.json")):
        d = load(f)
        if not d or not d.get("sources"):
            continue
        st = d["settings"]
        others = st.get("other_sets") or ({"vocoded": st["vocoded_weight"]} if "vocoded_weight" in st else {})
        rows.append([st["features"].removesuffix(".json"),
                     ", ".join(sorted(others)) or "—",
                     f"mean of epochs {st['average_from']}–{st['epochs']}" if st.get("average_from")
                     else "lowest dev EER",
                     st.get("seed", 1), ", ".join(st.get("excluded_systems") or []) or "—",
                     len(d["sources"]), pct(d["mean_eer"]),
                     f"{d['worst']} ({pct(d['sources'][d['worst']]['eer'])})",
                     f.name + (" (the shipped recipe, as build_model.sh runs it)" if f.name == "loso.json" else "")])
    if len(rows) < 2:
        return []
    return ["### Leave-one-source-out by front-end and recipe", "",
            "The same protocol (4 folds, the kept pages in 3 channel draws, 12 × 300 steps) with other "
            "front-ends and recipes; \"other sets\" are the extra training sets besides the Debian corpus "
            "and the pages.", "",
            table(["front-end", "other sets", "weights", "seed", "generators kept out", "sources", "mean EER",
                   "worst source", "file"], rows), ""]


def shipped_contract():
    """The contract inside the committed default model (spoofd/contract.json), or {}."""
    try:
        import torch
        files = {"spoofd/contract.json": ""}
        torch.jit.load(str(ROOT / "models" / "spoofd-default.pt"), _extra_files=files)
        return json.loads(files["spoofd/contract.json"])
    except Exception:  # no torch here, or no model file: the card goes without the table
        return {}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work", default=str(ROOT / "models" / "work"))
    p.add_argument("--out", default=str(ROOT / "models" / "MODEL_CARD.md"))
    p.add_argument("--frontend-recipe", help="how the front-end runs (models/work/runs/<front-end>) were "
                                             "trained, for the card's text")
    args = p.parse_args()
    work = pathlib.Path(args.work)
    results = ROOT / "models" / "results"
    results.mkdir(parents=True, exist_ok=True)

    contract = load(work / "runs" / "contract_default.json") or shipped_contract()
    default = measured(work / "eval" / "default" / "eval.json", results / "eval_json")
    devset = measured(work / "eval" / "devset.json", results / "devset.json")
    shortcut = measured(work / "eval" / "shortcut.json", results / "shortcut.json")
    # The same check without the statistics the model's front-end cannot see
    # (shortcut_check.py --drop), e.g. dc once the contract has remove_dc.
    shortcut_blind = measured(work / "eval" / "shortcut_nodc.json", results / "shortcut_nodc.json")
    codecs = measured(work / "eval" / "codecs.json", results / "codecs.json")
    fronts = {fe: front_end_eval(work / "eval" / fe) for fe in FRONTENDS}
    logo = {}
    logo_dir = work / "eval" / "logo"
    if logo_dir.exists():
        for f in sorted(logo_dir.glob("*.json")):
            logo[f.stem] = json.loads(f.read_text())
    logo_from_results = False
    if not logo and (results / "logo.json").exists():
        # A machine without the LOGO runs (hours on 2 cores) keeps the committed table.
        logo = {k: {"overall": v} for k, v in json.loads((results / "logo.json").read_text()).items()}
        logo_from_results = True

    if (work / "eval" / "default" / "eval.det.png").exists():
        shutil.copy(work / "eval" / "default" / "eval.det.png", results / "eval_det.png")
    for fe, d in fronts.items():
        if d:
            (results / f"frontend_{fe}.json").write_text(json.dumps(d["overall"], indent=1))
    if logo and not logo_from_results:
        (results / "logo.json").write_text(json.dumps({k: v["overall"] for k, v in logo.items()}, indent=1))

    lines = ["# spoofd default model — model card",
             "",
             f"Generated {datetime.date.today().isoformat()} by `models/eval/model_card.py` from the "
             "evaluation files of `models/build_model.sh`; the raw numbers are in `models/results/`.",
             ""]
    lines += ["## What it is", "",
              "A compact 1-D residual CNN with attentive statistics pooling over frame features computed by "
              "spoofd's own C++ `dsp` code, trained on fixed 4 s segments, calibrated to a log-likelihood "
              "ratio on the dev split, exported to TorchScript with its contract "
              "(`spoofd/contract.json`: feature configuration, segment length and hop, calibration, "
              "operating points, training summary).", ""]
    if contract:
        ops = contract.get("operating_points", {})
        lines += [table(["field", "value"], [
            ["name / version", f"{contract.get('name')} {contract.get('version')}"],
            ["features", json.dumps(contract.get("feature_config"))],
            ["segment / hop", f"{contract.get('segment_s')} s / {contract.get('hop_s')} s"],
            ["calibration", f"llr = {contract['calibration']['scale']:.4f} · logit + {contract['calibration']['offset']:.4f}"],
            ["operating points", "; ".join(f"{k}: LLR ≥ {v['llr_threshold']:.3f} ({v.get('description', '')})"
                                          for k, v in ops.items())],
        ]), ""]

    if default:
        o = default["overall"]
        lines += ["## Held-out evaluation (speakers and texts never seen in training)", "",
                  "File-level decisions: every file scored through the C++ pipeline exactly as the "
                  "service scores it (segments aggregated by mean LLR).", "",
                  table(["files (genuine + synthetic)", "EER (95% bootstrap interval)", "minDCF", "actDCF", "Cllr",
                         "false alarms @balanced", "misses @balanced", "inconclusive", "errors"],
                        [[f"{o['n_bonafide']} + {o['n_spoof']}", eer_cell(o), num(o.get("min_dcf")),
                          num(o.get("act_dcf")), num(o.get("cllr")), pct(o.get("false_alarm_rate_balanced")),
                          pct(o.get("miss_rate_balanced")), o.get("inconclusive"), o.get("errors")]]), "",
                  "![DET curve](results/eval_det.png)", "",
                  "### Per generator (its synthetic clips against all genuine eval clips)", "",
                  group_table("generator", default["per_generator"]), "",
                  "### Per generator family", "",
                  group_table("family", default["per_family"]), "",
                  "### Per channel / codec condition (both classes in that condition)", "",
                  group_table("condition", default["per_condition"]), "",
                  "### False alarms on genuine speech at the `balanced` threshold, by source", "",
                  table(["genuine source", "files", "false-alarm rate"],
                        [[k, v["n"], pct(v["rate"])] for k, v in default["false_alarms_by_genuine_source"].items()]),
                  ""]
    front_rows = []
    for fe in FRONTENDS:
        log = work / "runs" / fe / "train.log"
        if not log.exists():
            continue
        epochs = []
        for line in log.read_text().splitlines():
            m = re.search(r"epoch (\d+)/(\d+) loss \S+ dev EER ([0-9.]+)% \((\d+) s\)", line)
            if m:
                epochs.append((int(m.group(1)), int(m.group(2)), float(m.group(3)) / 100, int(m.group(4))))
        if not epochs:
            continue
        at5 = next((e[2] for e in epochs if e[0] == 5), None)
        d = fronts.get(fe)
        neural = load(work / "eval" / fe / "neural" / "eval.json")
        dev = load(work / "eval" / fe / "devset.json")
        front_rows.append([fe, f"{epochs[-1][0]} of {epochs[-1][1]}", pct(at5), pct(min(e[2] for e in epochs)),
                           pct(d["overall"].get("eer")) if d else "—",
                           pct(neural["overall"].get("eer")) if neural else "—",
                           pct(dev["overall"].get("eer")) if dev else "—",
                           f"{sum(e[3] for e in epochs) / len(epochs):.0f} s"])
    # The rows are kept in results/frontends.json with the recipe they were measured
    # with, so a machine without those runs keeps the committed table.
    fronts_file = results / "frontends.json"
    if front_rows:
        recipe = args.frontend_recipe or "the recipe of the shipped model"
        fronts_file.write_text(json.dumps({"recipe": recipe, "rows": front_rows}, indent=1))
    elif fronts_file.exists():
        saved = json.loads(fronts_file.read_text())
        recipe, front_rows = saved["recipe"], saved["rows"]
        # Rows saved before the neural and devset columns existed.
        front_rows = [r if len(r) == 8 else r[:5] + ["—", "—"] + r[5:] for r in front_rows]
    if front_rows:
        lines += ["## Front-end comparison", "",
                  f"Same network, trained with {recipe}; dev split (file level, mean of window logits). Runs that "
                  "stopped early were stopped for the session's time budget; compare them at epoch 5.", "",
                  table(["front-end", "epochs run", "dev EER @ epoch 5", "best dev EER", "Debian eval EER",
                         "neural eval EER", "devset EER", "seconds / epoch"], front_rows), ""]
    if logo:
        rows = [[fam, v["overall"].get("n_spoof"), pct(v["overall"].get("eer")), num(v["overall"].get("min_dcf"))]
                for fam, v in logo.items()]
        eers = [v["overall"]["eer"] for v in logo.values() if "eer" in v["overall"]]
        # The recipe the table was trained with (logo.sh records it); older tables without
        # the record were trained with the shipped model's exclusions.
        logo_settings = measured(work / "eval" / "logo_settings.json", results / "logo_settings.json") or {}
        shipped_out = contract.get("training", {}).get("excluded_systems") or []
        kept_out = logo_settings.get("excluded_systems", shipped_out)
        same_recipe = sorted(kept_out) == sorted(shipped_out)
        epochs = logo_settings.get("epochs", 12)  # tables from before the record: 12 x 300, seed 3, 7-12
        # Earlier recipes' tables, kept in results/ (logo_x2.json holds its rows under "families").
        def mean_eer(name):
            d = load(results / name) or {}
            eers = [v["eer"] for v in d.get("families", d).values() if isinstance(v, dict) and "eer" in v]
            return pct(sum(eers) / len(eers)) if eers else None
        earlier = [(f, m, what) for f, what in (
            ("logo_x2.json", "Griffin-Lim and unit selection out of training, the default of 2026-12-07"),
            ("logo_g3.json", "every generator in training, on the training data before the sixteenth session's rebuild"))
            if (m := mean_eer(f))]
        lines += ["## Leave-one-generator-family-out", "",
                  "Each row: a model trained without that family's synthetic speech (its generators kept out "
                  "of the train and dev splits), tested on that family's eval clips against every genuine "
                  "eval clip, file level. `models/eval/logo.sh` trains it with "
                  + ("the shipped recipe: " if same_recipe else
                     f"a recipe that kept {', '.join(kept_out) or 'nothing'} out of training (the shipped "
                     f"model keeps {', '.join(shipped_out) or 'nothing'} out; this table has not been run "
                     "with its recipe): ")
                  + "the other training sets of models/train/extras.tsv (the demo pages in three channel "
                  "draws, the vocoder copies, the game lines) stay in training, "
                  + (f"the generators that recipe never trains on ({', '.join(kept_out)}; TRAIN_EXCLUDE "
                     "in models/train/extras.sh) stay out of every fold, " if kept_out else "")
                  + f"{epochs} × {logo_settings.get('steps', 300)} steps from scratch, seed "
                    f"{logo_settings.get('seed', 3)}, the mean of the weights after epochs "
                    f"{logo_settings.get('average_from', 7)}–{epochs}."
                  + (" A family made only of those generators would train that recipe's full model itself, so "
                     "its row scores that model." if kept_out else "")
                  + "".join(f" Earlier recipe, {what}: results/{f}, {m} mean." for f, m, what in earlier), "",
                  table(["held-out family", "synthetic files", "EER", "minDCF"], rows), "",
                  f"Mean EER over the families run: {pct(sum(eers) / len(eers)) if eers else '—'}."]
        logo_protocols = ROOT / "models" / "corpus" / "data" / "protocols" / "logo"
        if logo_protocols.exists():
            missing = sorted(d.name for d in logo_protocols.iterdir() if d.is_dir() and d.name not in logo)
            if missing:
                lines += [f"Not run yet: {', '.join(missing)}."]
        lines += [""]
    if codecs:
        rows = [[k, v["n"], pct(v["eer"]), num(v["mean_abs_llr_change"]), num(v["p95_abs_llr_change"]),
                 pct(v["decision_flip_rate"])] for k, v in codecs["codecs"].items()]
        lines += ["## Codec invariance", "",
                  f"{codecs['clips_per_class']} clean eval clips per class, each passed through every codec and recording-chain fault (DC offset, high-pass, level); "
                  "the LLR change is against the same clip's original.", "",
                  table(["codec", "clips", "EER", "mean |ΔLLR|", "p95 |ΔLLR|", "decision flips"], rows), ""]
    if shortcut:
        rows = [[k, pct(v["eval_eer"])] for k, v in shortcut["classifiers"].items()]
        if shortcut_blind and shortcut_blind.get("dropped"):
            left_out = ", ".join(shortcut_blind["dropped"])
            rows += [[f"{k}, without {left_out}", pct(v["eval_eer"])]
                     for k, v in shortcut_blind["classifiers"].items()]
        single = sorted(shortcut["single_feature_eer"].items(), key=lambda kv: kv[1])[:4]
        lines += ["## Channel-shortcut check", "",
                  "Classifiers trained on channel statistics only (level, bandwidth, roll-off, band energies, "
                  "noise floor, silence, DC, codec condition) — nothing about the voice. 50% EER means the "
                  "channel does not give the class away.", "",
                  table(["classifier on channel statistics", "eval EER"], rows), "",
                  "Most telling single statistics: " +
                  ", ".join(f"{k} {pct(v)}" for k, v in single) + ".", ""]
    if devset:
        o = devset["overall"]
        rows = [[k, f"{v['n_bonafide']} + {v['n_spoof']}", pct(v.get("eer")), pct(v.get("false_alarm_rate_balanced")),
                 pct(v.get("miss_rate_balanced"))] for k, v in devset["per_source"].items()]
        lines += ["## devset (public neural clones) — evaluation only", "",
                  "Real-world neural clones from `../shared/devset`, never used for training, calibration "
                  "or thresholds.", "",
                  table(["source", "genuine + synthetic", "EER", "false alarms @balanced", "misses @balanced"], rows),
                  "", f"Overall: EER {pct(o.get('eer'))}, Cllr {num(o.get('cllr'))}, false alarms "
                  f"{pct(devset['false_alarm_rate_balanced'])}, misses {pct(devset['miss_rate_balanced'])} "
                  "at the balanced threshold.", ""]
    lines += neural_sections(work, results)
    extra = ROOT / "models" / "MODEL_CARD.notes.md"
    if extra.exists():
        lines += [extra.read_text()]
    pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
