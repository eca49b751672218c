"""The spoofd detector network: a compact 1-D residual CNN over frame features.

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
The model is TorchScript-scriptable and keeps no state between calls.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock1d(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv1d(channels_in, channels_out, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm1d(channels_out)
        self.conv2 = nn.Conv1d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels_out)
        self.skip = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.skip = nn.Sequential(nn.Conv1d(channels_in, channels_out, 1, stride=stride, bias=False),
                                      nn.BatchNorm1d(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x))


class SpoofNet(nn.Module):
    def __init__(self, n_dims: int, width: int = 64, dropout: float = 0.3, norm: str = "cmvn"):
        super().__init__()
        if norm not in ("cmvn", "cmn"):
            raise ValueError(f"norm must be cmvn or cmn, not {norm}")
        self.scale_by_std = norm == "cmvn"
        self.stem = nn.Sequential(nn.Conv1d(n_dims, width, 5, padding=2, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU())
        self.stages = nn.Sequential(
            ResBlock1d(width, width, 1),
            ResBlock1d(width, width, 2, dilation=1),
            ResBlock1d(width, 2 * width, 2, dilation=2),
            ResBlock1d(2 * width, 2 * width, 2, dilation=1),
        )
        c = 2 * width
        self.attention = nn.Sequential(nn.Conv1d(c, 64, 1), nn.Tanh(), nn.Conv1d(64, c, 1))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c, 64), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(64, 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        # Per-segment normalisation over time (the features stay raw in the contract).
        x = x - x.mean(dim=1, keepdim=True)
        if self.scale_by_std:
            x = x / x.std(dim=1, keepdim=True).clamp(min=1e-4)
        x = x.transpose(1, 2)  # [B, dims, frames]
        h = self.stages(self.stem(x))
        w = torch.softmax(self.attention(h), dim=2)
        mu = (h * w).sum(dim=2)
        sigma = ((h * h * w).sum(dim=2) - mu * mu).clamp(min=1e-6).sqrt()
        return torch.cat([mu, sigma], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)).squeeze(1)


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
