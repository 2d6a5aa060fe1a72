"""PyNET for bokeh rendering (Ignatov, Patel and Timofte, CVPRW 2020; the EBB! paper).

An inverted pyramid: an encoder takes the half-resolution photo plus its depth map down to 1/32 of that
size, and seven *levels* decode it back up, each starting from the coarser level's transposed-conv
features. Each level ends in a 3-channel head and can be trained and scored on its own.

* **Input**: 4 channels — display RGB in [0, 1] bicubically shrunk by 2, and a depth map (MegaDepth in
  the paper, values in [0, 1]) at that half resolution. H and W must be multiples of 32. With
  ``depth_input=False`` the input is RGB only (the paper's no-depth ablation).
* **Output** of level ``n`` (the article's numbering, used everywhere in lensblur): level 1 at twice the
  input size (the original photo's size), level 2 at the input size, level 3 at 1/2, … level 7 at 1/32.
  The official code numbers its levels differently: its level ``c`` is the article's ``c + 2`` (its
  level 0 is article level 2, its "up" level article level 1).
* **Blocks**: every conv is k x k, stride 1, zero "same" padding, with bias, then instance norm (learned
  scale and shift, ε = 1e-3) on article levels 4-7 and the encoder below level 3, then LeakyReLU(0.2).
  A multi-conv block ``MC(kmax, m)`` runs parallel branches for k = 3, 5, 7, 9 up to kmax, each two
  stacked convs with m channels, and concatenates them. Transposed convs are 3x3, stride 2, no bias,
  then LeakyReLU; TF's "SAME" output is PyTorch's padding-0 output without its last row and column.
  Heads are conv 3x3 → 3 channels, ``tanh(x)·0.58 + 0.5``.
* **Size**: 47,551,791 parameters at the defaults, the official model's count.

The official weights are CC BY-NC-SA and never ship; this module has no converter for them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError, InvalidParameterError
from ..io.weights import load_weights, save_weights

__all__ = ["PyNETConfig", "PyNETBokeh", "pynet_input", "pynet_render", "LEVELS"]

LEVELS = (1, 2, 3, 4, 5, 6, 7)
"""Article levels, finest (2x the input) first."""


@dataclass(frozen=True)
class PyNETConfig:
    """PyNET-bokeh's shape.

    Attributes:
        width: channels of the finest pyramid level (paper 32; the coarser ones double: 64 … 512).
            Small widths make tiny models for tests.
        depth_input: the 4th input channel is a depth map (the paper's model); False for RGB only.
        instance_norm: instance norm on article levels 4-7 and the encoder below level 3 (the official
            setting; level 3 and the two finest levels never use it).
    """

    width: int = 32
    depth_input: bool = True
    instance_norm: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or self.width < 1:
            raise InvalidParameterError(f"PyNETConfig.width must be a positive integer; got {self.width!r}")

    @property
    def in_channels(self) -> int:
        return 4 if self.depth_input else 3


def _check_level(level: int) -> int:
    if level not in LEVELS:
        raise InvalidParameterError(f"PyNET level must be one of {LEVELS} (the article's numbering, 1 = finest, "
                                    f"at twice the input size); got {level!r}")
    return level


class _Conv(nn.Sequential):
    """conv k x k (same padding, bias) → optional instance norm → optional LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, kernel: int, *, norm: bool, act: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, eps=1e-3, affine=True))
        if act:
            layers.append(nn.LeakyReLU(0.2))
        super().__init__(*layers)


class MultiConv(nn.Module):
    """``MC(kmax, m)``: branches k = 3, 5, 7, 9 (k ≤ kmax) of two stacked k x k convs, concatenated."""

    def __init__(self, cin: int, channels: int, kmax: int, *, norm: bool) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(_Conv(cin, channels, k, norm=norm), _Conv(channels, channels, k, norm=norm))
            for k in (3, 5, 7, 9) if k <= kmax)
        self.out_channels = channels * len(self.branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


class UpConv(nn.Module):
    """3x3 stride-2 transposed conv without bias, TF 'SAME' sizing (exactly 2x), then LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, *, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, bias=False)
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)[..., :-1, :-1]
        return F.leaky_relu(y, 0.2) if self.act else y


def _head(cin: int) -> nn.Conv2d:
    return nn.Conv2d(cin, 3, 3, padding=1)


def _to_image(x: Tensor) -> Tensor:
    return torch.tanh(x) * 0.58 + 0.5


class PyNETBokeh(nn.Module):
    """The whole pyramid; ``forward(x, level)`` runs the encoder and the levels from 7 down to ``level``."""

    def __init__(self, config: PyNETConfig = PyNETConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.width
        norm = config.instance_norm
        # encoder: space-to-depth 2, then one MC per pyramid level with max pooling between
        self.enc1 = MultiConv(4 * config.in_channels, w, 3, norm=False)
        self.enc2 = MultiConv(w, 2 * w, 3, norm=norm)
        self.enc3 = MultiConv(2 * w, 4 * w, 3, norm=norm)
        self.enc4 = MultiConv(4 * w, 8 * w, 3, norm=norm)
        # article level 7 (1/32 of the input)
        c = 16 * w
        self.l7 = nn.ModuleList([MultiConv(8 * w, c, 3, norm=norm), MultiConv(c, c, 3, norm=norm),
                                 MultiConv(c, c, 3, norm=norm), MultiConv(c, c, 3, norm=norm)])
        self.l7_up = nn.ModuleList([UpConv(c, 8 * w), UpConv(c, 8 * w)])
        self.l7_head = _head(c)
        # article level 6 (1/16)
        c = 8 * w
        self.l6 = nn.ModuleList([MultiConv(2 * c, c, 3, norm=norm), MultiConv(c, c, 3, norm=norm),
                                 MultiConv(c, c, 3, norm=norm), MultiConv(c, c, 3, norm=norm),
                                 MultiConv(2 * c, c, 3, norm=norm)])
        self.l6_up = nn.ModuleList([UpConv(c, 4 * w), UpConv(c, 4 * w)])
        self.l6_head = _head(c)
        # article level 5 (1/8)
        c = 4 * w
        self.l5 = nn.ModuleList([MultiConv(2 * c, c, 5, norm=norm), MultiConv(2 * c, c, 5, norm=norm),
                                 MultiConv(2 * c, c, 5, norm=norm), MultiConv(2 * c, c, 5, norm=norm),
                                 MultiConv(4 * c, c, 3, norm=norm)])
        self.l5_up = nn.ModuleList([UpConv(c, 2 * w), UpConv(c, 2 * w)])
        self.l5_head = _head(c)
        # article level 4 (1/4)
        c = 2 * w
        self.l4 = nn.ModuleList([MultiConv(2 * c, c, 5, norm=norm), MultiConv(3 * c, c, 7, norm=norm),
                                 MultiConv(3 * c, c, 7, norm=norm), MultiConv(3 * c, c, 7, norm=norm),
                                 MultiConv(3 * c, c, 7, norm=norm), MultiConv(4 * c, c, 5, norm=norm),
                                 MultiConv(3 * c, c, 3, norm=norm)])
        self.l4_up = nn.ModuleList([UpConv(c, w), UpConv(c, w)])
        self.l4_head = _head(c)
        # article level 3 (1/2 of the input, no instance norm)
        c = w
        self.l3 = nn.ModuleList([MultiConv(2 * c, c, 5, norm=False), MultiConv(3 * c, c, 7, norm=False),
                                 MultiConv(3 * c, c, 9, norm=False), MultiConv(4 * c, c, 9, norm=False),
                                 MultiConv(4 * c, c, 9, norm=False), MultiConv(4 * c, c, 9, norm=False),
                                 MultiConv(4 * c, c, 7, norm=False), MultiConv(4 * c, c, 5, norm=False),
                                 MultiConv(4 * c, c, 3, norm=False)])
        self.l3_head = _head(c)
        # article level 2 (the input size) and level 1 (twice it)
        self.l2_up = UpConv(c, 8)
        self.l2_head = _head(8)
        self.l1_up = UpConv(3, 3)
        self.l1_head = _head(3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: conv weights truncated normal (σ 0.01, cut at 2σ), biases 0.01."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.trunc_normal_(module.weight, std=0.01, a=-0.02, b=0.02)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0.01)

    def _check(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise InputError(f"PyNET: input must be (B, {self.config.in_channels}, H, W) "
                             f"({'RGB + depth' if self.config.depth_input else 'RGB'}); got {tuple(x.shape)}")
        if x.shape[-2] % 32 or x.shape[-1] % 32 or min(x.shape[-2:]) < 64:
            raise InputError(f"PyNET: H and W must be multiples of 32 and at least 64 (level 7 works at 1/32 "
                             f"and needs 2x2 for its instance norm); got {tuple(x.shape[-2:])} "
                             "(pynet_render pads any size)")

    def forward(self, x: Tensor, level: int = 1) -> Tensor:
        """The output of article level ``level`` for the half-resolution input ``x``, in [0.08, 1.08]
        (clip to [0, 1] to display)."""
        _check_level(level)
        self._check(x)
        e1 = self.enc1(F.pixel_unshuffle(x, 2))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        e4 = self.enc4(F.max_pool2d(e3, 2))

        # level 7
        a, b, c, d = self.l7
        d1 = a(F.max_pool2d(e4, 2))
        d2 = b(d1) + d1
        d3 = c(d2) + d2
        d4 = d(d3)
        if level == 7:
            return _to_image(self.l7_head(d4))
        t_a, t_b = (up(d4) for up in self.l7_up)

        # level 6
        m = self.l6
        d3 = m[0](torch.cat([e4, t_a], 1))
        d4 = m[1](d3) + d3
        d5 = m[2](d4) + d4
        d6 = torch.cat([m[3](d5), t_b], 1)
        d7 = m[4](d6)
        if level == 6:
            return _to_image(self.l6_head(d7))
        t_a, t_b = (up(d7) for up in self.l6_up)

        # level 5
        m = self.l5
        d2 = torch.cat([e3, t_a], 1)
        d3 = m[0](d2) + d2
        d4 = m[1](d3) + d3
        d5 = m[2](d4) + d4
        d7 = torch.cat([m[3](d5), e3, t_b], 1)
        d8 = m[4](d7)
        if level == 5:
            return _to_image(self.l5_head(d8))
        t_a, t_b = (up(d8) for up in self.l5_up)

        # level 4
        m = self.l4
        d3 = torch.cat([m[0](torch.cat([e2, t_a], 1)), e2], 1)
        d4 = m[1](d3) + d3
        d5 = m[2](d4) + d4
        d6 = m[3](d5) + d5
        d7 = torch.cat([m[4](d6), e2], 1)
        d8 = torch.cat([m[5](d7), t_b], 1)
        d9 = m[6](d8)
        if level == 4:
            return _to_image(self.l4_head(d9))
        t_a, t_b = (up(d9) for up in self.l4_up)

        # level 3
        m = self.l3
        d3 = torch.cat([m[0](torch.cat([e1, t_a], 1)), e1], 1)
        d4 = m[1](d3)
        d5 = m[2](d4)
        d6 = m[3](d5) + d5
        d7 = m[4](d6) + d6
        d8 = m[5](d7) + d7
        d9 = torch.cat([m[6](d8), e1], 1)
        d11 = torch.cat([m[7](d9), t_b, e1], 1)
        d12 = m[8](d11)
        if level == 3:
            return _to_image(self.l3_head(d12))

        # levels 2 and 1: level 1 refines level 2's pre-tanh output
        out2 = self.l2_head(self.l2_up(d12))
        if level == 2:
            return _to_image(out2)
        return _to_image(self.l1_head(self.l1_up(out2)))

    # -- weights ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        """safetensors with the config in the header, written atomically."""
        return save_weights(self, path, {"model": "pynet-bokeh", **asdict(self.config)}, metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> PyNETBokeh:
        return load_weights(path, "PyNET-bokeh weights", lambda config: cls(PyNETConfig(**config)), map_location, model="pynet-bokeh")


def pynet_input(image: Tensor, depth: Tensor | None) -> Tensor:
    """The network's input for a full-size display RGB ``image (B, 3, H, W)`` and ``depth (B, 1, h, w)`` in
    [0, 1]: the image bicubically halved (clipped to [0, 1]), the depth resized to that half size."""
    half = (max(1, image.shape[-2] // 2), max(1, image.shape[-1] // 2))
    small = F.interpolate(image, size=half, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    if depth is None:
        return small
    depth = F.interpolate(depth.to(small), size=half, mode="bilinear", align_corners=False, antialias=True)
    return torch.cat([small, depth], 1)


def pynet_render(model: PyNETBokeh, image: Tensor, depth: Tensor | None = None) -> Tensor:
    """Any-size inference: halve, reflect-pad to a multiple of 32, run to level 1, crop and resize back to
    the photo's size; ``image`` display RGB ``(B, 3, H, W)`` in [0, 1], ``depth (B, 1, h, w)`` in [0, 1]
    (1 = near or far, as the model was trained). Returns display RGB clipped to [0, 1]."""
    if model.config.depth_input and depth is None:
        raise InputError("PyNET: this model was trained with a depth map; pass depth (B, 1, H, W) in [0, 1]")
    x = pynet_input(image, depth if model.config.depth_input else None)
    height, width = x.shape[-2:]
    pad_h, pad_w = max(-height % 32, 64 - height), max(-width % 32, 64 - width)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    with torch.no_grad():
        out = model(x, level=1)[..., : 2 * height, : 2 * width]
    if out.shape[-2:] != image.shape[-2:]:
        out = F.interpolate(out, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return out.clamp(0, 1)
