"""Small neural vocoders trained here, and their discriminators.

Two generator families with different synthesis artifacts:
- `UpsampleGenerator`: transposed-convolution upsampling with multi-receptive-field
  residual blocks (the MelGAN / HiFi-GAN family). Leaves periodic upsampling
  artifacts and aliasing patterns in the high band.
- `ISTFTGenerator`: a ConvNeXt backbone at frame rate predicting log-magnitude and
  phase, turned into a waveform by an inverse STFT (the Vocos family). Leaves
  phase-reconstruction artifacts instead of upsampling ones.
- `SubbandGenerator`: the upsampler's design, but it writes four sub-band signals at
  a quarter of the rate that a fixed pseudo-QMF bank merges into the waveform (the
  multi-band MelGAN family). Leaves band-edge aliasing at 2, 4 and 6 kHz.
- `NoiseWaveNet`: Gaussian noise at the sample rate shaped by a non-causal WaveNet of
  gated dilated convolutions conditioned on the up-sampled mel (the Parallel WaveGAN
  family). No upsampling of the signal path at all; its artifacts are noise-like.
All take an 80-band log-mel spectrogram (16 kHz, n_fft 1024, hop 256) and share a
multi-period + multi-scale discriminator (HiFi-GAN style), sized down for CPU
training. These are written from the papers' descriptions (Kong et al. 2020,
HiFi-GAN; Siuzdak 2023, Vocos; Yang et al. 2021, multi-band MelGAN; Yamamoto et al.
2020, Parallel WaveGAN), not copied from their code.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio

SR = 16000
N_FFT = 1024
HOP = 256
N_MELS = 80


class LogMel(nn.Module):
    def __init__(self):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SR, n_fft=N_FFT, win_length=N_FFT, hop_length=HOP, f_min=0.0,
            f_max=SR / 2, n_mels=N_MELS, power=1.0, center=True, norm="slaney", mel_scale="slaney")

    def forward(self, wav):  # [B, T] -> [B, 80, frames]
        return torch.log(self.mel(wav).clamp(min=1e-5))


def _wn(m):
    return nn.utils.weight_norm(m)


class ResBlock(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        self.c1 = nn.ModuleList([_wn(nn.Conv1d(ch, ch, k, dilation=d, padding=d * (k - 1) // 2))
                                 for d in dilations])
        self.c2 = nn.ModuleList([_wn(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2)) for _ in dilations])

    def forward(self, x):
        for a, b in zip(self.c1, self.c2):
            y = b(F.leaky_relu(a(F.leaky_relu(x, 0.1)), 0.1))
            x = x + y
        return x


class UpsampleGenerator(nn.Module):
    def __init__(self, ch=128, rates=(8, 8, 4), kernels=(3, 7), dilations=(1, 3, 5), out_channels=1):
        super().__init__()
        self.pre = _wn(nn.Conv1d(N_MELS, ch, 7, padding=3))
        self.ups = nn.ModuleList()
        self.mrf = nn.ModuleList()
        c = ch
        for r in rates:
            self.ups.append(_wn(nn.ConvTranspose1d(c, c // 2, 2 * r, stride=r, padding=r // 2)))
            c //= 2
            self.mrf.append(nn.ModuleList([ResBlock(c, k, dilations) for k in kernels]))
        self.post = _wn(nn.Conv1d(c, out_channels, 7, padding=3))

    def body(self, mel):  # [B, 80, F] -> [B, out_channels, F * prod(rates)]
        x = self.pre(mel)
        for up, blocks in zip(self.ups, self.mrf):
            x = up(F.leaky_relu(x, 0.1))
            x = sum(b(x) for b in blocks) / len(blocks)
        return torch.tanh(self.post(F.leaky_relu(x, 0.1)))

    def forward(self, mel):  # [B, 80, F] -> [B, F*256]
        return self.body(mel).squeeze(1)


class ConvNeXt(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x):  # [B, C, F]
        y = self.dw(x).transpose(1, 2)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ISTFTGenerator(nn.Module):
    def __init__(self, dim=192, hidden=384, layers=6):
        super().__init__()
        self.embed = nn.Conv1d(N_MELS, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList([ConvNeXt(dim, hidden) for _ in range(layers)])
        self.final = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_FFT + 2)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(self, mel):
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        h = self.head(self.final(x.transpose(1, 2))).transpose(1, 2)  # [B, N_FFT+2, F]
        logmag, phase = h.chunk(2, dim=1)
        mag = torch.exp(logmag).clamp(max=100.0)
        spec = torch.polar(mag, phase)
        wav = torch.istft(spec, N_FFT, HOP, N_FFT, window=self.window, center=True)
        return wav


def pqmf_filters(bands=4, taps=62, cutoff=0.142, beta=9.0):
    """Analysis and synthesis filters of a cosine-modulated pseudo-QMF bank
    (Nguyen 1994): a Kaiser-windowed sinc prototype, shifted to each band's centre
    with alternating phase. Returns two float32 arrays [bands, taps + 1]."""
    n = np.arange(taps + 1) - taps / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        proto = np.sin(math.pi * cutoff * n) / (math.pi * n)
    proto[taps // 2] = cutoff
    proto *= np.kaiser(taps + 1, beta)
    ana, syn = [], []
    for k in range(bands):
        arg = (2 * k + 1) * math.pi / (2 * bands) * n
        phase = (-1) ** k * math.pi / 4
        ana.append(2 * proto * np.cos(arg + phase))
        syn.append(2 * proto * np.cos(arg - phase))
    return np.array(ana, np.float32), np.array(syn, np.float32)


class PQMF(nn.Module):
    """Splits a waveform into `bands` critically sampled sub-bands and merges them back."""

    def __init__(self, bands=4):
        super().__init__()
        ana, syn = pqmf_filters(bands)
        self.bands = bands
        self.pad = ana.shape[1] // 2
        self.register_buffer("ana", torch.from_numpy(ana)[:, None, :], persistent=False)
        self.register_buffer("syn", torch.from_numpy(syn * bands)[None, :, :], persistent=False)
        up = torch.zeros(bands, bands, bands)
        for i in range(bands):
            up[i, i, 0] = 1.0
        self.register_buffer("up", up, persistent=False)

    def analysis(self, x):  # [B, T] -> [B, bands, T / bands]
        y = F.conv1d(F.pad(x[:, None], (self.pad, self.pad)), self.ana)
        return y[:, :, ::self.bands]

    def synthesis(self, y):  # [B, bands, T / bands] -> [B, T]
        z = F.conv_transpose1d(y, self.up, stride=self.bands)
        return F.conv1d(F.pad(z, (self.pad, self.pad)), self.syn).squeeze(1)


class SubbandGenerator(UpsampleGenerator):
    """The upsampler writing `bands` sub-band signals at 1/bands of the rate, merged by PQMF."""

    def __init__(self, ch=128, rates=(4, 4, 4), kernels=(3,), bands=4):
        assert bands * int(np.prod(rates)) == HOP
        super().__init__(ch, rates, kernels, dilations=(1, 3, 9), out_channels=bands)
        self.pqmf = PQMF(bands)

    def forward(self, mel):  # [B, 80, F] -> [B, F*256]
        return self.pqmf.synthesis(self.body(mel))


class NoiseWaveNet(nn.Module):
    def __init__(self, res=32, gate=64, skip=32, layers=10, cycle=5, cond=32):
        super().__init__()
        # conditioning: a 1x1 bottleneck at frame rate, then a nearest-neighbour stretch
        # x4 four times, each stage smoothed over time (depthwise, initialised to a mean)
        self.bottleneck = nn.Conv1d(N_MELS, cond, 1)
        self.stretch = nn.ModuleList([nn.Conv1d(cond, cond, 9, padding=4, groups=cond, bias=False)
                                      for _ in range(4)])
        for c in self.stretch:
            nn.init.constant_(c.weight, 1.0 / 9)
        self.inp = nn.Conv1d(1, res, 1)
        self.dil = nn.ModuleList([_wn(nn.Conv1d(res, gate, 3, dilation=2 ** (i % cycle),
                                                padding=2 ** (i % cycle))) for i in range(layers)])
        self.cond = nn.ModuleList([nn.Conv1d(cond, gate, 1, bias=False) for _ in range(layers)])
        self.res = nn.ModuleList([_wn(nn.Conv1d(gate // 2, res, 1)) for _ in range(layers)])
        self.skip = nn.ModuleList([_wn(nn.Conv1d(gate // 2, skip, 1)) for _ in range(layers)])
        self.out1 = _wn(nn.Conv1d(skip, skip, 1))
        self.out2 = _wn(nn.Conv1d(skip, 1, 1))
        self.scale = math.sqrt(1.0 / layers)

    def forward(self, mel, noise=None):  # [B, 80, F] -> [B, F*256]
        c = self.bottleneck(mel)
        for conv in self.stretch:
            c = conv(F.interpolate(c, scale_factor=4, mode="nearest"))
        if noise is None:
            noise = torch.randn(mel.shape[0], 1, c.shape[-1], device=mel.device, dtype=mel.dtype)
        x = self.inp(noise)
        skips = 0.0
        for d, cc, r, s in zip(self.dil, self.cond, self.res, self.skip):
            a, b = (d(x) + cc(c)).chunk(2, dim=1)
            h = torch.tanh(a) * torch.sigmoid(b)
            skips = skips + s(h)
            x = (x + r(h)) * math.sqrt(0.5)
        y = self.out2(F.relu(self.out1(F.relu(skips * self.scale))))
        return y.squeeze(1)


def _stack(convs, post, x):
    """Runs a discriminator's conv stack; returns (flattened score, every layer's output)."""
    feats = []
    for c in convs:
        x = F.leaky_relu(c(x), 0.1)
        feats.append(x)
    x = post(x)
    feats.append(x)
    return x.flatten(1), feats


class PeriodDisc(nn.Module):
    def __init__(self, period, ch=(8, 32, 64)):
        super().__init__()
        self.period = period
        layers, c = [], 1
        for co in ch:
            layers.append(_wn(nn.Conv2d(c, co, (5, 1), (3, 1), padding=(2, 0))))
            c = co
        layers.append(_wn(nn.Conv2d(c, c, (5, 1), 1, padding=(2, 0))))
        self.convs = nn.ModuleList(layers)
        self.post = _wn(nn.Conv2d(c, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):  # [B, T]
        b, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), mode="reflect")
        x = x.view(b, 1, -1, self.period)
        return _stack(self.convs, self.post, x)


class ScaleDisc(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([
            _wn(nn.Conv1d(1, 16, 15, 1, padding=7)),
            _wn(nn.Conv1d(16, 32, 41, 4, groups=4, padding=20)),
            _wn(nn.Conv1d(32, 64, 41, 4, groups=16, padding=20)),
            _wn(nn.Conv1d(64, 64, 5, 1, padding=2)),
        ])
        self.post = _wn(nn.Conv1d(64, 1, 3, 1, padding=1))

    def forward(self, x):
        x = x.unsqueeze(1)
        return _stack(self.convs, self.post, x)


class Discriminators(nn.Module):
    def __init__(self):
        super().__init__()
        self.discs = nn.ModuleList([PeriodDisc(2), PeriodDisc(3), PeriodDisc(5), ScaleDisc()])
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, x):
        outs = []
        for d in self.discs:
            outs.append(d(x))
        outs.append(self.discs[-1](self.pool(x.unsqueeze(1)).squeeze(1)))
        return outs


KINDS = ("upsample", "istft", "subband", "wavenet")


def make_generator(kind):
    # Sized so that copy-synthesis of hours of speech stays cheap on a CPU; the first two
    # also train in a few CPU-hours (see train_vocoder.py), the last two were trained on
    # the lent GPU.
    if kind == "upsample":
        return UpsampleGenerator(ch=96, kernels=(3,))
    if kind == "istft":
        return ISTFTGenerator(dim=128, hidden=256, layers=4)
    if kind == "subband":
        return SubbandGenerator(ch=192, kernels=(3, 7))
    if kind == "wavenet":
        return NoiseWaveNet()
    raise ValueError(f"unknown vocoder kind {kind}")
