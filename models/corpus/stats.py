#!/usr/bin/python3
"""Step 5: writes models/corpus/README.md from the corpus metadata (rerunnable).

Reads data/protocols/meta.tsv; while a build is still running it falls back to the
per-task sidecars written so far (tables then say which stage they come from).
--probe also trains classifiers on channel-only features (bandwidth, energy above
4 kHz, noise floor, leading-silence level, duration) and reports how well they
separate the classes on eval: the check for the "channel trap" of shared/DATA.md.
"""

import argparse
import glob
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import channel as CH  # noqa: E402
import common as C  # noqa: E402
import generators as G  # noqa: E402

HEAD = """# spoofd training corpus (genuine vs synthetic speech)

Everything here is built from Debian 12 `main` packages by the scripts in this
directory; no audio is stored in git (`models/corpus/data/` is ignored).
Public neural speech fetched from GitHub demo pages and the vocoders trained here
are described in [NEURAL.md](NEURAL.md). A separate set of English voice acting
(the lines of Debian's flight-of-the-amazon-queen, each with one resynthesised copy)
is built by `extract_games.py` into `data/games/` (its docstring says how): 6,143
lines, 5.3 h. `--games queen,sky` adds the 3,196 lines of beneath-a-steel-sky
(2.3 h after the chain, 6.5 min on one core); the shipped model does not use them
(measured in the eleventh session of `models/MODEL_CARD.notes.md`).

## Rebuild

```sh
sudo apt-get install -y --no-install-recommends $(cat models/corpus/packages.txt)
models/corpus/build_corpus.sh --smoke            # ~10 min of audio, a few minutes
models/corpus/build_corpus.sh --jobs 2           # full build into models/corpus/data/ (13.5 min on 2 cores, 2026-11-27; 13 min on a fresh machine, 2026-12-07)
#   options: --hours H (genuine hours, default 7), --max-per-source N, --seed S, --data DIR
```

Every step is resumable (atomic writes + per-task JSON sidecars; kill it and rerun
the same command). Steps: `extract_genuine.py` -> `synthesize.py` -> `augment.py`
(`channel.py`) -> `protocol.py` -> `stats.py` (this file). Outputs:

| path | content |
|---|---|
| `data/genuine/<source>/<speaker>/<id>.wav`, `data/genuine/meta.tsv` | genuine clips (16 kHz) with source, speaker group, language, transcript, native rate/codec/bandwidth |
| `data/spoof/<generator>/<id>.wav`, `data/spoof/meta.tsv` | synthetic clips with the genuine clip (resynthesis) or text (TTS) they came from, and the genuine clip they are channel-matched to |
| `data/clips/<clip_id>.wav` | final training clips, 16 kHz mono s16, after the channel chain |
| `data/protocols/{train,dev,eval}.txt` | ASVspoof format: `SPEAKER CLIP_ID - SYSTEM_ID bonafide\\|spoof` |
| `data/protocols/meta.tsv` | one row per clip: clip_id, split, label, speaker, source, language, text_id, generator, family, kind, condition, duration_s, native_rate_hz, ... |
| `data/protocols/logo/<family>/{train,dev,eval}.txt` | leave-one-generator-family-out: train/dev without that family's spoof; eval = that family's spoof (any split) + eval bonafide |

## How it avoids shortcuts

* **Same channel chain for both classes** (`augment.py`): silence trimmed, random
  loudness (-30..-16 dBFS active RMS), a noise floor 35-65 dB under the speech and
  0-0.5 s of padding made of it (never digital zero), then one channel condition drawn
  from the same table for both classes (clean, G.711 u/A-law, GSM 06.10, G.722, G.726,
  AMR-NB, MP3, AAC-LC, Opus, Speex, 300-3400 Hz band limit, white/pink/babble noise at
  5-30 dB SNR, synthetic reverberation, slow gain rides).
* **Native-channel matching of synthetic clips**: each synthetic clip first goes to the
  native sample rate, codec (GSM, G.711, Vorbis) and effective bandwidth of a paired
  genuine clip: its own source recording for resynthesis, a random genuine clip of the
  same language (and split) for TTS. 8 kHz IVR prompts therefore have 8 kHz fakes.
* **Language balance**: synthetic hours are planned per language from the genuine hours
  of that language (English x3 because most parametric voices are English-only);
  a language with few voices gets a smaller TTS share (at most 2.5 x the summed
  weights of its voices) and more resynthesis; eSpeak's weight in English is cut to 30 %.
* **Same sentences**: TTS first speaks the transcripts of the genuine speakers of its
  language (asterisk prompts, festvox-ru prompts, Fish Fillets lines, Tux Paint
  descriptions, LibriVox), then Fish Fillets translations.
* **Splits**: disjoint by speaker group (one real person, across packages/languages) and
  by text (same sentence, same language); resynthesised clips follow their source
  speaker, a TTS voice built from a genuine speaker (msu_ru_nsh_clunits <- festvox-ru)
  follows that speaker, other TTS clips follow their text. Held out for eval only: the
  Italian asterisk voices (a language no train speaker uses), pocketsphinx and codec2
  examples; Dutch Fish Fillets is split between dev and eval by character.
"""

NOTES = """## Label and licence notes

* Genuine sources are human recordings as shipped by Debian; excluded as possibly
  synthetic or unknown: `qabcs-data`, FlightGear callouts, speech-dispatcher's dummy
  message, `python3-aiortc`'s demo file, codec2's `f2400/m2400` (codec output), `hts*`
  and off-air radio captures. Fish Fillets `*-x-*` ids (sound effects) and lines without
  text are skipped; Tux Paint duplicates are removed by content hash.
* Some genuine sources are themselves coded (asterisk-prompt-es-co and -fr-armelle
  are GSM 06.10; Fish Fillets and Tux Paint are Vorbis): native-channel matching gives
  the paired synthetic clips the same codec.
* codec2 and LPC-10 are real (radio/military) speech codecs, labelled *spoof* here
  because they re-synthesise speech from vocoder parameters; a deployment that sees
  FreeDV/codec2 radio audio will flag it. GSM/AMR/Opus etc. are channel conditions for
  both classes, never labels.
* festival `msu_ru_nsh_clunits` is unit selection from the festvox-ru speaker's own
  recordings. It is never given that speaker's prompts (it would splice the original
  recording back); it speaks other Russian text.
* Licences (from each package's /usr/share/doc/*/copyright): asterisk core sounds
  CC-BY-SA-3.0 (parts CC-BY-3.0), asterisk-prompt-it-menardi CC-BY-SA-3.0,
  asterisk-prompt-es-co GPL-2, asterisk-prompt-fr-armelle GPL-2+, festvox-ru BSD-like,
  Fish Fillets data GPL-2, Tux Paint stamps GPL-2, klettres/ktuberling GPL-2+/CC0/CC-BY,
  codec2-examples LGPL-2.1, pocketsphinx-testdata BSD-2; the voices: festival/festvox
  and flite BSD-like, eSpeak NG GPL-3+. All DFSG-free. Derived audio keeps these terms
  and stays out of git; CC-BY(-SA) sources need attribution if the corpus is shared,
  and whether model weights trained on GPL/CC-BY-SA audio are derivative works is
  unsettled: ship the attribution list with the model.
"""


def load(data):
    p = os.path.join(data, "protocols", "meta.tsv")
    if os.path.exists(p):
        return C.read_tsv(p), "protocols/meta.tsv (complete build)"
    rows, stage = [], []
    for pat, label in (("genuine/_done/*/*.json", "bonafide"), ("spoof/_done/*/*.json", "spoof")):
        n = 0
        for f in glob.glob(os.path.join(data, pat)):
            try:
                for r in C.read_json(f):
                    r["label"] = label
                    r.setdefault("split", "?")
                    r.setdefault("condition", "?")
                    if label == "bonafide":
                        r.update(generator="-", family="-", kind="-")
                    rows.append(r)
                    n += 1
            except (OSError, ValueError):
                pass
        stage.append(f"{label} {n}")
    aug = len(glob.glob(os.path.join(data, "clips", "_done", "*", "*.json")))
    # Planned splits (protocol.py has the final word, incl. dropped conflicts).
    import splits as S
    cfgp = os.path.join(data, "config.json")
    seed = C.read_json(cfgp)["seed"] if os.path.exists(cfgp) else 0
    tsplit = S.TextSplits([r for r in rows if r["label"] == "bonafide"], seed)
    for r in rows:
        if r["label"] == "bonafide" or r.get("kind") == "resynthesis":
            r["split"] = S.group_split(r["group"], seed)
        elif r.get("derived_from"):
            r["split"] = S.group_split(r["derived_from"], seed)
        else:
            r["split"] = tsplit(r["text_id"])
    return rows, f"partial build in progress (sidecars so far: {', '.join(stage)}; augmented {aug})"


def hours(rows):
    return sum(float(r.get("duration_s") or 0) for r in rows) / 3600


def table(rows, key, title, extra=None, by_label=True):
    fmt = "{:.2f}" if hours(rows) >= 2 else "{:.3f}"
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    hdr = [title]
    if by_label:
        hdr += ["bonafide h", "spoof h", "clips"]
    else:
        hdr += ["hours", "clips"]
    if extra:
        hdr += [e[0] for e in extra]
    out = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for k in sorted(groups, key=lambda k: (-hours(groups[k]), str(k))):
        g = groups[k]
        cells = [str(k)]
        if by_label:
            cells += [fmt.format(hours([r for r in g if r['label'] == 'bonafide'])),
                      fmt.format(hours([r for r in g if r['label'] == 'spoof'])), str(len(g))]
        else:
            cells += [fmt.format(hours(g)), str(len(g))]
        if extra:
            cells += [e[1](g) for e in extra]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def uniq(field, n=6):
    def f(g):
        vals = sorted({str(r.get(field, "")) for r in g if r.get(field, "") != ""})
        return ", ".join(vals[:n]) + (f" (+{len(vals) - n})" if len(vals) > n else "")
    return f


# ----------------------------------------------------------------------------
# Channel-shortcut probe
# ----------------------------------------------------------------------------

def channel_features(path):
    x, sr = C.read_audio(path)
    db, n = C.frame_energy_db(x, sr, 20.0)
    act = db.max()
    from scipy import signal
    f, p = signal.welch(x, fs=sr, nperseg=512)
    tot = p.sum() + 1e-20
    hi4 = p[f >= 4000].sum() / tot
    hi6 = p[f >= 6000].sum() / tot
    lo3 = p[f < 300].sum() / tot
    cum = np.cumsum(p) / tot
    roll95 = f[np.searchsorted(cum, 0.95)]
    roll99 = f[min(len(f) - 1, np.searchsorted(cum, 0.99))]
    lead = db[: max(1, int(0.1 / 0.02))].mean() - act
    return [np.log10(hi4 + 1e-12), np.log10(hi6 + 1e-12), np.log10(lo3 + 1e-12), roll95, roll99,
            C.estimate_bandwidth_hz(x, sr, -50.0), np.percentile(db, 10) - act,
            np.percentile(db, 50) - act, lead, len(x) / sr]


FEATURE_NAMES = ["log E>4k", "log E>6k", "log E<300", "rolloff95", "rolloff99", "bandwidth",
                 "floor p10", "median frame", "lead level", "duration"]


def probe(rows, data, max_per_split=1500, seed=0):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    sets = {}
    for split in ("train", "eval"):
        lst = [r for r in rows if r.get("split") == split]
        lst.sort(key=lambda r: C.stable_hash(seed, "probe", r["clip_id"]))
        lst = lst[:max_per_split]
        X = np.array([channel_features(os.path.join(data, r["path"])) for r in lst])
        y = np.array([r["label"] == "spoof" for r in lst], int)
        sets[split] = (X, y, lst)
    Xtr, ytr, _ = sets["train"]
    Xev, yev, lev = sets["eval"]
    if len(set(ytr)) < 2 or len(set(yev)) < 2:
        return "probe skipped: a split lacks one class"
    res = []
    for name, clf in (("logistic regression", make_pipeline(StandardScaler(),
                                                           LogisticRegression(max_iter=2000))),
                      ("gradient boosting", HistGradientBoostingClassifier(max_iter=200))):
        clf.fit(Xtr, ytr)
        s = clf.predict_proba(Xev)[:, 1]
        auc = roc_auc_score(yev, s)
        res.append(f"| {name} | {auc:.3f} | {eer(yev, s) * 100:.1f} % |")
    single = []
    for j, fn in enumerate(FEATURE_NAMES):
        a = roc_auc_score(yev, Xev[:, j])
        single.append((max(a, 1 - a), fn))
    single.sort(reverse=True)
    out = [f"Channel-only features ({', '.join(FEATURE_NAMES)}) of {len(ytr)} train and "
           f"{len(yev)} eval clips; classifiers trained on train, scored on eval. "
           "AUC 0.5 = no shortcut; a detector should not be able to rely on these.", "",
           "| classifier | eval AUC | eval EER |", "|---|---|---|"] + res + [
           "", "Most separating single features (eval AUC, orientation-free): " +
           ", ".join(f"{fn} {a:.2f}" for a, fn in single[:4]) + "."]
    return "\n".join(out)


def eer(y, s):
    order = np.argsort(-s)
    y = y[order]
    tp = np.cumsum(y) / max(1, y.sum())
    fp = np.cumsum(1 - y) / max(1, (1 - y).sum())
    fnr = 1 - tp
    i = int(np.argmin(np.abs(fnr - fp)))
    return float((fnr[i] + fp[i]) / 2)


# ----------------------------------------------------------------------------

# The training sets added to the Debian corpus by build_model.sh (models/train/extras.tsv).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
import extras  # noqa: E402


def training_summary(rows, data):
    """What the model was trained on, for the contract's training.data (export.py
    --training-summary): the Debian corpus's train split and each extra set's."""
    train = [r for r in rows if r.get("split") == "train"]
    by_label = lambda rs, lab: [r for r in rs if r["label"] == lab]  # noqa: E731
    summary = {
        "corpus": f"spoofd Debian corpus (models/corpus, built {time.strftime('%Y-%m-%d')})",
        "train_hours": {lab: round(hours(by_label(train, lab)), 2) for lab in ("bonafide", "spoof")},
        "train_clips": len(train),
        "genuine_sources": sorted({r["source"] for r in by_label(train, "bonafide")}),
        "generators": sorted({r["generator"] for r in by_label(train, "spoof")}),
        "channel_conditions": sorted({r["condition"] for r in train}),
        "languages": sorted({r["language"] for r in train if r.get("language")}),
        "extra_sets": {},
    }
    for _, name, _ in extras.extra_sets():
        meta = os.path.join(data, name, "meta.tsv")
        if not os.path.exists(meta):
            continue
        extra = [r for r in C.read_tsv(meta) if r.get("split") == "train"]
        summary["extra_sets"][name] = {
            "train_clips": {lab: len(by_label(extra, lab)) for lab in ("bonafide", "spoof")},
            "train_hours": {lab: round(hours(by_label(extra, lab)), 2) for lab in ("bonafide", "spoof")},
            "sources": sorted({r.get("source", "?") for r in extra}),
            "generators": sorted({r.get("generator", "?") for r in extra if r["label"] == "spoof"}),
        }
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(C.CORPUS_DIR, "README.md"))
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--summary-json", metavar="PATH",
                    help="write only the training-data summary for the model contract, as JSON")
    args = ap.parse_args()
    data = C.DATA_DIR
    rows, origin = load(data)
    if args.summary_json:
        if not origin.startswith("protocols"):
            sys.exit(f"stats.py: the corpus build is not complete ({origin})")
        C.atomic_write_text(args.summary_json, json.dumps(training_summary(rows, data), indent=1) + "\n")
        print(f"stats: wrote {args.summary_json}")
        return
    cfg = C.read_json(os.path.join(data, "config.json")) if os.path.exists(
        os.path.join(data, "config.json")) else {}
    bon = [r for r in rows if r["label"] == "bonafide"]
    spf = [r for r in rows if r["label"] == "spoof"]
    parts = [HEAD, "## Contents", "",
             f"Generated by `stats.py` on {time.strftime('%Y-%m-%d %H:%M')} from `{origin}` "
             f"(config: {cfg}).", "",
             f"**{hours(rows):.2f} h in {len(rows)} clips: {hours(bon):.2f} h bonafide "
             f"({len(bon)}), {hours(spf):.2f} h spoof ({len(spf)}); "
             f"resynthesis {hours([r for r in spf if r.get('kind') == 'resynthesis']):.2f} h "
             f"({100 * hours([r for r in spf if r.get('kind') == 'resynthesis']) / max(1e-9, hours(spf)):.0f} % of spoof).**",
             ""]
    if rows:
        durs = np.array([float(r["duration_s"]) for r in rows])
        parts += [f"Clip length: median {np.median(durs):.1f} s, 5-95 % "
                  f"{np.percentile(durs, 5):.1f}-{np.percentile(durs, 95):.1f} s, "
                  f"max {durs.max():.1f} s.", ""]
    parts += ["### Per split", "", table(rows, lambda r: r.get("split", "?"), "split",
                                         extra=[("speakers", lambda g: str(len({r['speaker'] for r in g if r['label'] == 'bonafide'}))),
                                                ("generators", lambda g: str(len({r['generator'] for r in g if r['label'] == 'spoof'})))]), ""]
    parts += ["### Genuine sources", "",
              table(bon, lambda r: r.get("source", "?"), "source package", by_label=False,
                    extra=[("languages", uniq("language")),
                           ("native rate Hz", uniq("native_rate_hz")),
                           ("native codec", uniq("native_codec")),
                           ("speaker groups", lambda g: str(len({r.get('group') for r in g}))),
                           ("splits", uniq("split"))]), ""]
    gen_info = {g.name: g for g in G.GENERATORS}
    parts += ["### Generators", "",
              table(spf, lambda r: r.get("generator", "?"), "generator", by_label=False,
                    extra=[("family", uniq("family")), ("kind", uniq("kind")),
                           ("languages", uniq("language", 8)),
                           ("notes", lambda g: gen_info[g[0]["generator"]].notes
                            if g[0].get("generator") in gen_info else "")]), ""]
    parts += ["### Families", "", table(spf, lambda r: r.get("family", "?"), "family",
                                        by_label=False, extra=[("generators", uniq("generator", 9)),
                                                               ("splits", uniq("split"))]), ""]
    parts += ["### Channel conditions (same distribution for both classes)", "",
              table(rows, lambda r: r.get("condition", "?"), "condition",
                    extra=[("target p", lambda g: next((f"{p:.2f}" for n, p, _ in CH.CONDITIONS
                                                        if n == g[0].get("condition")), ""))]), ""]
    parts += ["### Languages", "", table(rows, lambda r: r.get("language", "?"), "language"), ""]
    if args.probe and origin.startswith("protocols"):
        try:
            parts += ["### Channel-shortcut probe", "", probe(rows, data), ""]
        except Exception as e:  # noqa: BLE001
            parts += ["### Channel-shortcut probe", "", f"probe failed: {e}", ""]
    parts += [NOTES]
    C.atomic_write_text(args.out, "\n".join(parts) + "\n")
    print(f"stats: wrote {args.out} ({origin}; {len(rows)} clips, {hours(rows):.2f} h)")


if __name__ == "__main__":
    main()
