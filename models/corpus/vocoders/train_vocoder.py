#!/usr/bin/python3
"""Trains one small neural vocoder on the genuine training speech (CPU or GPU).

  train_vocoder.py --kind upsample|istft --out models/work/vocoders/<name> [--steps N]

Training data: genuine recordings of the corpus's TRAIN split only (data/genuine,
before the channel chain), so speakers used for evaluation are never seen by a
vocoder. Loss: L1 on log-mel (x45) from the start; after --gan-start steps the
least-squares GAN loss and feature matching of the period/scale discriminators
are added (HiFi-GAN's recipe, shortened for a CPU).

Resumable: `last.pt` (generator, discriminators, optimisers, step) is written every
--save-every steps; rerunning the same command continues. Checkpoints named in
--keep (step numbers) are kept as plain generator state dicts `g_<step>.pt`: each
one is a different "generator" for copy-synthesis (resynth.py).
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
import common as C  # noqa: E402
import splits as S  # noqa: E402


def load_training_audio(max_hours, seed):
    """Genuine TRAIN-split recordings, wideband first; returns a list of float32 arrays."""
    cfg = C.load_config()
    rows = C.read_tsv(C.data_path("genuine", "meta.tsv"))
    rows = [r for r in rows if S.group_split(r["group"], cfg["seed"]) == "train"]
    rng = np.random.default_rng(seed)
    rng.shuffle(rows)
    rows.sort(key=lambda r: -min(float(r.get("native_rate_hz") or 0), 2 * float(r.get("bandwidth_hz") or 0)))
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
    ap.add_argument("--kind", required=True, choices=["upsample", "istft"])
    ap.add_argument("--out", required=True)
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

    audio, secs = load_training_audio(args.hours, args.seed)
    say(f"{args.kind}: {len(audio)} genuine train clips, {secs / 3600:.2f} h in memory, device {dev}")
    torch.manual_seed(args.seed)
    gen = nets.make_generator(args.kind).to(dev)
    disc = nets.Discriminators().to(dev)
    mel = nets.LogMel().to(dev)
    og = torch.optim.AdamW(gen.parameters(), 2e-4 if args.kind == "upsample" else 5e-4, betas=(0.8, 0.99))
    od = torch.optim.AdamW(disc.parameters(), 2e-4, betas=(0.8, 0.99))
    step = 0
    if (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", map_location=dev)
        gen.load_state_dict(ck["gen"])
        disc.load_state_dict(ck["disc"])
        og.load_state_dict(ck["og"])
        od.load_state_dict(ck["od"])
        step = ck["step"]
        say(f"resumed at step {step}")
    say(f"generator {sum(p.numel() for p in gen.parameters())} parameters, "
        f"discriminators {sum(p.numel() for p in disc.parameters())}")
    rng = np.random.default_rng(args.seed + step)
    t0 = time.time()
    last_print = t0

    def save():
        tmp = out / "last.pt.tmp"
        torch.save({"gen": gen.state_dict(), "disc": disc.state_dict(), "og": og.state_dict(),
                    "od": od.state_dict(), "step": step, "kind": args.kind}, tmp)
        os.replace(tmp, out / "last.pt")

    while step < args.steps:
        if args.minutes and time.time() - t0 > args.minutes * 60:
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
