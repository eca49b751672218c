"""Shared helpers for the corpus pipeline: paths, audio I/O, atomic writes,
deterministic seeds, subprocess calls, TSV metadata and a resumable task pool.

Every step of the pipeline follows one pattern (see run_tasks):
  * the list of tasks is a pure function of the installed packages and the
    configuration (so a rerun sees the same list);
  * each task writes its audio, then a small JSON sidecar with its metadata row,
    both atomically (temp file + os.replace); the sidecar marks the task done;
  * a rerun skips tasks whose sidecar exists, so `kill -9` at any moment loses at
    most the tasks that were in flight;
  * at the end the step gathers all sidecars into one TSV (also atomic).

Audio inside the pipeline is float32 mono in [-1, 1]; files on disk are 16-bit PCM WAV.
"""

import hashlib
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
from scipy import signal

CORPUS_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.environ.get("SPOOFD_CORPUS_DATA", os.path.join(CORPUS_DIR, "data"))
TARGET_RATE_HZ = 16000

# Keep every worker single-threaded: the build shares 2 cores with compiles.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def data_path(*parts):
    return os.path.join(DATA_DIR, *parts)


# ----------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------

def stable_hash(*parts):
    """64-bit integer from the SHA-256 of the parts; same on every machine/run."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return int.from_bytes(h.digest()[:8], "little")


def stable_rng(*parts):
    """numpy Generator seeded from the parts (e.g. global seed + clip id)."""
    return np.random.default_rng(stable_hash(*parts))


def stable_random(*parts):
    return random.Random(stable_hash(*parts))


def pick_split(u, weights):
    """The split a uniform number u in [0, 1) falls into, for [(name, share)] in order."""
    acc = 0.0
    for name, w in weights:
        acc += w
        if u < acc:
            return name
    return weights[-1][0]


def short_hash(*parts, n=10):
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:n]


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------

def ensure_dir(path):
    os.makedirs(path, exist_ok=True)


def _tmp_in(path, suffix):
    d = os.path.dirname(path) or "."
    ensure_dir(d)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=d)
    os.close(fd)
    return tmp


def atomic_write_bytes(path, data):
    tmp = _tmp_in(path, ".part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, sort_keys=True))


def write_wav_atomic(path, x, sr=TARGET_RATE_HZ):
    """Writes float audio as 16-bit PCM WAV (clipped to [-1, 1]) atomically."""
    tmp = _tmp_in(path, ".wav")
    try:
        y = np.clip(np.asarray(x, dtype=np.float32), -1.0, 32767.0 / 32768.0)
        sf.write(tmp, y, sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def tmp_dir():
    """Scratch directory for subprocess files; on the data disk, per process."""
    d = data_path("tmp", str(os.getpid()))
    ensure_dir(d)
    return d


def clean_tmp_root():
    """Removes scratch left behind by killed runs (call once at step start)."""
    root = data_path("tmp")
    if os.path.isdir(root):
        subprocess.run(["rm", "-rf", root], check=False)


# ----------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------

def to_mono(x):
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def read_audio(path, fmt=None, raw_rate_hz=None):
    """Reads any audio file as float32 mono. Returns (samples, rate_hz).

    fmt: None (let libsndfile decide, fall back to ffmpeg), "raw" (headerless
    s16le at raw_rate_hz) or an ffmpeg demuxer name such as "gsm".
    """
    if fmt == "raw":
        x = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
        return x, raw_rate_hz
    if fmt is None:
        try:
            x, sr = sf.read(path, dtype="float32", always_2d=False)
            return to_mono(x), sr
        except Exception:  # noqa: BLE001 - unknown container: ask ffmpeg
            pass
    return ffmpeg_decode(path, fmt=fmt)


def ffmpeg_decode(path, fmt=None, rate_hz=None, input_bytes=None):
    """Decodes with the ffmpeg CLI to float32 mono; with input_bytes, from those bytes
    on stdin instead of a file (path is then ignored)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error"]
    if fmt:
        cmd += ["-f", fmt]
    cmd += ["-i", "-" if input_bytes is not None else path, "-ac", "1"]
    if rate_hz:
        cmd += ["-ar", str(rate_hz)]
    cmd += ["-f", "wav", "-acodec", "pcm_f32le", "-"]
    out = run(cmd, input_bytes=input_bytes)
    x, sr = sf.read(_bytes_io(out), dtype="float32", always_2d=False)
    return to_mono(x), sr


def _bytes_io(data):
    import io
    return io.BytesIO(data)


def wav_bytes(x, sr, subtype="PCM_16"):
    import io
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(x, np.float32), -1, 32767 / 32768), sr,
             subtype=subtype, format="WAV")
    return buf.getvalue()


def decode_wav_bytes(data):
    x, sr = sf.read(_bytes_io(data), dtype="float32", always_2d=False)
    return to_mono(x), sr


def fit_length(y, n):
    """y as float32, cut to n samples or padded with zeros at the end."""
    y = np.asarray(y, np.float32)
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y), np.float32)])


def resample(x, sr_in, sr_out):
    """Polyphase resampling (scipy.signal.resample_poly, Kaiser window)."""
    if sr_in == sr_out or len(x) == 0:
        return np.asarray(x, dtype=np.float32)
    g = np.gcd(int(sr_in), int(sr_out))
    y = signal.resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g)
    return y.astype(np.float32)


def rms_dbfs(x):
    x = np.asarray(x, dtype=np.float64)
    return 10.0 * np.log10(np.mean(x * x) + 1e-12)


def active_rms_dbfs(x, sr, frame_ms=20.0):
    """RMS over the louder frames (within 40 dB of the loudest), so leading
    silence does not change the loudness estimate."""
    n = max(1, int(sr * frame_ms / 1000))
    m = len(x) // n
    if m == 0:
        return rms_dbfs(x)
    e = np.mean(np.asarray(x[: m * n], np.float64).reshape(m, n) ** 2, axis=1) + 1e-12
    db = 10 * np.log10(e)
    keep = db > db.max() - 40.0
    return float(10 * np.log10(np.mean(e[keep])))


def frame_energy_db(x, sr, frame_ms=10.0):
    n = max(1, int(sr * frame_ms / 1000))
    m = len(x) // n
    if m == 0:
        return np.array([rms_dbfs(x)]), n
    e = np.mean(np.asarray(x[: m * n], np.float64).reshape(m, n) ** 2, axis=1)
    return 10 * np.log10(e + 1e-12), n


def trim_silence(x, sr, rel_db=-45.0, keep_ms=60.0):
    """Cuts leading/trailing frames quieter than rel_db below the loudest frame,
    keeping keep_ms of margin. Applied to both classes alike."""
    db, n = frame_energy_db(x, sr)
    idx = np.nonzero(db > db.max() + rel_db)[0]
    if len(idx) == 0:
        return x
    keep = int(sr * keep_ms / 1000)
    a = max(0, idx[0] * n - keep)
    b = min(len(x), (idx[-1] + 1) * n + keep)
    return x[a:b]


def split_long(x, sr, max_s=12.0, target_s=8.0, min_s=1.0):
    """Splits audio longer than max_s at low-energy points into pieces of about
    target_s (never longer than max_s - 2 s), dropping pieces shorter than min_s.
    Returns a list of (start_sample, samples)."""
    if len(x) <= max_s * sr:
        return [(0, x)]
    db, n = frame_energy_db(x, sr)
    pieces, start = [], 0
    hard_max = int((max_s - 2.0) * sr)
    while len(x) - start > hard_max:
        lo = start + int(0.6 * target_s * sr)
        hi = start + hard_max
        fl, fh = lo // n, min(hi // n, len(db) - 1)
        cut = hi if fh <= fl else (fl + int(np.argmin(db[fl:fh]))) * n + n // 2
        pieces.append((start, x[start:cut]))
        start = cut
    pieces.append((start, x[start:]))
    return [(s, p) for s, p in pieces if len(p) >= min_s * sr]


def estimate_bandwidth_hz(x, sr, floor_db=-55.0):
    """Upper edge of the long-term spectrum: the highest frequency whose smoothed
    power is within |floor_db| of the spectral peak (Welch PSD, 512-point).
    Catches sources that were low-passed inside a wider container."""
    if len(x) < 1024:
        return sr / 2
    f, p = signal.welch(x, fs=sr, nperseg=512)
    pdb = 10 * np.log10(p + 1e-20)
    pdb = np.convolve(pdb, np.ones(5) / 5, mode="same")
    ok = np.nonzero(pdb > pdb.max() + floor_db)[0]
    return float(f[ok[-1]]) if len(ok) else sr / 2


def duration_s(path):
    return sf.info(path).duration


# ----------------------------------------------------------------------------
# Subprocesses
# ----------------------------------------------------------------------------

class ToolError(RuntimeError):
    pass


def run(cmd, input_bytes=None, timeout=300, env=None):
    """Runs a command, returns stdout bytes; raises ToolError with stderr."""
    try:
        p = subprocess.run(cmd, input=input_bytes, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"timeout after {timeout}s: {' '.join(map(str, cmd))[:200]}") from e
    if p.returncode != 0:
        raise ToolError(f"{' '.join(map(str, cmd))[:200]} -> rc={p.returncode}: "
                        f"{p.stderr.decode('utf-8', 'replace')[-400:]}")
    return p.stdout


# ----------------------------------------------------------------------------
# Metadata
# ----------------------------------------------------------------------------

def write_tsv(path, rows, columns):
    lines = ["\t".join(columns)]
    for r in rows:
        lines.append("\t".join(_tsv_cell(r.get(c, "")) for c in columns))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _tsv_cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = []
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            cells = line.split("\t")
            cells += [""] * (len(header) - len(cells))
            rows.append(dict(zip(header, cells)))
    return rows


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------
# Logging and the resumable pool
# ----------------------------------------------------------------------------

def log(step, msg):
    print(f"[{time.strftime('%H:%M:%S')}] {step}: {msg}", flush=True)


class Progress:
    def __init__(self, step, total, every_s=15.0):
        self.step, self.total, self.every_s = step, total, every_s
        self.t0 = self.last = time.time()
        self.done = self.failed = self.skipped = 0

    def tick(self, ok=True, skipped=False):
        if skipped:
            self.skipped += 1
        elif ok:
            self.done += 1
        else:
            self.failed += 1
        now = time.time()
        n = self.done + self.failed + self.skipped
        if now - self.last >= self.every_s or n == self.total:
            self.last = now
            el = now - self.t0
            work = self.done + self.failed
            rate = work / el if el > 0 else 0.0
            left = self.total - n
            eta = f"{left / rate:.0f}s" if rate > 0 else "?"
            log(self.step, f"{n}/{self.total} (done {self.done}, skipped {self.skipped}, "
                           f"failed {self.failed}) elapsed {el:.0f}s eta {eta}")


def _worker_init():
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:  # noqa: BLE001 - torch is optional for most steps
        pass


def _call(args):
    fn, task = args
    try:
        return task["_key"], fn(task), None
    except Exception as e:  # noqa: BLE001 - one bad clip must not stop the build
        return task["_key"], None, f"{type(e).__name__}: {e}"


def run_tasks(step, tasks, fn, done_marker, jobs=1):
    """Runs fn(task) for every task whose done_marker(task) path does not exist.

    fn writes its outputs (atomically) and the marker itself. Failures are logged
    and counted, never fatal: the task is retried on the next run.
    Returns (n_done_now, n_failed).
    """
    todo, skipped = [], 0
    for i, t in enumerate(tasks):
        t = dict(t)
        t["_key"] = i
        if os.path.exists(done_marker(t)):
            skipped += 1
        else:
            todo.append(t)
    prog = Progress(step, len(tasks))
    prog.skipped = skipped
    log(step, f"{len(tasks)} tasks, {skipped} already done, {len(todo)} to run, jobs={jobs}")
    failures = []
    if todo:
        if jobs <= 1:
            _worker_init()
            results = (_call((fn, t)) for t in todo)
            for _, _, err in results:
                prog.tick(ok=err is None)
                if err:
                    failures.append(err)
                    if len(failures) <= 20:
                        log(step, f"FAILED: {err}")
        else:
            ctx = mp.get_context("fork")
            with ctx.Pool(jobs, initializer=_worker_init, maxtasksperchild=200) as pool:
                for _, _, err in pool.imap_unordered(_call, [(fn, t) for t in todo], chunksize=1):
                    prog.tick(ok=err is None)
                    if err:
                        failures.append(err)
                        if len(failures) <= 20:
                            log(step, f"FAILED: {err}")
    log(step, f"finished: {prog.done} new, {skipped} skipped, {len(failures)} failed, "
              f"{time.time() - prog.t0:.0f}s")
    return prog.done, len(failures)


def gather_sidecars(paths):
    rows = []
    for p in paths:
        if os.path.exists(p):
            try:
                rows.append(read_json(p))
            except (OSError, ValueError):
                pass  # half-written by a killed run: cannot happen (atomic), but be safe
    return rows


def prune(root, keep, step):
    """Deletes .wav/.json files under root that the current plan no longer lists
    (left by an earlier plan with other amounts), so the directory matches meta.tsv."""
    keep = {os.path.abspath(p) for p in keep}
    n = 0
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.abspath(os.path.join(d, f))
            if f.endswith((".wav", ".json")) and p not in keep:
                os.unlink(p)
                n += 1
    if n:
        log(step, f"pruned {n} files of an earlier plan")


def load_config():
    path = data_path("config.json")
    if not os.path.exists(path):
        sys.exit(f"missing {path}: run build_corpus.sh (it writes the config first)")
    return read_json(path)
