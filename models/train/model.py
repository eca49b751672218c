"""The spoofd detector networks: compact residual CNNs over frame features.

Input  x: [batch, frames, dims] float32 — the C++ dsp features, unnormalised.
Output  : [batch] raw logit, positive = synthetic. The service calibrates it to
          a log-likelihood ratio with the affine map stored in the model file.

Design (chosen for CPU serving, see MODEL_CARD.md for measurements):
- per-segment normalisation inside the network, so absolute level and a fixed
  channel tilt carry no information: of the mean and variance of every feature
  dimension ("cmvn"), or of the mean only ("cmn"), which keeps how much each
  coefficient moves over the segment;
- a 1-D convolutional stem over time with the feature dimension as channels,
  three residual stages with stride-2 downsampling in time;
- attentive statistics pooling (mean and standard deviation over time, weighted
  by a learned attention) so any segment length >= ~0.5 s works;
- a small classifier head.
SpoofNet2d is the same idea with 2-D convolutions over (frequency, time), the
usual design of spoofing countermeasures (LCNN, ResNet-2d): a local pattern in
one frequency band, such as an upsampling artifact, is found wherever in the
band layout it lies. For cepstral features (LFCC, MFCC) it first maps the
coefficients back to log filterbank energies with the transposed DCT, so the
convolutions see a spectrum, not cepstra. Every model is TorchScript-scriptable
and keeps no state between calls.
"""
import math
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected) skip connection, in 1-D
    (time) or 2-D (frequency x time)."""

    def __init__(self, channels_in: int, channels_out: int, stride, dilation: int = 1, dims: int = 1):
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.conv1 = conv(channels_in, channels_out, 3, stride=stride, padding=dilation, dilation=dilation,
                          bias=False)
        self.bn1 = norm(channels_out)
        self.conv2 = conv(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = norm(channels_out)
        self.skip = nn.Identity()
        if stride not in (1, (1, 1)) or channels_in != channels_out:
            self.skip = nn.Sequential(conv(channels_in, channels_out, 1, stride=stride, bias=False),
                                      norm(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x))


NORMS = ("cmvn", "cmn")
HEADS = ("bce", "ocsoftmax")


def scales_by_std(norm: str) -> bool:
    """cmvn: each feature row is scaled to unit variance after its mean is removed; cmn: mean only."""
    if norm not in NORMS:
        raise ValueError(f"norm must be cmvn or cmn, not {norm}")
    return norm == "cmvn"


def normalize_over(x: torch.Tensor, dim: int, scale_by_std: bool) -> torch.Tensor:
    """Per-segment normalisation along the time axis `dim` (the features stay raw in the contract).

    The scale is the unbiased standard deviation, as torch.std, but computed as the root of
    the summed squares of the centred rows and applied as one multiply by its reciprocal:
    in libtorch 1.13 on one core, torch.std (a Welford pass in double) and the division took
    a third of the served model's forward pass (bench/RESULTS.md, 2026-12-07). The result
    differs from the torch.std form by rounding only."""
    x = x - x.mean(dim=dim, keepdim=True)
    if scale_by_std:
        n = max(x.size(dim) - 1, 1)
        inv = ((x * x).sum(dim=dim, keepdim=True) / n).sqrt().clamp(min=1e-4).reciprocal()
        x = x * inv
    return x


def attentive_stats(h: torch.Tensor, attention_logits: torch.Tensor) -> torch.Tensor:
    """Mean and standard deviation of h [B, C, T] over time, weighted by a softmax of
    attention_logits over time: [B, 2C]."""
    w = torch.softmax(attention_logits, dim=2)
    mu = (h * w).sum(dim=2)
    sigma = ((h * h * w).sum(dim=2) - mu * mu).clamp(min=1e-6).sqrt()
    return torch.cat([mu, sigma], dim=1)


class OneClassHead(nn.Module):
    """Pooled statistics -> the negated cosine between a 64-d embedding and a learned
    direction of genuine speech, in [-1, 1] (positive = synthetic). Trained with the
    one-class softmax loss of Zhang, Jiang and Duan (IEEE SPL 2021, arXiv 2010.13995):
    genuine embeddings are pulled within a tight angle of the direction and synthetic
    ones only pushed outside a wide one, so the boundary is drawn around genuine
    speech rather than around the synthesizers seen in training. Output [B, 1]."""

    def __init__(self, n_in: int, dropout: float):
        super().__init__()
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, 64))
        self.center = nn.Parameter(torch.randn(64) * 0.1)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.proj(e), dim=1)
        return -(z @ F.normalize(self.center, dim=0)).unsqueeze(1)


def make_head(kind: str, n_in: int, dropout: float) -> nn.Module:
    """bce: an MLP to one logit, trained with binary cross-entropy; ocsoftmax: OneClassHead."""
    if kind == "bce":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, 64), nn.ReLU(),
                             nn.Dropout(dropout), nn.Linear(64, 1))
    if kind == "ocsoftmax":
        return OneClassHead(n_in, dropout)
    raise ValueError(f"unknown head {kind!r} (known: {', '.join(HEADS)})")


def one_class_loss(out: torch.Tensor, y: torch.Tensor, m_genuine: float = 0.9, m_synthetic: float = 0.2,
                   alpha: float = 20.0) -> torch.Tensor:
    """OC-softmax on OneClassHead outputs (out = -cosine, y = 1 for synthetic): genuine
    segments are penalised below cosine m_genuine, synthetic ones above m_synthetic."""
    cos = -out
    margin = torch.where(y > 0.5, alpha * (cos - m_synthetic), alpha * (m_genuine - cos))
    return F.softplus(margin).mean()


class SpoofNet(nn.Module):
    def __init__(self, n_dims: int, width: int = 64, dropout: float = 0.3, norm: str = "cmvn",
                 head: str = "bce", stem_stride: int = 1):
        super().__init__()
        self.scale_by_std = scales_by_std(norm)
        # stem_stride 2 halves the frame rate before the residual stages: about half their cost
        self.stem = nn.Sequential(nn.Conv1d(n_dims, width, 5, stride=stem_stride, padding=2, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU())
        self.stages = nn.Sequential(
            ResBlock(width, width, 1),
            ResBlock(width, width, 2, dilation=1),
            ResBlock(width, 2 * width, 2, dilation=2),
            ResBlock(2 * width, 2 * width, 2, dilation=1),
        )
        c = 2 * width
        self.attention = nn.Sequential(nn.Conv1d(c, 64, 1), nn.Tanh(), nn.Conv1d(64, c, 1))
        self.head = make_head(head, 2 * c, dropout)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        # [B, dims, frames], made contiguous first so the normalisation reduces along
        # memory order (the convolutions want this layout anyway)
        x = normalize_over(x.transpose(1, 2).contiguous(), 2, self.scale_by_std)
        h = self.stages(self.stem(x))
        return attentive_stats(h, self.attention(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)).squeeze(1)


# Front-ends whose features are DCT coefficients of log filterbank energies (the
# C++ FeatureConfig::IsCepstral).
CEPSTRAL = ("lfcc", "mfcc", "cqcc")


def inverse_dct(n_filters: int, n_coeffs: int) -> torch.Tensor:
    """[n_coeffs, n_filters]: maps the first n_coeffs orthonormal DCT-II coefficients
    back to n_filters log energies (the pseudo-inverse: a smoothed log spectrum
    when coefficients were dropped, exact when n_coeffs == n_filters)."""
    n = torch.arange(n_filters, dtype=torch.float64)
    k = torch.arange(n_coeffs, dtype=torch.float64)[:, None]
    m = torch.cos(math.pi / n_filters * (n + 0.5) * k) * math.sqrt(2.0 / n_filters)
    m[0] = m[0] / math.sqrt(2.0)
    return m.float()


def cepstral_inverse(features: dict, n_dims: int):
    """For a cepstral front-end, the [n_coeffs, n_filters] inverse_dct that maps one
    block of its n_dims features (statics, deltas or delta-deltas) back to log band
    energies; None for other front-ends. Raises ValueError when n_dims does not
    split into 1 + deltas blocks, or for a group_delay front-end."""
    blocks = 1 + int(features.get("deltas", 0))
    if n_dims % blocks:
        raise ValueError(f"{n_dims} feature dims do not split into {blocks} channels")
    if features["kind"] not in CEPSTRAL:
        return None
    if features.get("group_delay"):
        raise ValueError("a group_delay front-end holds two cepstra per block (magnitude and group "
                         "delay); band masking and the 2-D network do not handle it")
    return inverse_dct(int(features["n_filters"]), n_dims // blocks)


class SpoofNet2d(nn.Module):
    """2-D residual CNN over a [channels, bands, frames] image of the features.

    channels = 1 + deltas (statics, deltas and delta-deltas stacked as image
    channels); bands = the filterbank bands (cepstra are mapped back through the
    transposed DCT) or the spectral bins. Each (channel, band) row is normalised
    over the segment (cmvn or cmn), as in SpoofNet. About as many multiply-adds
    per segment as SpoofNet at the default width (see MODEL_CARD.md)."""

    def __init__(self, n_dims: int, features: dict, width: int = 16, dropout: float = 0.3,
                 norm: str = "cmvn", time_stride: int = 4, head: str = "bce"):
        super().__init__()
        self.scale_by_std = scales_by_std(norm)
        self.channels = 1 + int(features.get("deltas", 0))
        idct = cepstral_inverse(features, n_dims)
        per_channel = n_dims // self.channels
        if idct is not None:
            self.bands = idct.shape[1]
            self.register_buffer("idct", idct)
            self.cepstral = True
        else:
            self.bands = per_channel
            self.register_buffer("idct", torch.zeros(1, 1))
            self.cepstral = False
        freq_stride = 2 if self.bands > 40 else 1
        w = width
        self.stem = nn.Sequential(nn.Conv2d(self.channels, w, 3, stride=(freq_stride, time_stride), padding=1,
                                            bias=False),
                                  nn.BatchNorm2d(w), nn.ReLU())
        self.stages = nn.Sequential(
            ResBlock(w, w, (2, 2), dims=2),
            ResBlock(w, 2 * w, (2, 2), dims=2),
            ResBlock(2 * w, 3 * w, (2, 1), dims=2),
        )
        f = self.bands
        f = (f - 1) // freq_stride + 1
        for _ in range(3):
            f = (f - 1) // 2 + 1
        c = 2 * 3 * w
        self.collapse = nn.Sequential(nn.Conv1d(3 * w * f, c, 1, bias=False), nn.BatchNorm1d(c), nn.ReLU())
        self.attention = nn.Sequential(nn.Conv1d(c, 64, 1), nn.Tanh(), nn.Conv1d(64, c, 1))
        self.head = make_head(head, 2 * c, dropout)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        x = x.reshape(b, t, self.channels, d // self.channels)
        if self.cepstral:
            x = torch.matmul(x, self.idct)  # [B, T, channels, bands]
        x = x.permute(0, 2, 3, 1)  # [B, channels, bands, T]
        x = normalize_over(x, 3, self.scale_by_std)
        h = self.stages(self.stem(x))  # [B, C, F, T']
        h = self.collapse(h.flatten(1, 2))  # [B, c, T']
        return attentive_stats(h, self.attention(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)).squeeze(1)


ARCHS = ("resnet1d", "resnet2d")


def build(settings: dict) -> nn.Module:
    """The network a run's settings describe (train.py writes them into best.pt;
    runs from before the 2-D network have no "arch" and are 1-D)."""
    arch = settings.get("arch", "resnet1d")
    norm = settings.get("norm", "cmvn")
    head = settings.get("head", "bce")
    if arch == "resnet1d":
        return SpoofNet(settings["n_dims"], width=settings["width"], norm=norm, head=head,
                        stem_stride=settings.get("stem_stride", 1))
    if arch == "resnet2d":
        return SpoofNet2d(settings["n_dims"], settings["features"], width=settings["width"], norm=norm,
                          time_stride=settings.get("time_stride", 4), head=head)
    raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")


def load_run(run):
    """(network in eval mode, settings) of a train.py run folder, from its best.pt."""
    ckpt = torch.load(pathlib.Path(run) / "best.pt")
    net = build(ckpt["settings"])
    net.load_state_dict(ckpt["model"])
    return net.eval(), ckpt["settings"]


class Ensemble(nn.Module):
    """Mean logit of several SpoofNets trained the same way from different seeds
    or channel draws: the same input and output as one SpoofNet, less variance
    from run to run."""

    def __init__(self, members: list):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for m in self.members:
            out = out + m(x)
        return out / len(self.members)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
