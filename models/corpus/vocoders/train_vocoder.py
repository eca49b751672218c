#!/usr/bin/python3
"""Trains one small neural vocoder on the genuine training speech (CPU or GPU).

  train_vocoder.py --kind upsample|istft|subband|wavenet --out models/work/vocoders/<name> [--steps N]
  train_vocoder.py --write-pack pack.npz --hours 0.45     (the same audio, for another machine)
  train_vocoder.py --pack pack.npz --kind ... --out ...    (train from such a pack)

Training data: genuine recordings of the corpus's TRAIN split only (data/genuine,
before the channel chain), so speakers used for evaluation are never seen by a
vocoder. Loss: L1 on log-mel (x45) from the start; after --gan-start steps the
least-squares GAN loss and feature matching of the period/scale discriminators
are added (HiFi-GAN's recipe, shortened for a CPU).

Resumable: `last.pt` (generator, discriminators, optimisers, step, training time so
far) is written every --save-every steps; rerunning the same command continues, and
--minutes bounds the training time over all runs, so a rerun after a finished run
stops at once. Checkpoints named in
--keep (step numbers) are kept as plain generator state dicts `g_<step>.pt`: each
one is a different "generator" for copy-synthesis (resynth.py).

A pack (`--write-pack`) holds the selected training audio as 16-bit PCM in one .npz,
so that a machine without the corpus (the lent GPU, which has torch and numpy but no
soundfile and no corpus) trains on exactly the same speech: `--pack` reads it, and
nothing else of the corpus is imported.
"""
import argparse
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import nets  # noqa: E402


def load_training_audio(max_hours, seed, spread=False):
    """Genuine TRAIN-split recordings, wideband first; returns a list of float32 arrays.
    spread: take the wideband recordings (content above 7 kHz) speaker by speaker in
    turn instead of in bandwidth order, so a small budget still covers every speaker."""
    import common as C  # the corpus helpers need soundfile and scipy; a pack needs neither
    import splits as S
    cfg = C.load_config()
    rows = C.read_tsv(C.data_path("genuine", "meta.tsv"))
    rows = [r for r in rows if S.group_split(r["group"], cfg["seed"]) == "train"]
    rng = np.random.default_rng(seed)
    rng.shuffle(rows)
    def width(r):
        return min(float(r.get("native_rate_hz") or 0), 2 * float(r.get("bandwidth_hz") or 0))

    rows.sort(key=lambda r: -width(r))
    if spread:
        by_voice = {}
        for r in rows:
            if width(r) >= 14000:
                by_voice.setdefault((r["source"], r["speaker"]), []).append(r)
        queues = list(by_voice.values())
        rows = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    out, total = [], 0.0
    for r in rows:
        x, sr = C.read_audio(C.data_path(r["path"]))
        if sr != nets.SR:
            x = C.resample(x, sr, nets.SR)
        x = C.trim_silence(np.asarray(x, np.float32), nets.SR)
        if len(x) < nets.SR:
            continue
        peak = np.max(np.abs(x)) + 1e-6
        out.append((x / peak * 0.9).astype(np.float32))
        total += len(x) / nets.SR
        if total >= max_hours * 3600:
            break
    return out, total


def write_pack(path, audio):
    lengths = np.array([len(a) for a in audio], np.int64)
    pcm = np.concatenate([np.clip(np.round(a * 32767.0), -32768, 32767).astype(np.int16) for a in audio])
    tmp = str(path) + ".tmp.npz"
    np.savez(tmp, pcm=pcm, lengths=lengths, rate=np.int64(nets.SR))
    os.replace(tmp, path)


def read_pack(path):
    with np.load(path) as z:
        if int(z["rate"]) != nets.SR:
            raise SystemExit(f"{path}: pack is at {int(z['rate'])} Hz, the vocoders need {nets.SR}")
        pcm, lengths = z["pcm"], z["lengths"]
    ends = np.cumsum(lengths)
    audio = [pcm[e - n:e].astype(np.float32) / 32767.0 for e, n in zip(ends, lengths)]
    return audio, float(lengths.sum()) / nets.SR


def batch_of(audio, rng, n, seg):
    xs = []
    for _ in range(n):
        a = audio[int(rng.integers(len(audio)))]
        if len(a) <= seg:
            a = np.pad(a, (0, seg - len(a) + 1))
        s = int(rng.integers(0, len(a) - seg))
        x = a[s:s + seg] * float(rng.uniform(0.3, 1.0))
        xs.append(x)
    return torch.from_numpy(np.stack(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=nets.KINDS)
    ap.add_argument("--out")
    ap.add_argument("--pack", help="train on this pack instead of the corpus")
    ap.add_argument("--write-pack", help="write the selected training audio to this .npz and stop")
    ap.add_argument("--spread-speakers", action="store_true",
                    help="take wideband recordings speaker by speaker (see load_training_audio)")
    ap.add_argument("--lr", type=float, default=0, help="generator learning rate (0 = the kind's default)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=0, help="stop after this much wall time (0 = no limit)")
    ap.add_argument("--gan-start", type=int, default=800)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--segment", type=int, default=8192)
    ap.add_argument("--hours", type=float, default=2.0, help="genuine audio held in memory")
    ap.add_argument("--keep", default="1500,3000,6000", help="steps whose generator is kept")
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.write_pack:
        audio, secs = load_training_audio(args.hours, args.seed, args.spread_speakers)
        write_pack(args.write_pack, audio)
        print(f"wrote {args.write_pack}: {len(audio)} clips, {secs / 3600:.3f} h")
        return
    if not args.kind or not args.out:
        ap.error("--kind and --out are required for training")
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep = {int(s) for s in args.keep.split(",") if s}
    dev = torch.device(args.device)
    log = open(out / "train.log", "a")

    def say(msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    audio, secs = (read_pack(args.pack) if args.pack
                   else load_training_audio(args.hours, args.seed, args.spread_speakers))
    say(f"{args.kind}: {len(audio)} genuine train clips, {secs / 3600:.2f} h in memory, device {dev}")
    torch.manual_seed(args.seed)
    gen = nets.make_generator(args.kind).to(dev)
    disc = nets.Discriminators().to(dev)
    mel = nets.LogMel().to(dev)
    lr = args.lr or (5e-4 if args.kind == "istft" else 2e-4)
    og = torch.optim.AdamW(gen.parameters(), lr, betas=(0.8, 0.99))
    od = torch.optim.AdamW(disc.parameters(), 2e-4, betas=(0.8, 0.99))
    step = 0
    trained_s = 0.0  # wall time of training so far, over every run (--minutes bounds the total)
    if (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", map_location=dev)
        gen.load_state_dict(ck["gen"])
        disc.load_state_dict(ck["disc"])
        og.load_state_dict(ck["og"])
        od.load_state_dict(ck["od"])
        step = ck["step"]
        trained_s = float(ck.get("trained_s", 0.0))
        say(f"resumed at step {step} after {trained_s / 60:.1f} min of training")
    say(f"generator {sum(p.numel() for p in gen.parameters())} parameters, "
        f"discriminators {sum(p.numel() for p in disc.parameters())}")
    rng = np.random.default_rng(args.seed + step)
    t0 = time.time()
    last_print = t0

    def trained():  # seconds of training over every run, this one included
        return trained_s + time.time() - t0

    def save():
        tmp = out / "last.pt.tmp"
        torch.save({"gen": gen.state_dict(), "disc": disc.state_dict(), "og": og.state_dict(),
                    "od": od.state_dict(), "step": step, "kind": args.kind,
                    "trained_s": trained()}, tmp)
        os.replace(tmp, out / "last.pt")

    while step < args.steps:
        if args.minutes and trained() > args.minutes * 60:
            say(f"time limit reached at step {step}")
            break
        x = batch_of(audio, rng, args.batch, args.segment).to(dev)
        with torch.no_grad():
            m = mel(x)
        y = gen(m)
        n = min(y.shape[1], x.shape[1])
        y, xr = y[:, :n], x[:, :n]
        gan = step >= args.gan_start
        if gan:
            d_loss = 0.0
            for (rl, _), (fl, _) in zip(disc(xr), disc(y.detach())):
                d_loss = d_loss + torch.mean((rl - 1) ** 2) + torch.mean(fl ** 2)
            od.zero_grad()
            d_loss.backward()
            od.step()
        l_mel = F.l1_loss(mel(y), mel(xr))
        g_loss = 45.0 * l_mel
        if gan:
            adv, fm = 0.0, 0.0
            real = disc(xr)
            fake = disc(y)
            for (rl, rf), (fl, ff) in zip(real, fake):
                adv = adv + torch.mean((fl - 1) ** 2)
                for a, b in zip(rf, ff):
                    fm = fm + F.l1_loss(b, a.detach())
            g_loss = g_loss + adv + 2.0 * fm
        og.zero_grad()
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 100.0)
        og.step()
        step += 1
        if step in keep:
            torch.save(gen.state_dict(), out / f"g_{step}.pt")
            say(f"kept generator at step {step}")
        if step % args.save_every == 0:
            save()
        if time.time() - last_print > 60:
            last_print = time.time()
            say(f"step {step} mel-L1 {l_mel.item():.3f} ({(time.time() - t0) / max(1, step):.2f} s/step this run)"
                + (" gan" if gan else ""))
    save()
    torch.save(gen.state_dict(), out / f"g_{step}.pt")
    say(f"stopped at step {step}; final generator g_{step}.pt")


if __name__ == "__main__":
    main()
