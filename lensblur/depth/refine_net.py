"""A small learned depth refiner: the photo and a coarse disparity map in, a sharp disparity map out.

A four-scale U-Net (full, 1/2, 1/4, 1/8 resolution) sees the 8-bit photo and the bilinearly upsampled
coarse map, both normalised (photo to [-0.5, 0.5], disparity by the coarse map's own range), and predicts
a correction to the upsampled map; the head starts at zero, so an untrained refiner returns its input.
Working in the coarse map's normalised range makes it independent of the map's scale (metric or
relative, any units). It is trained by ``lensblur.training.depth_refine`` on lensblur's procedural
scenes; ``refine_depth(method="learned")`` runs it with the weights shipped in ``depth/weights``.

Large photos run in tiles whose halo exceeds the receptive field, on a grid aligned to the network's
coarsest scale, so a tiled result equals the untiled one.

Inference runs channels-last (oneDNN's fast layout on a CPU) and, on a CPU with bfloat16 matrix units
(Intel AMX), in bfloat16: the convolutions in bfloat16 with float32 accumulation, the residual path (the
upsampled map the correction is added to) in float32. Measured on the refinement benchmark (docs/depth.md):
about 3x faster, renders within 0.04 dB of float32 either way. ``precision="float32"`` keeps float32.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidParameterError
from ..io.weights import read_weights, save_weights

__all__ = ["PRECISIONS", "RefinerConfig", "RefineNet", "fast_bfloat16", "normalise_inputs", "SHIPPED_REFINER",
           "VIEW_COUNTS"]

SHIPPED_REFINER = Path(__file__).with_name("weights") / "refiner-lensblur-synth.safetensors"
_MODEL_TAG = "lensblur-depth-refiner"
_ALIGN = 8  # the coarsest scale is 1/8: tiles start on multiples of 8 so every tile sees the same grid
PRECISIONS = ("auto", "float32", "bfloat16")  # what RefineNet.refine(precision=...) accepts


def fast_bfloat16(device: torch.device | str) -> bool:
    """True where bfloat16 convolutions are much faster than float32: a CPU with Intel AMX tiles. (Without
    them oneDNN emulates bfloat16 and gains little; on a GPU the refiner's float32 is fast already.)"""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return torch.device(device).type == "cpu" and probe is not None and bool(probe())


@dataclass(frozen=True)
class RefinerConfig:
    width: int = 32    # channels at full resolution; 2x, 3x, 4x at the coarser scales


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, padding_mode="replicate")


class _Pair(nn.Sequential):
    """conv-ReLU-conv-ReLU; the first conv may stride 2 (the downsampling)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(_conv(c_in, c_out, stride), nn.ReLU(inplace=True), _conv(c_out, c_out),
                         nn.ReLU(inplace=True))


def normalise_inputs(guide: Tensor, up: Tensor, lo: Tensor | None = None,
                     span: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The network input from a display-encoded photo ``guide`` (B, 3, H, W) in [0, 1] and the upsampled
    coarse map ``up`` (B, 1, H, W): ``(x, lo, span)``, the map rescaled by its own range (or the given one)."""
    if lo is None:
        lo = up.amin(dim=(-2, -1), keepdim=True)
    if span is None:
        span = (up.amax(dim=(-2, -1), keepdim=True) - lo).clamp(min=1e-6)
    return torch.cat([guide - 0.5, (up - lo) / span - 0.5], 1), lo, span


class RefineNet(nn.Module):
    """U-Net over (photo, coarse disparity): returns the refined disparity in the coarse map's
    normalised range (``(d - lo) / span``; see :func:`normalise_inputs`)."""

    def __init__(self, config: RefinerConfig = RefinerConfig()):
        super().__init__()
        self.config = config
        w = config.width
        self.enc0 = _Pair(4, w)
        self.enc1 = _Pair(w, 2 * w, stride=2)
        self.enc2 = _Pair(2 * w, 3 * w, stride=2)
        self.enc3 = _Pair(3 * w, 4 * w, stride=2)
        self.dec2 = _Pair(4 * w + 3 * w, 3 * w)
        self.dec1 = _Pair(3 * w + 2 * w, 2 * w)
        self.dec0 = _Pair(2 * w + w, w)
        self.head = nn.Conv2d(w, 1, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % _ALIGN, (-w) % _ALIGN
        padded = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        s0 = self.enc0(padded.to(self.head.weight.dtype))  # the trunk in the weights' precision
        s1 = self.enc1(s0)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        d2 = self.dec2(torch.cat([_up(s3, s2), s2], 1))
        d1 = self.dec1(torch.cat([_up(d2, s1), s1], 1))
        d0 = self.dec0(torch.cat([_up(d1, s0), s0], 1))
        out = padded[:, 3:4].float() + 0.5 + self.head(d0).float()  # the residual path stays float32
        return out[..., :h, :w]

    # -- inference on photos -----------------------------------------------------------------------------

    @torch.no_grad()
    def refine(self, guide: Tensor, up: Tensor, *, views: int = 1, tile: int = 768, halo: int = 96,
               precision: str = "auto") -> Tensor:
        """Refined disparity (B, 1, H, W), in ``up``'s units, for a display-encoded ``guide`` in [0, 1].

        ``views`` > 1 averages the network over that many flips / quarter turns of the input (2: identity
        and mirror; 4: and the two half-turn views; 8: all of them), turned back: test-time augmentation,
        ``views`` times the cost. Runs in ``tile``-px tiles with a ``halo``-px margin (both multiples of 8)
        when the photo is larger; the input is first padded to a multiple of 8, so a tile and every turned
        view of it see the same grid as the whole photo would. ``precision``: "float32", "bfloat16" (the
        convolutions; the residual path stays float32) or "auto" (bfloat16 where :func:`fast_bfloat16`).
        """
        if views not in VIEW_COUNTS:
            raise InvalidParameterError(f"views must be one of {VIEW_COUNTS}; got {views!r}")
        if precision not in PRECISIONS:
            raise InvalidParameterError(f"precision must be one of {PRECISIONS}; got {precision!r}")
        if precision == "auto":
            precision = "bfloat16" if fast_bfloat16(guide.device) else "float32"
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
        # a copy for inference in oneDNN's fast layout (and precision); this network's weights stay as they are
        net = copy.deepcopy(self).to(dtype=dtype, memory_format=torch.channels_last)
        x, lo, span = normalise_inputs(guide.float(), up.float())
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (-w) % _ALIGN, 0, (-h) % _ALIGN), mode="replicate")
        ph, pw = x.shape[-2:]
        if ph <= tile + 2 * halo and pw <= tile + 2 * halo:
            return net._averaged(x, views)[..., :h, :w] * span + lo
        out = torch.empty_like(up, dtype=torch.float32)
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                ya, xa = max(0, y0 - halo), max(0, x0 - halo)
                yb, xb = min(ph, y0 + tile + halo), min(pw, x0 + tile + halo)
                part = net._averaged(x[..., ya:yb, xa:xb], views)
                y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
                out[..., y0:y1, x0:x1] = part[..., y0 - ya:y1 - ya, x0 - xa:x1 - xa]
        return out * span + lo

    def _averaged(self, x: Tensor, views: int) -> Tensor:
        total = None
        for turns, mirror in _VIEWS[views]:
            v = torch.rot90(x, turns, (-2, -1)) if turns else x
            v = v.flip(-1) if mirror else v
            y = self(v.contiguous(memory_format=torch.channels_last))
            y = y.flip(-1) if mirror else y
            y = torch.rot90(y, -turns, (-2, -1)) if turns else y
            total = y if total is None else total + y
        return total / views

    # -- weights -------------------------------------------------------------------------------------------

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        return save_weights(self, path, {"model": _MODEL_TAG, **asdict(self.config)}, metadata)

    @classmethod
    def load(cls, path: str | Path = SHIPPED_REFINER) -> RefineNet:
        tensors, config, meta = read_weights(path, "depth refiner weights", model=_MODEL_TAG)
        net = cls(RefinerConfig(**config))
        net.load_state_dict(tensors)
        net.metadata = meta
        return net.eval()


# (quarter turns, mirror) of each view of test-time augmentation (the refiner was trained on all eight)
_VIEWS = {
    1: ((0, False),),
    2: ((0, False), (0, True)),
    4: ((0, False), (0, True), (2, False), (2, True)),
    8: tuple((k, m) for k in (0, 2, 1, 3) for m in (False, True)),
}
VIEW_COUNTS = tuple(_VIEWS)  # the values ``views`` may take


def _up(x: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
