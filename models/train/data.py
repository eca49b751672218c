"""Protocols, feature caching (through the C++ `spoofctl features`) and batching.

Protocol lines are ASVspoof's: `SPEAKER FILE_ID - SYSTEM_ID bonafide|spoof`
(ASVspoof 2019 LA; 2021 and ASVspoof 5 add columns after the label, which are
ignored, and ASVspoof 5 puts the key in column 6 — see read_protocol). The same
code reads spoofd's own corpus protocols and the real ASVspoof ones.

Features are computed by the project's C++ dsp code, never in Python: a
manifest of `AUDIO<TAB>CACHE.npy` lines is handed to
`build/bin/spoofctl features --manifest ... --skip-existing`, so the cache is
resumable and identical to what the service computes.
"""
import dataclasses
import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPOOFCTL = ROOT / "build" / "bin" / "spoofctl"


@dataclasses.dataclass
class Item:
    speaker: str
    file_id: str
    system: str
    label: int  # 1 = spoof, 0 = bonafide
    audio: pathlib.Path
    domain: str = "main"  # which data set (train.py --extra)
    weight: float = 1.0   # sampling weight of that data set
    source: str = ""      # recording source (read_sources), for train.py --source-adversary


def read_protocol(path, audio_dir, ext=".wav"):
    items = []
    audio_dir = pathlib.Path(audio_dir)
    for line in pathlib.Path(path).read_text().splitlines():
        cols = line.split()
        if len(cols) < 5 or line.startswith("#"):
            continue
        # The key is the first column that reads bonafide/spoof (column 5 in
        # 2019/2021, column 6 in ASVspoof 5's tab-separated files).
        key = next((c for c in cols[4:] if c in ("bonafide", "spoof")), None)
        if key is None:
            continue
        items.append(Item(cols[0], cols[1], cols[3], 1 if key == "spoof" else 0,
                          audio_dir / (cols[1] + ext)))
    return items


def read_sources(protocol_dir, column="source"):
    """{clip_id: recording source} from the set's meta.tsv (in the protocols folder,
    as for the Debian corpus, or beside it, as for the extra sets): the Debian
    package, demo page or game a clip was recorded in or made from. Clips without
    one (text-to-speech output) are left out; a set without meta.tsv (e.g. a real
    ASVspoof folder) gives {}. Another meta.tsv column can be read instead (e.g.
    `condition`, the channel the corpus put the clip through)."""
    pdir = pathlib.Path(protocol_dir)
    for meta in (pdir / "meta.tsv", pdir.parent / "meta.tsv"):
        if meta.exists():
            break
    else:
        return {}
    lines = meta.read_text().splitlines()
    header = lines[0].split("\t")
    if column not in header:
        return {}
    col = header.index(column)
    out = {}
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) > col and cols[col] not in ("", "-"):
            out[cols[0]] = cols[col]
    return out


def config_id(config_path):
    """Short stable name for a feature configuration (cache folder name)."""
    config = json.loads(pathlib.Path(config_path).read_text())
    text = json.dumps(config, sort_keys=True)
    return config.get("kind", "features") + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def cache_features(items, config_path, cache_dir, jobs=2):
    """Computes missing feature files with spoofctl; returns {file_id: npy path}."""
    cache = pathlib.Path(cache_dir) / config_id(config_path)
    cache.mkdir(parents=True, exist_ok=True)
    paths = {it.file_id: cache / (it.file_id + ".npy") for it in items}
    todo = [it for it in items if not paths[it.file_id].exists()]
    if todo:
        manifest = cache / "manifest.tsv"
        manifest.write_text("".join(f"{it.audio}\t{paths[it.file_id]}\n" for it in todo))
        print(f"features: computing {len(todo)} files into {cache}", flush=True)
        rc = subprocess.run([str(SPOOFCTL), "features", "--manifest", str(manifest),
                             "--config", str(config_path), "--jobs", str(jobs),
                             "--skip-existing", "--quiet"]).returncode
        if rc not in (0, 1):
            sys.exit(f"spoofctl features failed with exit code {rc}")
    return {k: v for k, v in paths.items() if v.exists()}


def load_features(items, paths, min_frames=50, dtype=np.float32):
    """Loads cached features into memory (as `dtype`: float16 halves the memory of a
    wide front-end); drops items that are missing or too short."""
    kept, feats = [], []
    for it in items:
        p = paths.get(it.file_id)
        if p is None:
            continue
        x = np.load(p)
        if x.shape[0] < min_frames:
            continue
        kept.append(it)
        feats.append(x.astype(dtype))
    return kept, feats


def fit_length(x, frames, rng=None):
    """Random (rng given) or leading crop to `frames`; shorter inputs are tiled."""
    n = x.shape[0]
    if n < frames:
        reps = -(-frames // n)
        x = np.tile(x, (reps, 1))
        n = x.shape[0]
    start = 0 if rng is None else int(rng.integers(0, n - frames + 1))
    return x[start:start + frames]


def windows(x, frames, hop):
    """Segments a clip as the service does: windows of `frames` every `hop`
    frames, the last one aligned to the end; a clip shorter than one window is
    one tiled window."""
    n = x.shape[0]
    if n <= frames:
        return [fit_length(x, frames)]
    starts = list(range(0, n - frames + 1, hop))
    if starts[-1] + frames < n:
        starts.append(n - frames)
    return [x[s:s + frames] for s in starts]
