#!/usr/bin/python3
"""Trains the spoofd detector on fixed-length segments of C++-computed features.

Resumable: every epoch writes <run>/last.pt (model, optimiser, RNG, history);
rerunning the same command continues from it. The best epoch by dev EER is kept
in <run>/best.pt (a plain state dict plus the run's settings); with --average-from,
best.pt is instead the mean of the weights after the last epochs.

  /usr/bin/python3 models/train/train.py --run models/work/runs/lfcc \
      --protocols models/corpus/data/protocols --audio-dir models/corpus/data/clips \
      --features models/train/configs/lfcc60.json

For ASVspoof 2019 LA:
  --train-protocol LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt \
  --train-audio LA/ASVspoof2019_LA_train/flac --dev-protocol ...dev.trl.txt \
  --dev-audio LA/ASVspoof2019_LA_dev/flac --audio-ext .flac
"""
import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "eval"))
import data  # noqa: E402
import metrics  # noqa: E402
import model as nets  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="output folder (checkpoints, log)")
    p.add_argument("--features", required=True, help="feature config JSON")
    p.add_argument("--protocols", help="folder with train.txt and dev.txt (spoofd corpus)")
    p.add_argument("--audio-dir", help="audio folder for --protocols")
    p.add_argument("--train-protocol")
    p.add_argument("--train-audio")
    p.add_argument("--dev-protocol")
    p.add_argument("--dev-audio")
    p.add_argument("--audio-ext", default=".wav")
    p.add_argument("--cache", default=str(data.ROOT / "models" / "work" / "features"))
    p.add_argument("--segment-frames", type=int, default=400)
    p.add_argument("--arch", choices=nets.ARCHS, default="resnet1d",
                   help="resnet1d: 1-D convolutions over time (the shipped design); resnet2d: 2-D over "
                        "(frequency, time) (model.py)")
    p.add_argument("--head", choices=nets.HEADS, default="bce",
                   help="bce: binary cross-entropy on a logit; ocsoftmax: one-class softmax around genuine "
                        "speech (model.py: OneClassHead)")
    p.add_argument("--width", type=int, help="channels of the first stage (default 48 for resnet1d, 16 for "
                                             "resnet2d)")
    p.add_argument("--stem-stride", type=int, default=1, choices=(1, 2),
                   help="resnet1d: stride of the first convolution (2 halves the frame rate of every stage)")
    p.add_argument("--norm", choices=nets.NORMS, default="cmvn",
                   help="per-segment normalisation of the features inside the network")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--jobs", type=int, default=2, help="feature extraction threads")
    p.add_argument("--exclude-system", action="append", default=[],
                   help="leave these spoof SYSTEM_IDs out of training and of the dev split used to "
                        "pick the best epoch (leave-one-out protocols)")
    p.add_argument("--extra", action="append", default=[], metavar="NAME:PROTOCOLS:AUDIO[:WEIGHT]",
                   help="another data set: a folder with train.txt/dev.txt and its audio folder. "
                        "Batches draw each class's domains by WEIGHT (default 1; the main set is "
                        "domain 'main' with --main-weight), uniformly inside a domain")
    p.add_argument("--main-weight", type=float, default=1.0)
    p.add_argument("--splice-prob", type=float, default=0.0,
                   help="probability that a training segment is a partial fake: a stretch of "
                        "20-60%% of a genuine segment replaced by frames of a synthetic clip "
                        "(labelled synthetic)")
    p.add_argument("--pairs", help="TSV spoof_id<TAB>bonafide_id (models/train/pairs.py): genuine "
                   "partners of synthetic clips, for paired batches")
    p.add_argument("--pair-frac", type=float, default=0.0,
                   help="share of each batch's synthetic half drawn as pairs: the synthetic clip and its "
                        "genuine partner, cropped at the same time, so the pair differs in the synthesis "
                        "and not in speaker, words or channel")
    p.add_argument("--pair-margin", type=float, default=0.0,
                   help="weight of a ranking loss on pairs: max(0, 2 - (logit_spoof - logit_bona))")
    p.add_argument("--init", help="start from this run's weights (a best.pt/last.pt of the same "
                                    "architecture and features), e.g. to fine-tune on more data")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--feature-dtype", choices=("float32", "float16"), default="float32",
                   help="how the training clips' features are held in memory (float16: half the memory, "
                        "for wide front-ends such as the 257-bin log spectrogram; batches are float32)")
    p.add_argument("--band-mask", type=float, default=0.0, metavar="P",
                   help="share of training segments in which a random run of filterbank bands loses its "
                        "time variation (cepstral front-ends only; see band_mask)")
    p.add_argument("--band-mask-width", type=int, default=15, metavar="BANDS",
                   help="widest run of bands --band-mask may flatten")
    p.add_argument("--source-adversary", type=float, default=0.0, metavar="LAMBDA",
                   help="weight of a recording-source adversary (see SourceAdversary): the pooled embedding "
                        "is trained, through gradient reversal, to tell the adversary as little as possible "
                        "about which recording source a clip of a given class comes from (0: off)")
    p.add_argument("--adversary-label", choices=("source", "condition"), default="source",
                   help="what the adversary guesses: the recording source, or the channel condition the "
                        "corpus applied (codec, band limit, noise...; meta.tsv `condition`)")
    p.add_argument("--adversary-classes", choices=("both", "genuine"), default="both",
                   help="which classes' sources the adversary guesses: both, or genuine only (on the "
                        "synthetic side a demo page's source also stands for its generators)")
    p.add_argument("--adversary-lr", type=float, default=0.0,
                   help="the adversary's own Adam learning rate, constant (0: it shares the detector's "
                        "optimiser and schedule)")
    p.add_argument("--adversary-steps", type=int, default=0,
                   help="extra adversary updates per detector step, on the embedding with no gradient to "
                        "the detector, so the adversary keeps up with it (needs --adversary-lr)")
    p.add_argument("--adversary-min-clips", type=int, default=20,
                   help="a source needs this many train clips of a class to be one of the adversary's classes")
    p.add_argument("--teacher", action="append", default=[], metavar="RUN",
                   help="distillation: a trained run (its best.pt, same features); repeat for several. The "
                        "mean of the teachers' logits on each training segment becomes a soft target")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="with --teacher: loss = (1 - w) BCE(label) + w BCE(sigmoid(teachers' mean logit))")
    p.add_argument("--codec-partners", metavar="DIR", action="append", default=[],
                   help="a folder written by models/corpus/codec_partners.py (repeatable): every "
                        "training clip it lists has a partner, the same clip passed through a telephone or low-bitrate "
                        "codec. Each batch appends the partners of --consistency-slots clips per class, "
                        "cropped at the same offset, as extra training segments")
    p.add_argument("--consistency-slots", type=int, default=4, metavar="K",
                   help="clips per class and batch that get their codec partner appended")
    p.add_argument("--consistency-weight", type=float, default=0.0, metavar="W",
                   help="adds W * mean((logit(clip) - logit(partner))^2) to the loss, so a codec "
                        "should not move the score (0: the partners are plain augmentation)")
    p.add_argument("--consistency-on", choices=("logit", "embedding"), default="logit",
                   help="what --consistency-weight compares: the logits (squared gap), or the pooled "
                        "embeddings (1 - cosine), which leaves the logit's scale free")
    p.add_argument("--average-from", type=int, default=0, metavar="EPOCH",
                   help="keep the mean of the weights after every epoch from EPOCH on and make it the "
                        "run's result (best.pt) instead of the epoch with the lowest dev EER; batch-norm "
                        "statistics are then measured again on training batches (0: off)")
    p.add_argument("--sam", type=float, default=0.0, metavar="RHO",
                   help="sharpness-aware minimisation (Foret et al., ICLR 2021): each step takes the "
                        "gradient at the weights moved by RHO along the normalised gradient, which seeks "
                        "flat minima; two forward/backward passes per step (0: off). Not combined with "
                        "--source-adversary, --teacher or --consistency-on embedding")
    return p.parse_args()


def parse_extra(spec):
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        sys.exit(f"--extra {spec}: expected NAME:PROTOCOLS:AUDIO[:WEIGHT]")
    return parts[0], pathlib.Path(parts[1]), pathlib.Path(parts[2]), float(parts[3]) if len(parts) == 4 else 1.0


def load_split(args, name):
    """Items of one split from the main set and every --extra set, each tagged with
    its domain name and sampling weight."""
    if getattr(args, f"{name}_protocol"):
        items = data.read_protocol(getattr(args, f"{name}_protocol"), getattr(args, f"{name}_audio"),
                                   args.audio_ext)
    else:
        items = data.read_protocol(pathlib.Path(args.protocols) / f"{name}.txt", args.audio_dir,
                                   args.audio_ext)
    # Only training clips meet the adversary.
    adversary_sources = args.source_adversary > 0 and name == "train"
    sources = data.read_sources(args.protocols, args.adversary_label) if args.protocols and adversary_sources else {}
    for it in items:
        it.domain, it.weight, it.source = "main", args.main_weight, sources.get(it.file_id, "")
    for spec in args.extra:
        dname, pdir, adir, w = parse_extra(spec)
        extra = data.read_protocol(pdir / f"{name}.txt", adir, args.audio_ext)
        sources = data.read_sources(pdir, args.adversary_label) if adversary_sources else {}
        for it in extra:
            it.domain, it.weight, it.source = dname, w, sources.get(it.file_id, "")
        items += extra
    return items


class GradientReversal(torch.autograd.Function):
    """Identity on the way forward; the gradient times -scale on the way back."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


class SourceAdversary(torch.nn.Module):
    """Guesses a clip's recording source from the detector's pooled embedding, with one
    classifier per class: among the genuine clips, which package, demo page or game
    recorded it; among the synthetic ones, which source it was made from or published
    on (text-to-speech clips with no recording source are left out). The embedding
    reaches it through GradientReversal, so the detector is pushed to keep what tells
    the classes apart and to drop what tells one recording chain from another within a
    class. Being per class, the adversary cannot learn the label from the source mix
    and push the detector against it. Domain-adversarial training follows Ganin and
    Lempitsky (ICML 2015); training only, never exported."""

    def __init__(self, n_in, n_sources):
        super().__init__()
        # A class with no sources (n 0) gets no classifier.
        self.heads = torch.nn.ModuleDict(
            {str(c): torch.nn.Sequential(torch.nn.Linear(n_in, 128), torch.nn.ReLU(), torch.nn.Linear(128, n))
             for c, n in enumerate(n_sources) if n > 0})

    def forward(self, e, cls, src):
        """(loss, [(correct, counted) per class]); src -1 = not counted."""
        loss, stats = e.new_zeros(()), []
        for c in range(2):
            m = (cls == c) & (src >= 0)
            if str(c) not in self.heads or not bool(m.any()):
                stats.append((0, 0))
                continue
            out = self.heads[str(c)](e[m])
            loss = loss + F.cross_entropy(out, src[m])
            stats.append((int((out.argmax(1) == src[m]).sum()), int(m.sum())))
        return loss, stats


@torch.no_grad()
def teacher_logit(teachers, x):
    """Mean logit of the teacher networks (in eval mode) on a batch."""
    return sum(t(x) for t in teachers) / len(teachers)


def distill_loss(label_loss, logits, teacher_logits, weight):
    """Knowledge distillation for one logit (Hinton, Vinyals and Dean, 2015): the
    label loss mixed with the cross-entropy against the teachers' probability. A
    student of several seeds' ensemble keeps one network's serving cost; what the
    seeds disagree on gets a soft target instead of a hard label."""
    soft = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(teacher_logits))
    return (1.0 - weight) * label_loss + weight * soft


def source_ids(items, labels, min_clips):
    """Per item, the index of its recording source among its class's sources with at
    least min_clips train clips (-1: none); and each class's source names."""
    ids = np.full(len(items), -1, dtype=np.int64)
    names = []
    for c in (0, 1):
        count = {}
        for it, y in zip(items, labels):
            if y == c and it.source:
                count[it.source] = count.get(it.source, 0) + 1
        kept = sorted(s for s, n in count.items() if n >= min_clips)
        where = {s: k for k, s in enumerate(kept)}
        for i, (it, y) in enumerate(zip(items, labels)):
            if y == c and it.source in where:
                ids[i] = where[it.source]
        names.append(kept)
    return ids, names


def class_sampler(items, labels, label):
    """(indices, probabilities) drawing domains by weight and uniformly inside a domain."""
    idx = np.flatnonzero(labels == label)
    doms = [items[i].domain for i in idx]
    count = {d: doms.count(d) for d in set(doms)}
    wsum = sum(items[idx[doms.index(d)]].weight for d in count)
    p = np.array([items[i].weight / wsum / count[items[i].domain] for i in idx])
    return idx, p / p.sum()


def splice(x_bona, x_spoof, rng):
    """A partial fake: a stretch of 20-60% of the genuine segment replaced by
    synthetic frames (the feature frames are independent, so splicing frames is
    splicing audio up to one analysis window at each seam)."""
    t = x_bona.shape[0]
    w = int(t * rng.uniform(0.2, 0.6))
    s = int(rng.integers(0, t - w + 1))
    y = x_bona.copy()
    y[s:s + w] = x_spoof[:w]
    return y


def read_pairs(path, items, labels):
    """{index of a spoof train item: array of indices of its genuine partners}."""
    where = {it.file_id: i for i, it in enumerate(items)}
    partners = {}
    with open(path) as f:
        for line in f:
            s, b = line.rstrip("\n").split("\t")
            i, j = where.get(s), where.get(b)
            if i is not None and j is not None and labels[i] == 1 and labels[j] == 0:
                partners.setdefault(i, []).append(j)
    return {i: np.asarray(js) for i, js in partners.items()}


def crop_pair(xs, xb, frames, rng):
    """Crops a synthetic clip and its partner at the same time offset (both tiled
    to `frames` when shorter); the two start within a few frames of each other."""
    n = min(xs.shape[0], xb.shape[0])
    start = int(rng.integers(0, max(1, n - frames + 1)))
    return (data.fit_length(xs[start:], frames, None), data.fit_length(xb[start:], frames, None))


def spec_augment(x, rng, twins=None):
    """Light masking in time and feature dimension (same for both classes). twins maps
    a row to an earlier row whose masks it copies (a codec partner gets the same masks
    as its original, so the two differ only by the codec)."""
    b, t, d = x.shape
    twins = twins or {}
    masks = []
    for i in range(b):
        if i in twins:
            feat, time_ = masks[twins[i]]
        else:
            feat = time_ = None
            if rng.random() < 0.5:
                w = int(rng.integers(1, max(2, d // 8)))
                feat = (int(rng.integers(0, d - w)), w)
            if rng.random() < 0.5:
                w = int(rng.integers(1, t // 10))
                time_ = (int(rng.integers(0, t - w)), w)
        masks.append((feat, time_))
        if feat is not None:
            x[i, :, feat[0]:feat[0] + feat[1]] = 0.0
        if time_ is not None:
            x[i, time_[0]:time_[0] + time_[1], :] = 0.0
    return x


def band_mask(x, rng, idct, p, max_width):
    """Frequency masking for cepstral features, in place. For a share p of the
    segments, a run of 1..max_width adjacent filterbank bands is flattened: its
    static log energies are pulled to their mean over the segment and its deltas to
    zero, so the run keeps its level but loses most of its time structure. The edit
    is made on the log energies recovered through the transposed DCT and mapped back
    (`idct` [n_coeffs, n_filters], orthonormal rows); with fewer coefficients than
    bands that is a projection, so about four fifths of the run's variation goes and
    a little of the neighbours' with it. After the network's
    per-dimension normalisation a band's level is largely gone anyway, so no single
    band (the energy under 300 Hz, say) can be relied on. In the spirit of the
    FreqAugment layer of Chen et al., "Generalization of audio deepfake detection"
    (Odyssey 2020), which masks adjacent filterbank channels during training."""
    b, t, d = x.shape
    nc, nf = idct.shape
    blocks = d // nc
    for i in range(b):
        if rng.random() >= p:
            continue
        w = int(rng.integers(1, max_width + 1))
        s = int(rng.integers(0, nf - w + 1))
        sub = idct[:, s:s + w]  # [nc, w]
        for k in range(blocks):
            c = x[i, :, k * nc:(k + 1) * nc]
            band = c @ sub  # [t, w] log energies (smoothed) of the run
            target = np.broadcast_to(band.mean(axis=0), band.shape) if k == 0 else 0.0
            c += (target - band) @ sub.T
    return x


def read_codec_partners(folder, items, args):
    """{index of a train item: its codec partner's features} from a codec_partners.py folder."""
    folder = pathlib.Path(folder)
    original_of = {}  # partner id -> original id
    for line in (folder / "partners.tsv").read_text().splitlines()[1:]:
        if line.strip():
            original, partner = line.split("\t")[:2]
            original_of[partner] = original
    where = {it.file_id: i for i, it in enumerate(items)}
    partner_items = [it for it in data.read_protocol(folder / "protocols" / "train.txt", folder / "clips",
                                                      args.audio_ext)
                     if original_of.get(it.file_id) in where]
    paths = data.cache_features(partner_items, args.features, args.cache, args.jobs)
    partner_items, feats = data.load_features(partner_items, paths, min_frames=1,
                                              dtype=np.dtype(args.feature_dtype))
    return {where[original_of[it.file_id]]: x for it, x in zip(partner_items, feats)}


def twin_rows(twins):
    """(partner rows, their original rows) as index tensors, from {partner row: original row}."""
    rows = sorted(twins)
    return torch.tensor(rows, dtype=torch.long), torch.tensor([twins[r] for r in rows], dtype=torch.long)


def consistency_loss(logits, twins):
    """Mean squared difference between the logits of each codec partner row and its
    original row (twins: partner row -> original row)."""
    rows, base = twin_rows(twins)
    return (logits[rows] - logits[base]).pow(2).mean()


def embedding_consistency_loss(embedding, twins):
    """Mean of 1 - cosine between the pooled embedding [B, D] of each codec partner row
    and its original row. Unlike the squared logit gap, it cannot be lowered by
    shrinking every logit towards zero."""
    rows, base = twin_rows(twins)
    return (1.0 - F.cosine_similarity(embedding[rows], embedding[base], dim=1)).mean()


def sam_second_pass(model, params, rho, loss_fn):
    """Sharpness-aware minimisation's second pass (Foret et al., ICLR 2021). With the
    gradient g of the batch's loss in params' .grad, moves the weights by
    rho g / ||g||, replaces the gradients by those of loss_fn() there, and moves the
    weights back; the optimiser then steps from the original weights. Batch-norm
    running statistics see the batch twice."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norm = torch.norm(torch.stack([g.detach().norm(2) for g in grads]), 2)
    scale = rho / (float(norm) + 1e-12)
    saved = []
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            saved.append((p, p.detach().clone()))
            p.add_(p.grad * scale)
    for p in params:
        p.grad = None
    loss_fn().backward()
    with torch.no_grad():
        # copied back rather than subtracted: (w + e) - e is not always w in floating point
        for p, original in saved:
            p.copy_(original)


def accumulate_mean(mean, model, n):
    """Running mean of the floating-point weights and buffers after n earlier snapshots."""
    current = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    if mean is None:
        return current
    return {k: mean[k] + (current[k] - mean[k]) / (n + 1) for k in mean}


def refresh_batch_norm(model, batches):
    """Recomputes every batch-norm layer's running mean and variance as a plain average
    over `batches` (the averaged weights make the stored statistics stale)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for x in batches:
            model(torch.from_numpy(x))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum


@torch.no_grad()
def score_clips(model, feats, frames, batch=64):
    """Clip score = mean logit over the service's windows (hop = half a window)."""
    model.eval()
    segs, owner = [], []
    for i, x in enumerate(feats):
        for w in data.windows(x, frames, frames // 2):
            segs.append(w)
            owner.append(i)
    logits = np.empty(len(segs), dtype=np.float32)
    for s in range(0, len(segs), batch):
        logits[s:s + batch] = model(torch.from_numpy(np.stack(segs[s:s + batch]))).numpy()
    owner = np.asarray(owner)
    return np.array([logits[owner == i].mean() for i in range(len(feats))])


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    run = pathlib.Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    log = open(run / "train.log", "a")

    def say(msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    train_items = [it for it in load_split(args, "train") if it.system not in args.exclude_system]
    dev_items = [it for it in load_split(args, "dev") if it.system not in args.exclude_system]
    paths = data.cache_features(train_items + dev_items, args.features, args.cache, args.jobs)
    train_items, train_feats = data.load_features(train_items, paths, dtype=np.dtype(args.feature_dtype))
    dev_items, dev_feats = data.load_features(dev_items, paths)
    dev_labels = np.array([it.label for it in dev_items])
    labels = np.array([it.label for it in train_items])
    n_dims = train_feats[0].shape[1]
    say(f"train {len(train_items)} clips ({labels.sum()} spoof), dev {len(dev_items)} clips, "
        f"{n_dims} dims, excluded systems {args.exclude_system or 'none'}")
    for d in sorted({it.domain for it in train_items}):
        nb = sum(1 for it in train_items if it.domain == d and it.label == 0)
        ns = sum(1 for it in train_items if it.domain == d and it.label == 1)
        say(f"  domain {d}: {nb} bonafide, {ns} spoof train clips")

    if args.sam > 0 and (args.source_adversary > 0 or args.teacher or args.consistency_on == "embedding"):
        sys.exit("--sam is not combined with --source-adversary, --teacher or --consistency-on embedding")
    if args.average_from > args.epochs:  # e.g. a short smoke run: average the last epoch only
        say(f"--average-from {args.average_from} is past the last epoch; averaging from epoch {args.epochs}")
        args.average_from = args.epochs
    torch.manual_seed(args.seed)
    if args.width is None:
        args.width = 48 if args.arch == "resnet1d" else 16
    # What model.build needs to rebuild the network; saved with every checkpoint.
    network = {"features": json.loads(pathlib.Path(args.features).read_text()), "arch": args.arch,
               "head": args.head, "n_dims": n_dims, "width": args.width, "norm": args.norm}
    if args.stem_stride != 1:
        if args.arch != "resnet1d":
            sys.exit("--stem-stride is for --arch resnet1d")
        network["stem_stride"] = args.stem_stride
    model = nets.build(network)
    if args.init:
        model.load_state_dict(torch.load(args.init)["model"])
        say(f"initialised from {args.init}")
    adversary, src_ids = None, None
    if args.source_adversary > 0:
        src_ids, src_names = source_ids(train_items, labels, args.adversary_min_clips)
        if args.adversary_classes == "genuine":
            src_ids[labels == 1], src_names[1] = -1, []
        if len(src_names[0]) < 2 or (args.adversary_classes == "both" and len(src_names[1]) < 2):
            sys.exit(f"--source-adversary needs at least two values per class of meta.tsv's "
                     f"`{args.adversary_label}` column in the training sets")
        with torch.no_grad():
            n_embed = model.embed(torch.zeros(2, args.segment_frames, n_dims)).shape[1]
        adversary = SourceAdversary(n_embed, [len(n) for n in src_names])
        for c, kind in enumerate(("genuine", "synthetic") if args.adversary_classes == "both" else ("genuine",)):
            counted = int(((labels == c) & (src_ids >= 0)).sum())
            say(f"{args.adversary_label} adversary: {len(src_names[c])} {kind} values, {counted} of "
                f"{int((labels == c).sum())} {kind} train clips counted")
    teachers = []
    for t in args.teacher:
        net_t, settings_t = nets.load_run(t)
        if settings_t["features"] != network["features"]:
            sys.exit(f"--teacher {t}: other features than this run's")
        teachers.append(net_t)
    if teachers:
        if args.head != "bce":
            sys.exit("--teacher needs --head bce")
        say(f"distillation from {len(teachers)} teachers, weight {args.distill_weight}")
    if args.adversary_steps and not args.adversary_lr:
        sys.exit("--adversary-steps needs --adversary-lr")
    own_adversary_opt = adversary is not None and args.adversary_lr > 0
    params = list(model.parameters()) + (list(adversary.parameters())
                                         if adversary is not None and not own_adversary_opt else [])
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-3)
    adv_opt = torch.optim.Adam(adversary.parameters(), lr=args.adversary_lr) if own_adversary_opt else None
    total_steps = args.epochs * args.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total_steps,
                                                pct_start=0.15)
    state = {"epoch": 0, "best_eer": 1.0, "history": []}
    mean_weights, n_mean = None, 0
    rng = np.random.default_rng(args.seed)
    if (run / "last.pt").exists():
        ckpt = torch.load(run / "last.pt")
        model.load_state_dict(ckpt["model"])
        if adversary is not None:
            adversary.load_state_dict(ckpt["adversary"])
        if adv_opt is not None:
            adv_opt.load_state_dict(ckpt["adversary_opt"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        state = ckpt["state"]
        mean_weights, n_mean = ckpt.get("mean_weights"), ckpt.get("n_mean", 0)
        rng = np.random.default_rng(args.seed + state["epoch"])
        say(f"resumed after epoch {state['epoch']}")
    say(f"model: {args.arch}, {nets.count_parameters(model)} parameters")

    band_idct = None
    if args.band_mask > 0:
        feats = network["features"]
        band_idct = nets.cepstral_inverse(feats, n_dims)
        if band_idct is None:
            sys.exit(f"--band-mask needs a cepstral front-end, not {feats['kind']}")
        band_idct = band_idct.numpy()
        say(f"band mask: {args.band_mask:.2f} of segments, up to {args.band_mask_width} of "
            f"{feats['n_filters']} bands")

    # Class-balanced sampling: half of every batch is bonafide, half spoof.
    idx_bona, p_bona = class_sampler(train_items, labels, 0)
    idx_spoof, p_spoof = class_sampler(train_items, labels, 1)
    partners = read_pairs(args.pairs, train_items, labels) if args.pairs else {}
    if partners:
        paired = np.array(sorted(partners))
        p_paired = np.array([p_spoof[np.searchsorted(idx_spoof, i)] for i in paired])
        p_paired /= p_paired.sum()
        for d in sorted({train_items[i].domain for i in paired}):
            say(f"  pairs in {d}: {sum(train_items[i].domain == d for i in paired)} synthetic clips "
                f"with a genuine partner")
    n_pairs = int(round(args.pair_frac * (args.batch // 2))) if partners else 0
    codec_partner = {}
    for folder in args.codec_partners:
        codec_partner.update(read_codec_partners(folder, train_items, args))
    if args.codec_partners:
        say(f"codec partners: {len(codec_partner)} of {len(train_items)} train clips "
            f"({sum(labels[i] for i in codec_partner)} spoof); {args.consistency_slots} per class and batch, "
            f"consistency weight {args.consistency_weight}")
        if not codec_partner:
            sys.exit(f"--codec-partners {args.codec_partners}: no partner of a training clip found")

    def balanced_pick(rng):
        """Clip indices of one class-balanced batch: half bonafide, half spoof."""
        half = args.batch // 2
        return np.concatenate([rng.choice(idx_bona, half, p=p_bona),
                               rng.choice(idx_spoof, args.batch - half, p=p_spoof)])

    def run_settings(epoch, dev_eer):
        return {**network, "segment_frames": args.segment_frames,
                "excluded_systems": args.exclude_system, "train_clips": len(train_items),
                "extra": args.extra, "splice_prob": args.splice_prob, "init": args.init,
                "pair_frac": args.pair_frac if partners else 0.0, "pair_margin": args.pair_margin,
                "band_mask": args.band_mask, "band_mask_width": args.band_mask_width,
                "teachers": args.teacher, "distill_weight": args.distill_weight if args.teacher else 0.0,
                "source_adversary": args.source_adversary, "adversary_classes": args.adversary_classes,
                "adversary_label": args.adversary_label, "adversary_lr": args.adversary_lr,
                "adversary_steps": args.adversary_steps,
                "codec_partners": args.codec_partners,
                "consistency_slots": args.consistency_slots if args.codec_partners else 0,
                "consistency_weight": args.consistency_weight if args.codec_partners else 0.0,
                "consistency_on": args.consistency_on, "sam": args.sam,
                "epoch": epoch, "dev_eer": dev_eer}

    while state["epoch"] < args.epochs:
        model.train()
        t0 = time.time()
        losses = []
        adv_losses, adv_hits = [], np.zeros((2, 2), dtype=np.int64)
        gaps = []
        for step in range(args.steps_per_epoch):
            half = args.batch // 2
            pick = balanced_pick(rng)
            x = np.stack([data.fit_length(train_feats[i], args.segment_frames, rng)
                          for i in pick]).astype(np.float32, copy=False)
            # The first n_pairs of each half are pairs: bona slot j and spoof slot half + j.
            for j, i in enumerate(rng.choice(paired, n_pairs, p=p_paired) if n_pairs else []):
                b = int(rng.choice(partners[i]))
                pick[j], pick[half + j] = b, i
                x[half + j], x[j] = crop_pair(train_feats[i], train_feats[b], args.segment_frames, rng)
            yl = labels[pick].astype(np.float32)
            src = src_ids[pick].copy() if adversary is not None else None
            for j in range(n_pairs, half):
                if rng.random() < args.splice_prob:
                    if src is not None:
                        src[j] = -1  # a partial fake has two sources
                    donor = data.fit_length(train_feats[rng.choice(idx_spoof, p=p_spoof)],
                                            args.segment_frames, rng)
                    x[j] = splice(x[j], donor, rng)
                    yl[j] = 1.0
            # Codec partners: the last slots of each class (never a pair, never spliced)
            # get the same clip through another codec, cropped at the same offset.
            twins = {}
            if codec_partner:
                extra_x, extra_y = [], []
                for lo, hi in ((n_pairs, half), (half + n_pairs, args.batch)):
                    for j in range(max(lo, hi - args.consistency_slots), hi):
                        i = pick[j]
                        if i not in codec_partner or yl[j] != labels[i]:
                            continue
                        x[j], xp = crop_pair(train_feats[i], codec_partner[i], args.segment_frames, rng)
                        twins[args.batch + len(extra_x)] = j
                        extra_x.append(xp)
                        extra_y.append(yl[j])
                if extra_x:
                    x = np.concatenate([x, np.stack(extra_x).astype(np.float32, copy=False)])
                    yl = np.concatenate([yl, np.asarray(extra_y, np.float32)])
                    if src is not None:
                        src = np.concatenate([src, np.full(len(extra_x), -1, dtype=src.dtype)])
            if band_idct is not None:
                x = band_mask(x, rng, band_idct, args.band_mask, args.band_mask_width)
            x = spec_augment(x, rng, twins)
            y = torch.from_numpy(yl)
            embedding = None
            if adversary is None and not (twins and args.consistency_on == "embedding"):
                logits = model(torch.from_numpy(x))
            else:
                embedding = model.embed(torch.from_numpy(x))
                logits = model.head(embedding).squeeze(1)
            if adversary is not None:
                cls_t = torch.from_numpy(np.concatenate([labels[pick], labels[pick[list(twins.values())]]])
                                         if twins else labels[pick])
                src_t = torch.from_numpy(src)
                for _ in range(args.adversary_steps):
                    inner, _ = adversary(embedding.detach(), cls_t, src_t)
                    adv_opt.zero_grad()
                    inner.backward()
                    adv_opt.step()
                # Ramp the reversal from 0 (Ganin and Lempitsky's schedule) so the
                # detector learns something before the adversary pushes on it.
                progress = (state["epoch"] * args.steps_per_epoch + step) / total_steps
                scale = args.source_adversary * (2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0)
                adv_loss, stats = adversary(GradientReversal.apply(embedding, float(scale)), cls_t, src_t)
                adv_losses.append(adv_loss.item())
                adv_hits += np.array(stats)
            def detector_loss(logits, embedding=None):
                """(the detector's loss without the adversary's, the codec partners' logit gap or
                None): the first pass's, and what --sam recomputes at the moved weights."""
                if args.head == "ocsoftmax":
                    out = nets.one_class_loss(logits, y)
                else:
                    out = F.binary_cross_entropy_with_logits(logits, y)
                if teachers:
                    out = distill_loss(out, logits, teacher_logit(teachers, torch.from_numpy(x)),
                                       args.distill_weight)
                if n_pairs and args.pair_margin > 0:
                    gap = logits[half:half + n_pairs] - logits[:n_pairs]
                    out = out + args.pair_margin * F.relu(2.0 - gap).mean()
                codec_gap = None
                if twins:
                    codec_gap = consistency_loss(logits, twins)
                    if args.consistency_weight > 0:
                        out = out + args.consistency_weight * (
                            codec_gap if args.consistency_on == "logit" else embedding_consistency_loss(embedding, twins))
                return out, codec_gap

            loss, codec_gap = detector_loss(logits, embedding)
            if codec_gap is not None:
                gaps.append(codec_gap.item())
            losses.append(loss.item())  # the detector's loss alone, comparable with runs without adversary
            if adversary is not None:
                loss = loss + adv_loss
            opt.zero_grad()
            if adv_opt is not None:
                adv_opt.zero_grad()
            loss.backward()
            if args.sam > 0:
                sam_second_pass(model, params, args.sam, lambda: detector_loss(model(torch.from_numpy(x)))[0])
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            if adv_opt is not None:
                adv_opt.step()
            sched.step()
        scores = score_clips(model, dev_feats, args.segment_frames)
        dev_eer, _ = metrics.eer(scores, dev_labels)
        state["epoch"] += 1
        state["history"].append({"epoch": state["epoch"], "loss": float(np.mean(losses)),
                                 "dev_eer": dev_eer, "seconds": time.time() - t0})
        say(f"epoch {state['epoch']}/{args.epochs} loss {np.mean(losses):.4f} dev EER {100 * dev_eer:.2f}% "
            f"({time.time() - t0:.0f} s)")
        if gaps:
            state["history"][-1]["codec_gap"] = float(np.mean(gaps))
            say(f"  codec partners: mean squared logit gap {np.mean(gaps):.4f}")
        if adversary is not None:
            # How much of the recording source the embedding still gives away.
            acc = [h / max(n, 1) for h, n in adv_hits]
            state["history"][-1].update({"adversary_loss": float(np.mean(adv_losses)), "adversary_accuracy": acc})
            say(f"  {args.adversary_label} adversary: loss {np.mean(adv_losses):.3f}, accuracy genuine "
                f"{acc[0]:.2f} synthetic {acc[1]:.2f}")
        if args.average_from and state["epoch"] >= args.average_from:
            mean_weights = accumulate_mean(mean_weights, model, n_mean)
            n_mean += 1
        if dev_eer <= state["best_eer"] and not args.average_from:
            state["best_eer"] = dev_eer
            tmp = run / "best.pt.tmp"
            torch.save({"model": model.state_dict(), "settings": run_settings(state["epoch"], dev_eer)}, tmp)
            os.replace(tmp, run / "best.pt")
        tmp = run / "last.pt.tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "state": state, "mean_weights": mean_weights, "n_mean": n_mean,
                    "adversary": adversary.state_dict() if adversary is not None else None,
                    "adversary_opt": adv_opt.state_dict() if adv_opt is not None else None}, tmp)
        os.replace(tmp, run / "last.pt")
    # An earlier invocation that already averaged left its result in best.pt.
    done = torch.load(run / "best.pt")["settings"] if args.average_from and (run / "best.pt").exists() else {}
    if "averaged_epochs" in done:
        state["best_eer"] = done["dev_eer"]
    elif args.average_from and mean_weights is not None:
        # The run's result is the mean of the last epochs' weights: less dependent on
        # which single epoch happened to score best on a noisy dev split.
        model.load_state_dict({**model.state_dict(), **mean_weights})
        bn_rng = np.random.default_rng(args.seed)
        # Class-balanced crops, as in training, without augmentation.
        refresh_batch_norm(model, (np.stack([data.fit_length(train_feats[i], args.segment_frames, bn_rng)
                                             for i in balanced_pick(bn_rng)]).astype(np.float32, copy=False)
                                   for _ in range(100)))
        scores = score_clips(model, dev_feats, args.segment_frames)
        dev_eer, _ = metrics.eer(scores, dev_labels)
        settings = {**run_settings(state["epoch"], dev_eer),
                    "averaged_epochs": [args.average_from, state["epoch"]]}
        torch.save({"model": model.state_dict(), "settings": settings}, run / "best.pt.tmp")
        os.replace(run / "best.pt.tmp", run / "best.pt")
        state["best_eer"] = dev_eer
        say(f"mean of the weights after epochs {args.average_from}-{state['epoch']} ({n_mean} snapshots): "
            f"dev EER {100 * dev_eer:.2f}%")
    (run / "history.json").write_text(json.dumps(state["history"], indent=1))
    say(f"done: best dev EER {100 * state['best_eer']:.2f}%")


if __name__ == "__main__":
    main()
