#!/usr/bin/python3
"""Step 2: run the generators of generators.py.

  TTS          speaks sentences: first the transcripts of the genuine speakers of the
               same language (so both classes say the same things), then extra
               sentences of that language (Fish Fillets translations, joined Tux Paint
               descriptions).
  resynthesis  re-synthesises genuine clips with a vocoder (same speaker, same text).

Amounts are planned PER LANGUAGE so that language cannot tell the classes apart:
spoof hours of language L = genuine hours of L x spoof_ratio x boost(L) (English
gets a boost because most parametric voices are English-only); of that, the TTS
share (sum of TTS weights) is divided among the TTS generators that speak L, and
the rest goes to resynthesis of L's genuine clips. A language without any voice is
covered by resynthesis alone.

Output: data/spoof/<generator>/<clip_id>.wav (16 kHz) + data/spoof/meta.tsv with,
for every clip, the genuine clip (resynthesis) or text/speaker (TTS) it came from
and the genuine clip whose native channel it will be matched to (pair_*).
"""

import argparse
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import generators as G  # noqa: E402
import splits as S  # noqa: E402
from extract_genuine import FILLETS, TUX, _LUA_ID, _LUA_STR, norm_text  # noqa: E402

STEP = "synth"
MIN_CLIP_S = 1.0
MAX_CLIP_S = 12.0
CHARS_PER_S = 14.0  # rough speaking rate used only to plan amounts
MIN_TEXT_CHARS, MAX_TEXT_CHARS = 8, 170
TTS_PER_WEIGHT = 2.5  # TTS share of a language <= 2.5 x the summed weights of its voices

# ----------------------------------------------------------------------------
# Text pools
# ----------------------------------------------------------------------------

FILLETS_LANGS = {"bg", "cs", "de", "en", "eo", "es", "fr", "it", "nl", "pl", "ru", "sl", "sv"}


def fillets_texts():
    """{lang: [(text_id, text)]} from every level's dialogs (English = originals)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(FILLETS, "script", "*", "dialogs*.lua"))):
        m = re.search(r"dialogs(?:_([a-zA-Z_]+))?\.lua$", path)
        lang = m.group(1) or "en"
        if lang not in FILLETS_LANGS:
            continue
        cur = None
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                mi = _LUA_ID.search(line)
                if mi:
                    cur = mi.group(1)
                    parts = cur.split("-")
                    if lang == "en" and mi.group(3).strip() and not (len(parts) > 1 and parts[1] == "x"):
                        out.setdefault("en", []).append((f"en:fillets-{cur}", mi.group(3)))
                    continue
                ms = _LUA_STR.search(line)
                if ms and cur and lang != "en" and ms.group(1).strip():
                    out.setdefault(lang, []).append((f"{lang}:fillets-{cur}", ms.group(1)))
    return {k: sorted(set(v)) for k, v in out.items()}


def tuxpaint_joined_texts(per_text=4):
    """{lang: [(text_id, text)]}: several stamp descriptions joined into one
    utterance, for languages with no longer sentences."""
    desc = {}
    for path in sorted(glob.glob(os.path.join(TUX, "**", "*.txt"), recursive=True)):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = re.match(r"^([a-z]{2,3})\.utf8=(.+)$", line.strip())
                    if m and len(m.group(2)) > 3:
                        desc.setdefault(m.group(1), []).append(m.group(2).strip().rstrip("|"))
        except OSError:
            continue
    out = {}
    for lang, lst in desc.items():
        lst = sorted(set(lst))
        for i in range(0, len(lst) - per_text + 1, per_text):
            t = " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in lst[i:i + per_text])
            out.setdefault(lang, []).append((f"{lang}:tuxcat-{C.short_hash(lang, t)}", t))
    return out


def clean_text(t):
    t = t.replace('\\"', '"').replace("\\n", " ")
    return re.sub(r"\s+", " ", t).strip()


def text_ok(t):
    return MIN_TEXT_CHARS <= len(t) <= MAX_TEXT_CHARS and norm_text(t)


# ----------------------------------------------------------------------------
# Planning
# ----------------------------------------------------------------------------

def plan(cfg, genuine, gens):
    seed = cfg["seed"]
    tsplit = S.TextSplits(genuine, seed)
    ratio = cfg.get("spoof_ratio", 1.0)
    boost = cfg.get("lang_boost", {"en": 3.0})
    tts = [g for g in gens if g.kind == "tts"]
    res = [g for g in gens if g.kind == "resynthesis"]
    w_tts = sum(g.weight for g in G.GENERATORS if g.kind == "tts")
    w_all = sum(g.weight for g in G.GENERATORS)
    tts_share = w_tts / w_all

    by_lang = {}
    for r in genuine:
        by_lang.setdefault(r["language"], []).append(r)
    lang_s = {L: sum(float(r["duration_s"]) for r in rows) for L, rows in by_lang.items()}

    # Genuine transcripts per language (unique text_id; full text of split clips).
    gtexts = {}
    for r in genuine:
        t = clean_text(r.get("full_text") or r.get("text") or "")
        if text_ok(t):
            gtexts.setdefault(r["language"], {}).setdefault(r["text_id"], t)
    extra = fillets_texts()
    for L, lst in tuxpaint_joined_texts().items():
        if L not in extra:
            extra[L] = lst

    # Pair lookup for TTS: genuine clips by (language, split).
    pair_pool = {}
    for r in genuine:
        pair_pool.setdefault((r["language"], S.group_split(r["group"], seed)), []).append(r)
        pair_pool.setdefault((r["language"], None), []).append(r)
    all_rows = sorted(genuine, key=lambda r: r["clip_id"])

    def pick_pair(key, lang, split):
        pool = pair_pool.get((lang, split)) or pair_pool.get((lang, None)) or all_rows
        return pool[C.stable_hash(seed, "pair", key) % len(pool)]

    tts_tasks, res_tasks, budget_log = [], [], []
    for L in sorted(lang_s):
        target = lang_s[L] * ratio * boost.get(L, 1.0)
        voices = [g for g in tts if L in g.languages]
        wsum = sum(g.weight_for(L) for g in voices)
        # A language with few voices gets less TTS (more resynthesis), so that one
        # engine (eSpeak) does not dominate the synthetic class of that language.
        tts_budget = target * min(tts_share, TTS_PER_WEIGHT * wsum) if voices else 0.0
        tts_done = 0.0
        for g in voices:
            budget = tts_budget * g.weight_for(L) / wsum
            cands = []
            if g.text_pool != "extra":
                gl = sorted(gtexts.get(L, {}).items())
                gl.sort(key=lambda kv: C.stable_hash(seed, g.name, kv[0]))
                cands += gl
            ex = [(tid, clean_text(t)) for tid, t in extra.get(L, [])]
            ex = [(tid, t) for tid, t in ex if text_ok(t)]
            ex.sort(key=lambda kv: C.stable_hash(seed, g.name, kv[0]))
            cands += ex
            if g.derived_from:
                want = S.group_split(g.derived_from, seed)
                cands = [c for c in cands if tsplit(c[0]) == want]
            acc, items = 0.0, []
            for tid, t in cands:
                if not text_ok(t):
                    continue
                est = min(max(len(t) / CHARS_PER_S, 1.0), MAX_CLIP_S)
                if acc + est / 2 > budget:
                    break  # stop before overshooting (tiny budgets get nothing)
                items.append((tid, t))
                acc += est
            tts_done += acc
            for b in range(0, len(items), g.batch_size):
                batch = []
                for tid, t in items[b:b + g.batch_size]:
                    cid = f"s_{g.name}_{C.short_hash(g.name, tid, n=10)}"
                    split = S.group_split(g.derived_from, seed) if g.derived_from else tsplit(tid)
                    pr = pick_pair(cid, L, split)
                    batch.append(dict(clip_id=cid, text=t, text_id=tid, language=L,
                                      pair=pr["clip_id"]))
                # The id names the batch's content: a re-plan never mistakes an old,
                # differently filled batch for this one.
                ident = C.short_hash(*[it["clip_id"] for it in batch], n=8)
                tts_tasks.append(dict(kind="tts", gen=g.name, language=L,
                                      task_id=f"{g.name}_{L}_{b // g.batch_size:05d}_{ident}",
                                      items=batch))
        # Resynthesis covers the rest of the language's budget.
        res_budget = max(0.0, target - tts_done)
        budget_log.append((L, lang_s[L], target, tts_done, res_budget))
        if not res:
            continue
        rw = sum(g.weight for g in res)
        remaining = {g.name: res_budget * g.weight / rw for g in res}
        clips = sorted(by_lang[L], key=lambda r: C.stable_hash(seed, "resynth", r["clip_id"]))
        used = set()
        for _pass in range(4):
            if all(v <= 0.5 for v in remaining.values()):
                break
            for r in clips:
                half = float(r["duration_s"]) / 2
                open_g = [g for g in res if remaining[g.name] > half
                          and (g.name, r["clip_id"]) not in used]
                if not open_g:
                    continue  # nothing fits this clip; a shorter one may still fit
                g = max(open_g, key=lambda g: remaining[g.name] / (res_budget * g.weight / rw + 1e-9))
                used.add((g.name, r["clip_id"]))
                remaining[g.name] -= float(r["duration_s"])
                res_tasks.append(dict(kind="resynthesis", gen=g.name, language=L,
                                      task_id=f"{g.name}_{r['clip_id']}",
                                      clip_id=f"s_{g.name}_{r['clip_id'][2:]}", src=r))
    return tts_tasks, res_tasks, budget_log


# ----------------------------------------------------------------------------
# Execution
# ----------------------------------------------------------------------------

_GENUINE = {}


def sidecar_path(t):
    return C.data_path("spoof", "_done", t["gen"], t["task_id"] + ".json")


def _pair_cols(pair_id):
    p = _GENUINE.get(pair_id, {})
    return dict(pair_clip_id=pair_id, pair_native_rate_hz=p.get("native_rate_hz", ""),
                pair_native_codec=p.get("native_codec", ""),
                pair_bandwidth_hz=p.get("bandwidth_hz", ""),
                pair_source=p.get("source", ""), pair_group=p.get("group", ""))


def _write_clip(gen, clip_id, x, sr, base):
    y = C.resample(x, sr, C.TARGET_RATE_HZ)
    y = y / max(1.0, float(abs(y).max()) / 0.99) if len(y) else y
    rows = []
    pieces = C.split_long(y, C.TARGET_RATE_HZ, max_s=MAX_CLIP_S)
    for k, (_start, seg) in enumerate(pieces):
        active = C.trim_silence(seg, C.TARGET_RATE_HZ)
        if len(active) < MIN_CLIP_S * C.TARGET_RATE_HZ or C.rms_dbfs(active) < -60:
            continue
        cid = clip_id + (f"_p{k}" if len(pieces) > 1 else "")
        rel = os.path.join("spoof", gen.name, cid + ".wav")
        C.write_wav_atomic(C.data_path(rel), seg)
        row = dict(base)
        row.update(clip_id=cid, generator=gen.name, family=gen.family, kind=gen.kind,
                   native_rate_hz=sr, duration_s=round(len(seg) / C.TARGET_RATE_HZ, 3),
                   path=rel, segment=k if len(pieces) > 1 else "")
        if len(pieces) > 1:
            row["text"] = ""
        rows.append(row)
    return rows


def process(t):
    gen = G.BY_NAME[t["gen"]]
    cfg_seed = _CFG["seed"]
    rows = []
    if t["kind"] == "tts":
        rng = C.stable_rng(cfg_seed, "tts", t["task_id"])
        outs = gen.synth([(it["text"], it["language"]) for it in t["items"]], rng)
        for it, o in zip(t["items"], outs):
            if o is None or len(o[0]) == 0:
                continue
            base = dict(language=it["language"], text=it["text"], full_text=it["text"],
                        text_id=it["text_id"], speaker=gen.name,
                        group=gen.derived_from or f"tts_{gen.name}",
                        derived_from=gen.derived_from, source_clip_id="",
                        source="", orig_path="")
            base.update(_pair_cols(it["pair"]))
            rows += _write_clip(gen, it["clip_id"], o[0], o[1], base)
    else:
        src = t["src"]
        x, sr = C.read_audio(C.data_path(src["path"]))
        rng = C.stable_rng(cfg_seed, "resynth", t["task_id"])
        y, ysr = gen.synth(x, sr, rng)
        base = dict(language=src["language"], text=src.get("text", ""),
                    full_text=src.get("full_text", ""), text_id=src["text_id"],
                    speaker=src["speaker"], group=src["group"], derived_from="",
                    source_clip_id=src["clip_id"], source=src["source"],
                    orig_path=src["orig_path"])
        base.update(_pair_cols(src["clip_id"]))
        rows += _write_clip(gen, t["clip_id"], y, ysr, base)
    C.atomic_write_json(sidecar_path(t), rows)
    return len(rows)


COLUMNS = ["clip_id", "generator", "family", "kind", "language", "speaker", "group",
           "derived_from", "text", "full_text", "text_id", "source_clip_id", "source",
           "pair_clip_id", "pair_source", "pair_group", "pair_native_rate_hz",
           "pair_native_codec", "pair_bandwidth_hz", "native_rate_hz", "duration_s", "path",
           "orig_path", "segment"]

_CFG = {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    _CFG.update(C.load_config())
    genuine = C.read_tsv(C.data_path("genuine", "meta.tsv"))
    _GENUINE.update({r["clip_id"]: r for r in genuine})
    gens = G.available_generators()
    missing = [g.name for g in G.GENERATORS if g not in gens]
    if missing:
        C.log(STEP, f"WARNING: generators unavailable (tools missing): {', '.join(missing)}")
    only = _CFG.get("generators")
    if only:
        gens = [g for g in gens if g.name in only]
    tts_tasks, res_tasks, budget = plan(_CFG, genuine, gens)
    for L, g, tgt, tts_s, res_s in budget:
        C.log(STEP, f"lang {L}: genuine {g / 60:.1f} min -> spoof target {tgt / 60:.1f} min "
                    f"(tts {tts_s / 60:.1f}, resynthesis {res_s / 60:.1f})")
    n_items = sum(len(t["items"]) for t in tts_tasks)
    C.log(STEP, f"planned {n_items} TTS utterances in {len(tts_tasks)} batches, "
                f"{len(res_tasks)} resynthesis clips")
    # Interleave cheap and expensive work so progress/ETA are meaningful.
    tasks = sorted(tts_tasks + res_tasks, key=lambda t: C.stable_hash("order", t["task_id"]))
    C.clean_tmp_root()
    C.run_tasks(STEP, tasks, process, sidecar_path, jobs=args.jobs)
    rows = []
    for t in tasks:
        p = sidecar_path(t)
        if os.path.exists(p):
            rows.extend(C.read_json(p))
    rows.sort(key=lambda r: r["clip_id"])
    C.write_tsv(C.data_path("spoof", "meta.tsv"), rows, COLUMNS)
    C.prune(C.data_path("spoof"), {C.data_path(r["path"]) for r in rows} |
            {sidecar_path(t) for t in tasks}, STEP)
    h = sum(float(r["duration_s"]) for r in rows) / 3600
    C.log(STEP, f"wrote spoof/meta.tsv: {len(rows)} clips, {h:.2f} h")


if __name__ == "__main__":
    main()
