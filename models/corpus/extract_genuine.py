#!/usr/bin/python3
"""Step 1: collect genuine human speech from installed Debian packages.

Output: data/genuine/<source>/<speaker>/<clip_id>.wav (16 kHz mono s16) and
data/genuine/meta.tsv with one row per clip:
  clip_id source speaker group language text text_id native_rate_hz native_codec
  bandwidth_hz duration_s path orig_path
`group` is the identity used for speaker-disjoint splits: one real person (e.g.
Allison records both the en and es asterisk prompts, so both share a group).
`text_id` is the same for every recording of the same sentence in the same
language (the unit of text-disjoint splits). Clips < 1 s are skipped, clips
longer than 12 s are split at pauses (pieces keep text_id, lose the text).

Only the sources listed in SOURCES are read; the exclusion list of
shared/DATA.md (qabcs-data, FlightGear callouts, speech-dispatcher, aiortc) is
never touched. Selection is a stable-hash prefix of each source's files, so a
smaller run (--smoke) selects a subset of what a larger one selects.
"""

import argparse
import glob
import gzip
import os
import re
import subprocess
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

STEP = "genuine"
MIN_CLIP_S = 1.0
MAX_CLIP_S = 12.0

# ----------------------------------------------------------------------------
# Text helpers
# ----------------------------------------------------------------------------


def norm_text(t):
    t = unicodedata.normalize("NFC", t).replace("+", "").lower()
    t = re.sub(r"[^\w\s']", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def text_id_for(lang, text, fallback):
    """Same sentence in the same language -> same id across sources/speakers."""
    if text and norm_text(text):
        return f"{lang}:{C.short_hash(lang, norm_text(text))}"
    return f"{lang}:{fallback}"


# ----------------------------------------------------------------------------
# Asterisk prompts
# ----------------------------------------------------------------------------

AST_ROOT = "/usr/share/asterisk/sounds"
# Voice directory -> (source package, speaker, group, language).
AST_VOICES = [
    ("en_US_f_Allison", "asterisk-core-sounds-en-wav", "allison_en", "asterisk_allison", "en"),
    ("es_MX_f_Allison", "asterisk-core-sounds-es-wav", "allison_es", "asterisk_allison", "es"),
    ("fr_CA_f_June", "asterisk-core-sounds-fr-wav", "june", "asterisk_june", "fr"),
    ("it_IT_m_Carlo", "asterisk-core-sounds-it-wav", "carlo", "asterisk_carlo", "it"),
    ("ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-wav", "ivrvoice", "asterisk_ivrvoice_ru", "ru"),
    ("it_IT_f_Menardi", "asterisk-prompt-it-menardi-wav", "menardi", "asterisk_menardi", "it"),
    ("es", "asterisk-prompt-es-co", "es_co", "asterisk_es_co", "es"),
    ("fr", "asterisk-prompt-fr-armelle", "armelle", "asterisk_armelle", "fr"),
]
AST_NONSPEECH = re.compile(r"(^|/)(silence/|beep|beeperr|.*tone|.*-2tone|confbridge-(join|leave))")


def asterisk_transcripts(lang):
    """core-sounds-<lang>.txt from the asterisk-core-sounds-<lang> package.

    That package conflicts with asterisk-prompt-{es-co,fr-armelle}, so it is not
    installed: `apt-get download` fetches the .deb into data/cache and only the
    transcript is extracted. Returns {relative name without extension: text}.
    """
    name = f"core-sounds-{lang}.txt.gz"
    inst = f"/usr/share/doc/asterisk-core-sounds-{lang}/{name}"
    cache = os.path.join(C.CORPUS_DIR, "data", "cache", "asterisk")  # shared by smoke/full
    cached = os.path.join(cache, name)
    path = inst if os.path.exists(inst) else cached
    if not os.path.exists(path):
        C.ensure_dir(cache)
        try:
            subprocess.run(["apt-get", "download", f"asterisk-core-sounds-{lang}"], cwd=cache,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180,
                           check=True)
            debs = sorted(glob.glob(os.path.join(cache, f"asterisk-core-sounds-{lang}_*.deb")))
            xdir = os.path.join(cache, "x")
            subprocess.run(["dpkg-deb", "-x", debs[-1], xdir], check=True)
            with open(os.path.join(xdir, "usr/share/doc", f"asterisk-core-sounds-{lang}", name),
                      "rb") as f:
                C.atomic_write_bytes(cached, f.read())
            path = cached
        except Exception as e:  # noqa: BLE001
            C.log(STEP, f"WARNING: no transcripts for asterisk {lang} ({e}); "
                        f"its prompts get no text")
            return {}
    out = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def enum_asterisk():
    trans = {}
    for vdir, src, spk, grp, lang in AST_VOICES:
        root = os.path.join(AST_ROOT, vdir)
        if not os.path.isdir(root):
            continue
        if lang not in trans:
            trans[lang] = asterisk_transcripts(lang)
        tr = trans[lang]
        for path in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
            ext = os.path.splitext(path)[1].lower()
            if ext not in (".wav", ".gsm"):
                continue
            rel = os.path.relpath(path, root)[: -len(ext)]
            if AST_NONSPEECH.search(rel):
                continue
            text = tr.get(rel, "")
            if text.startswith("[") and text.endswith("]"):
                continue  # "[this is a simple beep tone]" etc.
            core = src.startswith("asterisk-core-sounds")
            if tr and rel not in tr and core:
                continue  # core voices: every spoken prompt has a transcript
            # The other voices recorded older versions of the same prompts: same
            # text_id (prompt name), but their exact words are not known.
            yield dict(source=src, speaker=spk, group=grp, language=lang, path=path,
                       fmt="gsm" if ext == ".gsm" else None, text=text if core else "",
                       text_id=f"{lang}:ast-{rel}",
                       native_codec="gsm" if ext == ".gsm" else None)
    # asterisk-prompt-es-co / -fr-armelle also install digits/<lang>/ etc. at the top level.
    for sub, src, spk, grp, lang in [("digits/es", "asterisk-prompt-es-co", "es_co", "asterisk_es_co", "es"),
                                     ("digits/fr", "asterisk-prompt-fr-armelle", "armelle", "asterisk_armelle", "fr"),
                                     ("dictate/fr", "asterisk-prompt-fr-armelle", "armelle", "asterisk_armelle", "fr")]:
        root = os.path.join(AST_ROOT, sub)
        for path in sorted(glob.glob(os.path.join(root, "*.gsm")) + glob.glob(os.path.join(root, "*.wav"))):
            rel = sub.split("/")[0] + "/" + os.path.splitext(os.path.basename(path))[0]
            yield dict(source=src, speaker=spk, group=grp, language=lang, path=path,
                       fmt="gsm" if path.endswith(".gsm") else None, text="",
                       text_id=f"{lang}:ast-{rel}",
                       native_codec="gsm" if path.endswith(".gsm") else None)


# ----------------------------------------------------------------------------
# festvox-ru: the speaker behind the msu_ru_nsh_clunits voice
# ----------------------------------------------------------------------------

RU_ROOT = "/usr/share/festival/voices/russian/msu_ru_nsh_clunits"


def read_festvox_prompts(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r'\(\s*(\S+)\s+"(.*)"\s*\)\s*$', line.strip())
            if m:
                out[m.group(1)] = m.group(2).replace("+", "")
    return out


def enum_festvox_ru():
    tr = read_festvox_prompts(os.path.join(RU_ROOT, "etc", "txt.done.data"))
    for path in sorted(glob.glob(os.path.join(RU_ROOT, "wav", "*.wav"))):
        uid = os.path.splitext(os.path.basename(path))[0]
        text = tr.get(uid, "")
        yield dict(source="festvox-ru", speaker="nsh", group="festvox_ru_nsh", language="ru",
                   path=path, text=text, text_id=text_id_for("ru", text, "festvox-" + uid))


# ----------------------------------------------------------------------------
# Fish Fillets NG: acted dialogue (cs, nl), transcripts in script/*/dialogs_<lang>.lua
# ----------------------------------------------------------------------------

FILLETS = "/usr/share/games/fillets-ng"
_LUA_ID = re.compile(r'dialogId\(\s*"([^"]+)"\s*,\s*"([^"]*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
_LUA_STR = re.compile(r'dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)')


def fillets_dialogs(level, lang):
    """{dialog id: (font, English text, text in lang)} for one level."""
    out = {}
    path = os.path.join(FILLETS, "script", level, f"dialogs_{lang}.lua")
    if not os.path.exists(path):
        path = os.path.join(FILLETS, "script", level, "dialogs.lua")
        if not os.path.exists(path):
            return out
    cur = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _LUA_ID.search(line)
            if m:
                cur = m.group(1)
                out[cur] = (m.group(2), m.group(3), m.group(3) if lang == "en" else "")
                continue
            m = _LUA_STR.search(line)
            if m and cur in out:
                font, en, _ = out[cur]
                out[cur] = (font, en, m.group(1))
    return out


def enum_fillets():
    for lang, src in (("cs", "fillets-ng-data-cs"), ("nl", "fillets-ng-data-nl")):
        cache = {}
        for path in sorted(glob.glob(os.path.join(FILLETS, "sound", "*", lang, "*.ogg"))):
            level = path.split("/")[-3]
            if level not in cache:
                cache[level] = fillets_dialogs(level, lang)
            did = os.path.splitext(os.path.basename(path))[0]
            font, en, text = cache[level].get(did, ("", "", ""))
            parts = did.split("-")
            if len(parts) > 1 and parts[1] == "x":
                continue  # "-x-" ids are sound effects (grunts, clicks)
            if not en.strip() or not font:
                continue  # no line of dialogue behind it
            who = font.replace("font_", "")
            yield dict(source=src, speaker=f"{lang}_{who}", group=f"fillets_{lang}_{who}",
                       language=lang, path=path, text=text.replace('\\"', '"'),
                       text_id=f"{lang}:fillets-{did}", english=en)


# ----------------------------------------------------------------------------
# Tux Paint stamp descriptions (one volunteer per language)
# ----------------------------------------------------------------------------

TUX = "/usr/share/tuxpaint/stamps"
_TUX_RE = re.compile(r"^(.*)_desc(?:_([A-Za-z@]+(?:_[A-Z]{2})?))?\.ogg(?:\.ogg)?$")


def tux_text(txt_path, lang):
    if not os.path.exists(txt_path):
        return ""
    with open(txt_path, encoding="utf-8", errors="replace") as f:
        lines = [l.rstrip("\n") for l in f]
    if lang == "en":
        return lines[0].strip() if lines else ""
    for l in lines:
        if l.startswith(f"{lang}.utf8="):
            return l.split("=", 1)[1].strip().rstrip("|")
    return ""


def enum_tuxpaint():
    seen = set()
    import hashlib
    for path in sorted(glob.glob(os.path.join(TUX, "**", "*_desc*.ogg*"), recursive=True)):
        m = _TUX_RE.match(os.path.basename(path))
        if not m or os.path.islink(path):
            continue
        lang = (m.group(2) or "en").lower()
        with open(path, "rb") as f:
            digest = hashlib.md5(f.read()).hexdigest()
        if digest in seen:
            continue  # the same recording is shipped for several stamps
        seen.add(digest)
        stamp = os.path.join(os.path.dirname(path), m.group(1))
        text = tux_text(stamp + ".txt", lang)
        yield dict(source="tuxpaint-stamps-default", speaker=lang, group=f"tuxpaint_{lang}",
                   language=lang, path=path, text=text,
                   text_id=text_id_for(lang, text, "tux-" + os.path.basename(stamp)))


# ----------------------------------------------------------------------------
# Small sources
# ----------------------------------------------------------------------------

def enum_pocketsphinx():
    root = "/usr/share/pocketsphinx/test/data"
    for sub, trans in (("librivox", "transcription"), ("cards", "cards.transcription")):
        tr = {}
        p = os.path.join(root, sub, trans)
        if os.path.exists(p):
            for line in open(p, encoding="utf-8"):
                m = re.match(r"<s>(.*)</s>\s*\((\S+)\)", line.strip())
                if m:
                    tr[m.group(2)] = m.group(1).strip()
        for path in sorted(glob.glob(os.path.join(root, sub, "*.wav"))):
            uid = os.path.splitext(os.path.basename(path))[0]
            text = tr.get(uid, "")
            yield dict(source="pocketsphinx-testdata", speaker=sub, group=f"pocketsphinx_{sub}",
                       language="en", path=path, text=text,
                       text_id=text_id_for("en", text, "ps-" + uid))


# codec2-examples: only recordings known to be plain speech. Excluded: f2400/m2400
# (codec output), hts* (HTS-related names), radio captures (ve9qrp, g3plx, kristoff,
# cq_ref, 700d_*) which may have passed through a codec, test/modem/sine files.
CODEC2_OK = ["forig", "morig", "big_dog", "cross", "mmt1", "vk5qi", "david4"]


def enum_codec2():
    for name in CODEC2_OK:
        path = f"/usr/share/codec2/wav/{name}.wav"
        if os.path.exists(path):
            # Speaker identities are unknown: one group for the whole package.
            yield dict(source="codec2-examples", speaker=name, group="codec2_examples",
                       language="en", path=path, text="", text_id=f"en:codec2-{name}")


def enum_kde():
    for path in sorted(glob.glob("/usr/share/klettres/*/*/*.ogg")):
        lang = path.split("/")[-3]
        stem = os.path.splitext(os.path.basename(path))[0]
        yield dict(source="klettres-data", speaker=lang, group=f"klettres_{lang}",
                   language=lang.split("_")[0], path=path, text=stem,
                   text_id=text_id_for(lang.split("_")[0], stem, "klettres-" + stem))
    for path in sorted(glob.glob("/usr/share/ktuberling/sounds/*/*.ogg")):
        lang = path.split("/")[-2]
        stem = os.path.splitext(os.path.basename(path))[0]
        yield dict(source="ktuberling-data", speaker=lang, group=f"ktuberling_{lang}",
                   language=lang.split("_")[0], path=path, text="",
                   text_id=f"{lang}:ktuberling-{stem}")


SOURCES = [
    ("asterisk", enum_asterisk),
    ("festvox-ru", enum_festvox_ru),
    ("fillets", enum_fillets),
    ("tuxpaint", enum_tuxpaint),
    ("pocketsphinx", enum_pocketsphinx),
    ("codec2", enum_codec2),
    ("kde", enum_kde),
]


# ----------------------------------------------------------------------------
# Selection
# ----------------------------------------------------------------------------

def header_duration(c):
    try:
        if c.get("fmt") == "gsm":
            return os.path.getsize(c["path"]) / 33 * 0.02  # 33-byte frames of 20 ms
        return C.duration_s(c["path"])
    except Exception:  # noqa: BLE001
        return 0.0


# Sources whose content is less useful get a smaller share than max_source_share:
# klettres is mostly isolated letters and syllables (0.35 h of them are Malayalam).
SOURCE_SHARE = {"klettres-data": 0.05}


def select(cands, hours, max_per_source, max_share, seed):
    """Stable-hash order within each source; per-source hour quotas by
    water-filling (no source above max_share of the total); optional clip cap."""
    by_src = {}
    for c in cands:
        c["est_s"] = header_duration(c)
        if c["est_s"] < MIN_CLIP_S:
            continue
        c["_order"] = C.stable_hash(seed, c["path"])
        by_src.setdefault(c["source"], []).append(c)
    avail = {s: sum(c["est_s"] for c in v) for s, v in by_src.items()}
    total = hours * 3600.0
    quota, left, open_src = {}, total, set(avail)
    def cap(s):
        return min(avail[s], SOURCE_SHARE.get(s, max_share) * total)

    while open_src and left > 1e-6:
        share = left / len(open_src)
        done = {s for s in open_src if cap(s) - quota.get(s, 0) <= share}
        if not done:
            for s in open_src:
                quota[s] = quota.get(s, 0) + share
            left = 0
            break
        for s in done:
            add = cap(s) - quota.get(s, 0)
            quota[s] = quota.get(s, 0) + add
            left -= add
        open_src -= done
    chosen = []
    for s, v in sorted(by_src.items()):
        v.sort(key=lambda c: c["_order"])
        acc, n = 0.0, 0
        for c in v:
            if acc >= quota.get(s, 0) or (max_per_source and n >= max_per_source):
                break
            chosen.append(c)
            acc += min(c["est_s"], 3600)
            n += 1
        C.log(STEP, f"source {s}: available {avail[s] / 3600:.2f} h in {len(v)} files, "
                    f"quota {quota.get(s, 0) / 3600:.2f} h -> {n} files")
    return chosen


# ----------------------------------------------------------------------------
# Task
# ----------------------------------------------------------------------------

def safe(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "x"


def codec_of(path, fmt, info_subtype):
    if fmt == "gsm":
        return "gsm"
    st = (info_subtype or "").upper()
    return {"PCM_16": "pcm_s16", "PCM_U8": "pcm_u8", "PCM_S8": "pcm_s8", "VORBIS": "vorbis",
            "GSM610": "gsm", "ULAW": "mulaw", "ALAW": "alaw", "MPEG_LAYER_III": "mp3",
            "FLOAT": "pcm_f32"}.get(st, st.lower() or "unknown")


def sidecar_path(t):
    return C.data_path("genuine", "_done", t["source"], t["cand_id"] + ".json")


def process(t):
    fmt = t.get("fmt")
    x, sr = C.read_audio(t["path"], fmt=fmt)
    subtype = None
    if fmt is None:
        try:
            subtype = C.sf.info(t["path"]).subtype
        except Exception:  # noqa: BLE001
            subtype = None
    codec = t.get("native_codec") or codec_of(t["path"], fmt, subtype)
    bw = C.estimate_bandwidth_hz(x, sr)
    y = C.resample(x, sr, C.TARGET_RATE_HZ)
    rows = []
    pieces = C.split_long(y, C.TARGET_RATE_HZ, max_s=MAX_CLIP_S)
    for k, (start, seg) in enumerate(pieces):
        active = C.trim_silence(seg, C.TARGET_RATE_HZ)
        if len(active) < MIN_CLIP_S * C.TARGET_RATE_HZ or C.rms_dbfs(active) < -60:
            continue
        clip_id = t["cand_id"] + (f"_p{k}" if len(pieces) > 1 else "")
        rel = os.path.join("genuine", safe(t["source"]), safe(t["speaker"]), clip_id + ".wav")
        C.write_wav_atomic(C.data_path(rel), seg)
        rows.append(dict(
            clip_id=clip_id, source=t["source"], speaker=t["speaker"], group=t["group"],
            language=t["language"], text=t["text"] if len(pieces) == 1 else "",
            full_text=t["text"], english=t.get("english", ""), text_id=t["text_id"],
            native_rate_hz=int(sr), native_codec=codec, bandwidth_hz=round(min(bw, sr / 2)),
            duration_s=round(len(seg) / C.TARGET_RATE_HZ, 3), path=rel, orig_path=t["path"],
            segment=k if len(pieces) > 1 else ""))
    C.atomic_write_json(sidecar_path(t), rows)
    return len(rows)


COLUMNS = ["clip_id", "source", "speaker", "group", "language", "text", "full_text", "english",
           "text_id", "native_rate_hz", "native_codec", "bandwidth_hz", "duration_s", "path",
           "orig_path", "segment"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    cfg = C.load_config()
    cands = []
    for name, fn in SOURCES:
        n0 = len(cands)
        try:
            cands.extend(fn())
        except Exception as e:  # noqa: BLE001 - a missing package only drops its source
            C.log(STEP, f"WARNING: source {name} failed: {e}")
        C.log(STEP, f"enumerated {name}: {len(cands) - n0} files")
    chosen = select(cands, cfg["genuine_hours"], cfg.get("max_per_source", 0),
                    cfg.get("max_source_share", 0.3), cfg["seed"])
    for c in chosen:
        c["cand_id"] = "g_" + safe(c["source"].split("-")[0]) + "_" + safe(c["speaker"]) + "_" + \
            C.short_hash(c["path"], n=8)
    C.run_tasks(STEP, chosen, process, sidecar_path, jobs=args.jobs)
    rows = []
    for c in chosen:
        p = sidecar_path(c)
        if os.path.exists(p):
            rows.extend(C.read_json(p))
    rows.sort(key=lambda r: r["clip_id"])
    C.write_tsv(C.data_path("genuine", "meta.tsv"), rows, COLUMNS)
    hours = sum(float(r["duration_s"]) for r in rows) / 3600
    C.log(STEP, f"wrote genuine/meta.tsv: {len(rows)} clips, {hours:.2f} h")


if __name__ == "__main__":
    main()
