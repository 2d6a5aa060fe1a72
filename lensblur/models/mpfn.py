"""MPFN: multi-scale constrained predictive filters (Zheng et al., IEEE TCI 2022).

The paper's model, module for module (§III, Fig. 2, 3, 7, 8; Tables I-II), with the shapes of the
official PyTorch file (8,747,556 parameters at the defaults):

* **Input**: display-encoded RGB in [0, 1] and the 2-channel coordinate map C(x, y) = (x/W, y/H) − 0.5 of
  the *whole frame* (Eq. 12; a training crop takes the crop of the full frame's map), space-to-depth ×2,
  conv 3x3 → ``width`` channels, ReLU.
* **Levels** l = 1..L, l = 1 finest (features at H/2): a stride-2 conv 3x3 + ReLU enters each coarser
  level. Each level runs two gate fusion blocks: one on the way down and one on the way up (after a 1x1
  conv + ReLU that fuses the features with the coarser level's output image; the coarsest level runs its
  two back to back).
* **Gate fusion block** (Eq. 4, Table I): a dense block (N = 5 conv 3x3 + ReLU, growth nD = 64) gives
  Z_deep; three 1x1 convs without bias (4nD, 2nD, 1; ReLU between) and a Sign give the binary salient map
  Z_s; ``out = CK(Z_deep)·Z_s + (1 − Z_s)·x`` with CK a 1x1 conv back to ``width``.
* **Constrained predictive filter block** (Fig. 7, Table II): dense block, 1x1 CP1 (2nD) + ReLU, 1x1 CP2
  (4nD) + ReLU, pixel shuffle ×2 (→ nD channels), conv 3x3 Cf → k² channels, softmax over them: one
  non-negative kernel summing to 1 per output pixel (Eq. 7-8).
* **Image reconstruction block**: conv 3x3 CI → 12 channels, pixel shuffle ×2 → RGB, plus the coarser
  level's output upsampled ×2 (bilinear; at the coarsest level: the input image area-downsampled to that
  size). The predictive filter (Eq. 10-11) then filters this image with the per-pixel kernels.
* **Outputs** at H, H/2, …, H/2^(L−1) (finest first), all supervised (Eq. 15).

Decisions where the paper and the official code are silent or unusable (ARCHITECTURE.md):

* **Sign gate**: ``sign(ReLU(s))`` is the step function, whose gradient is zero, so the gate convs could
  not learn. Forward pass: the exact step (Z_s ∈ {0, 1}); backward pass: the gradient of sigmoid(s)
  (a sigmoid straight-through estimator, written ``step + (σ(s) − σ(s).detach())``, exactly the step in the
  forward pass, and plain operators, so it exports to ONNX).
  ``gate="sigmoid"`` is the paper's Table IV alternative (soft gate).
* **Replicate padding** for the predictive filter (the official unfold pads with zeros): a kernel that
  reaches past the frame then reads the edge pixel instead of black, so borders do not darken. On small
  training crops zero padding inflated the initial loss by half (1.08 vs 0.55 on 48 px crops) and slowed
  training (measured, tests/training/test_learned.py's overfit run).
* H and W must be multiples of 2^L; :func:`mpfn_render` pads (reflect) and crops for any size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError, InvalidParameterError
from ..io.weights import load_weights, save_weights

__all__ = [
    "MPFNConfig", "MPFN", "coordinate_map", "predictive_filter", "predictive_filter_reference",
    "blur_degree_map", "mpfn_render",
]

_GATES = ("sign", "sigmoid")
_FILTER_ACTIVATIONS = ("softmax", "relu")


@dataclass(frozen=True)
class MPFNConfig:
    """MPFN's shape and its ablation switches (paper Tables III-V).

    Attributes:
        levels: number of scales L (the paper's MPFN-1 … MPFN-4; 3 is the paper's model).
        kernel_sizes: predictive-filter size k per level, finest first (paper: 9, 11, 13; Table V
            compares 3-5-7 … 9-11-13). Odd, one per level.
        width: feature channels between blocks (2nD = 128).
        growth: channels per dense-block layer (nD = 64).
        dense_layers: layers per dense block (N = 5).
        gate: ``"sign"`` (binary, straight-through gradient) or ``"sigmoid"`` (Table IV).
        filter_activation: ``"softmax"`` (constrained: kernels ≥ 0 summing to 1) or ``"relu"``
            (unconstrained non-negative kernels, Table IV's ablation).
        coordinates: feed the 2-channel coordinate map (Table IV's CM switch).
    """

    levels: int = 3
    kernel_sizes: tuple[int, ...] = (9, 11, 13)
    width: int = 128
    growth: int = 64
    dense_layers: int = 5
    gate: str = "sign"
    filter_activation: str = "softmax"
    coordinates: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel_sizes", tuple(self.kernel_sizes))
        for name in ("levels", "width", "growth", "dense_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"MPFNConfig.{name} must be a positive integer; got {value!r}")
        if len(self.kernel_sizes) != self.levels or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise InvalidParameterError(
                f"MPFNConfig.kernel_sizes must hold one odd size per level (levels={self.levels}), finest first, "
                f"e.g. (9, 11, 13) for 3 levels; got {self.kernel_sizes!r}")
        if self.gate not in _GATES:
            raise InvalidParameterError(f"MPFNConfig.gate must be one of {_GATES}; got {self.gate!r}")
        if self.filter_activation not in _FILTER_ACTIVATIONS:
            raise InvalidParameterError(
                f"MPFNConfig.filter_activation must be one of {_FILTER_ACTIVATIONS}; got {self.filter_activation!r}")

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (space-to-depth, then L − 1 stride-2 convs)."""
        return 2 ** self.levels


# -- pure functions --------------------------------------------------------------------------------------

def coordinate_map(height: int, width: int, *, top: int = 0, left: int = 0, frame: tuple[int, int] | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    """MPFN's coordinate map (Eq. 12): channels ``(x / W − 0.5, y / H − 0.5)``, shape ``(1, 2, height, width)``.

    ``frame = (H, W)`` is the whole photo's size and ``(top, left)`` where this window sits in it, so a
    training crop gets the crop of the full frame's map (default: the window is the frame).
    """
    frame_h, frame_w = frame if frame is not None else (height, width)
    if frame_h < 1 or frame_w < 1:
        raise InvalidParameterError(f"coordinate_map: frame must be positive (H, W); got {frame!r}")
    xs = (torch.arange(width, dtype=torch.float32, device=device) + left) / frame_w - 0.5
    ys = (torch.arange(height, dtype=torch.float32, device=device) + top) / frame_h - 0.5
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])[None]


def predictive_filter(image: Tensor, kernels: Tensor) -> Tensor:
    """Filter every pixel of ``image (B, C, H, W)`` with its own k x k kernel ``kernels (B, k², H, W)``.

    Kernel index i weighs the pixel at row offset ``i // k − r`` and column offset ``i % k − r`` (Eq. 11),
    reading the nearest edge pixel outside the image (replicate padding). One shifted multiply-add per tap:
    memory stays at one image, not k² copies of it.
    """
    taps = kernels.shape[1]
    size = int(round(taps ** 0.5))
    if size * size != taps or size % 2 == 0:
        raise InvalidParameterError(f"predictive_filter: kernels must have k² channels for an odd k; got {taps}")
    if kernels.shape[0] != image.shape[0] or kernels.shape[-2:] != image.shape[-2:]:
        raise InvalidParameterError(f"predictive_filter: kernels {tuple(kernels.shape)} do not match the image "
                                    f"{tuple(image.shape)} (same batch, height and width)")
    radius = size // 2
    height, width = image.shape[-2:]
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    out = torch.zeros_like(image)
    for i in range(taps):
        dy, dx = divmod(i, size)
        out = out + padded[:, :, dy:dy + height, dx:dx + width] * kernels[:, i:i + 1]
    return out


def predictive_filter_reference(image: Tensor, kernels: Tensor) -> Tensor:
    """The definition, one pixel at a time (slow; for tests)."""
    batch, channels, height, width = image.shape
    size = int(round(kernels.shape[1] ** 0.5))
    radius = size // 2
    out = torch.zeros_like(image)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                total = torch.zeros(channels, dtype=image.dtype)
                for i in range(size * size):
                    sy = min(max(y + i // size - radius, 0), height - 1)
                    sx = min(max(x + i % size - radius, 0), width - 1)
                    total += kernels[b, i, y, x] * image[b, :, sy, sx]
                out[b, :, y, x] = total
    return out


def blur_degree_map(kernels: Tensor) -> Tensor:
    """The paper's k_visual (Eq. 16): Σ θ(m, n)·(|m − r| + |n − r|) / (2r + 1) per pixel, ``(B, 1, H, W)``.

    0 = the pixel is kept (a centre-only kernel), towards 1 = spread over the window.
    """
    size = int(round(kernels.shape[1] ** 0.5))
    radius = size // 2
    offsets = torch.arange(size, device=kernels.device, dtype=kernels.dtype) - radius
    distance = (offsets.abs()[:, None] + offsets.abs()[None, :]).reshape(1, -1, 1, 1) / size
    return (kernels * distance).sum(1, keepdim=True)


def _area_resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    return image if image.shape[-2:] == size else F.interpolate(image, size=size, mode="area")


# -- modules ---------------------------------------------------------------------------------------------

class _DenseBlock(nn.Module):
    """N conv 3x3 + ReLU layers, each seeing everything before it (output: in + N·growth channels)."""

    def __init__(self, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels + i * growth, growth, 3, padding=1) for i in range(layers))
        self.out_channels = channels + layers * growth

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = torch.cat([x, F.relu(conv(x))], 1)
        return x


class GateFusionBlock(nn.Module):
    """Eq. 4: ``CK(Z_deep)·Z_s + (1 − Z_s)·x``; returns the output and Z_s."""

    def __init__(self, config: MPFNConfig) -> None:
        super().__init__()
        width, growth = config.width, config.growth
        self.dense = _DenseBlock(width, growth, config.dense_layers)
        deep = self.dense.out_channels
        self.saliency = nn.Sequential(
            nn.Conv2d(deep, 4 * growth, 1, bias=False), nn.ReLU(),   # CR1
            nn.Conv2d(4 * growth, 2 * growth, 1, bias=False), nn.ReLU(),   # CR2
            nn.Conv2d(2 * growth, 1, 1, bias=False),   # CR3
        )
        self.transform = nn.Conv2d(deep, width, 1)   # CK
        self.gate = config.gate

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        deep = self.dense(x)
        score = self.saliency(deep)
        soft = torch.sigmoid(score)
        if self.gate == "sign":
            salient = (score > 0).to(score.dtype) + (soft - soft.detach())   # exact step forward, sigmoid gradient
        else:
            salient = soft
        return self.transform(deep) * salient + (1 - salient) * x, salient


class FilterBlock(nn.Module):
    """The constrained predictive filter generator: per-pixel k x k kernels at twice the input size."""

    def __init__(self, config: MPFNConfig, kernel_size: int) -> None:
        super().__init__()
        width, growth = config.width, config.growth
        self.dense = _DenseBlock(width, growth, config.dense_layers)
        self.expand = nn.Sequential(
            nn.Conv2d(self.dense.out_channels, 2 * growth, 1), nn.ReLU(),   # CP1
            nn.Conv2d(2 * growth, 4 * growth, 1), nn.ReLU(),   # CP2
        )
        self.kernels = nn.Conv2d(growth, kernel_size * kernel_size, 3, padding=1, bias=False)   # Cf
        self.activation = config.filter_activation

    def forward(self, x: Tensor) -> Tensor:
        logits = self.kernels(F.pixel_shuffle(self.expand(self.dense(x)), 2))
        return torch.softmax(logits, 1) if self.activation == "softmax" else F.relu(logits)


class _Level(nn.Module):
    """One scale: the encoder gate, the decoder gate (after fusing the coarser output), CPFB and IRB."""

    def __init__(self, config: MPFNConfig, kernel_size: int, coarsest: bool) -> None:
        super().__init__()
        width = config.width
        self.down_gate = GateFusionBlock(config)
        self.fuse = None if coarsest else nn.Conv2d(width + 3, width, 1)
        self.up_gate = GateFusionBlock(config)
        self.filters = FilterBlock(config, kernel_size)
        self.reconstruct = nn.Conv2d(width, 12, 3, padding=1)   # CI (IRB)


@dataclass
class MPFNDetails:
    """What :meth:`MPFN.details` returns; lists run finest level first."""

    outputs: list[Tensor]
    kernels: list[Tensor] = field(default_factory=list)
    gates: list[Tensor] = field(default_factory=list)   # Z_s of each level's decoder gate

    def blur_degree(self) -> Tensor:
        """k_visual (Eq. 16) of the finest level's filters, ``(B, 1, H, W)``."""
        return blur_degree_map(self.kernels[0])

    def salient_mask(self) -> Tensor:
        """1 − Z_s of the finest decoder gate, upsampled (nearest) to the output size: 1 = kept in focus."""
        gate = self.gates[0]
        return F.interpolate(1 - gate, size=self.outputs[0].shape[-2:], mode="nearest")


class MPFN(nn.Module):
    """The network. ``forward(image, coords=None)`` returns the outputs, finest (full size) first."""

    def __init__(self, config: MPFNConfig = MPFNConfig()) -> None:
        super().__init__()
        self.config = config
        in_channels = 4 * (5 if config.coordinates else 3)
        self.head = nn.Conv2d(in_channels, config.width, 3, padding=1)
        self.downs = nn.ModuleList(nn.Conv2d(config.width, config.width, 3, stride=2, padding=1)
                                   for _ in range(config.levels - 1))
        self.levels = nn.ModuleList(_Level(config, k, coarsest=(i == config.levels - 1))
                                    for i, k in enumerate(config.kernel_sizes))

    def _check(self, image: Tensor, coords: Tensor | None) -> Tensor | None:
        if image.ndim != 4 or image.shape[1] != 3:
            raise InputError(f"MPFN: image must be (B, 3, H, W) display RGB; got {tuple(image.shape)}")
        height, width = image.shape[-2:]
        m = self.config.multiple
        if height % m or width % m:
            raise InputError(f"MPFN: H and W must be multiples of {m} for {self.config.levels} levels; got "
                             f"{height}x{width}. Pad the image (mpfn_render does) or crop it.")
        if not self.config.coordinates:
            return None
        if coords is None:
            coords = coordinate_map(height, width, device=image.device)
        if coords.shape[-2:] != image.shape[-2:] or coords.shape[1] != 2:
            raise InputError(f"MPFN: coords must be (B or 1, 2, H, W) like the image; got {tuple(coords.shape)}")
        return coords.to(image.dtype).expand(image.shape[0], -1, -1, -1)

    def details(self, image: Tensor, coords: Tensor | None = None) -> MPFNDetails:
        """Run the network and keep the per-level kernels and decoder gates (for diagnostics)."""
        coords = self._check(image, coords)
        x = image if coords is None else torch.cat([image, coords], 1)
        feats = []
        t = F.relu(self.head(F.pixel_unshuffle(x, 2)))
        for i, level in enumerate(self.levels):
            if i > 0:
                t = F.relu(self.downs[i - 1](t))
            t, _ = level.down_gate(t)
            feats.append(t)
        found = MPFNDetails(outputs=[])
        below = None
        for i in reversed(range(self.config.levels)):
            level = self.levels[i]
            t = feats[i]
            if below is not None:
                t = F.relu(level.fuse(torch.cat([t, below], 1)))
            t, gate = level.up_gate(t)
            size = (t.shape[-2] * 2, t.shape[-1] * 2)
            if below is None:
                base = _area_resize(image, size)
            else:
                base = F.interpolate(below, size=size, mode="bilinear", align_corners=True)
            sharp = F.pixel_shuffle(level.reconstruct(t), 2) + base
            kernels = level.filters(t)
            below = predictive_filter(sharp, kernels)
            found.outputs.insert(0, below)
            found.kernels.insert(0, kernels)
            found.gates.insert(0, gate)
        return found

    def forward(self, image: Tensor, coords: Tensor | None = None) -> tuple[Tensor, ...]:
        return tuple(self.details(image, coords).outputs)

    # -- weights ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        """safetensors with the config in the header, written atomically."""
        return save_weights(self, path, {"model": "mpfn", **asdict(self.config)}, metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> MPFN:
        return load_weights(path, "MPFN weights", lambda config: cls(MPFNConfig(**config)), map_location, model="mpfn")


def mpfn_render(model: MPFN, image: Tensor, *, with_mask: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Any-size inference: reflect-pad to a multiple of 2^L, coordinate map of the real frame, crop back.

    ``image``: display RGB ``(B, 3, H, W)`` in [0, 1]; returns the finest output clipped to [0, 1], and with
    ``with_mask`` also the salient mask 1 − Z_s ``(B, 1, H, W)`` (1 = kept in focus; Table IX's split).
    """
    height, width = image.shape[-2:]
    m = model.config.multiple
    pad_h, pad_w = -height % m, -width % m
    padded = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else image
    coords = coordinate_map(height + pad_h, width + pad_w, frame=(height, width), device=image.device)
    with torch.no_grad():
        found = model.details(padded, coords)
    out = found.outputs[0][..., :height, :width].clamp(0, 1)
    if with_mask:
        return out, found.salient_mask()[..., :height, :width]
    return out
