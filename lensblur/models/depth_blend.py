"""Depth-aware blending of smoothed images (Dutta, JVCI 2021; arXiv 2005.14214).

The bokeh image is a per-pixel convex combination of the input and Gaussian-blurred copies of it
(Eq. 1-2): ``B = W0·I + Σ_i W_i·G_ki(I)``, with ``Σ W_i = 1``. The weights come from MegaDepth's
hourglass (Li & Snavely 2018, after Chen et al. 2016; paper Fig. 2) whose last layer is replaced by a
3x3 conv to n + 1 channels followed by a softmax over them.

* **Backbone** (:class:`MegaDepthHourglass`): conv 7x7 3→128, BatchNorm, ReLU; a four-level hourglass of
  inception modules (each module: a 1x1 branch and three 1x1-reduce + kxk branches, concatenated; every
  conv followed by a non-affine BatchNorm and ReLU; max pooling on the two outer levels, average pooling on
  the two inner; nearest ×2 upsampling; each level adds a same-resolution skip branch), 64 channels out;
  conv 3x3 64→1 predicts log depth. 5,357,153 parameters (5,358,884 with the 4-way head). The module tree has the same child indices as
  MegaDepth's released ``pytorch_DIW_scratch`` Sequential, so a user's ``best_generalization_net_G.pth``
  (MIT code; the weights' licence is not stated, so they never ship) loads key for key after dropping
  nn.DataParallel's ``module.`` prefix (:func:`load_megadepth_weights`).
* **Blur set**: the paper's kernel sizes 25, 45, 75 px. The paper does not give σ; we use OpenCV's rule
  for a given size, σ = 0.3·((k − 1)/2 − 1) + 0.8 (4.1, 7.1, 11.6 px), reflect padding (OpenCV's default).
* **Inference protocol** (§5.1): resize the input to the training size (H x W = 768 x 1024 after phases
  2-3, 384 x 512 after phase 1), run, resize the result back bilinearly. ``inference_size=None`` runs at
  the native size. Images are display-encoded RGB in [0, 1] (what EBB! stores).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import FileFormatError, InputError, InvalidParameterError
from ..io.weights import load_weights, save_weights, strip_prefix

__all__ = [
    "MegaDepthHourglass", "DepthBlendConfig", "DepthAwareBlend", "gaussian_sigma", "gaussian_blur",
    "blend", "load_megadepth_weights", "depth_blend_render",
]


# -- the hourglass ---------------------------------------------------------------------------------------

# An inception module: (1x1 branch channels, ((reduce, kernel, out), ...three branches)).
_A = (32, ((32, 3, 32), (32, 5, 32), (32, 7, 32)))        # 128 -> 128
_B = (32, ((64, 3, 32), (64, 5, 32), (64, 7, 32)))        # 128 -> 128
_C = (16, ((32, 3, 16), (32, 7, 16), (32, 11, 16)))       # 128 -> 64
_D = (16, ((64, 3, 16), (64, 7, 16), (64, 11, 16)))       # 128 -> 64
_E = (64, ((32, 3, 64), (32, 5, 64), (32, 7, 64)))        # 128 -> 256
_F = (64, ((32, 3, 64), (32, 5, 64), (32, 7, 64)))        # 256 -> 256
_G = (64, ((64, 3, 64), (64, 7, 64), (64, 11, 64)))       # 256 -> 256
_H = (32, ((32, 3, 32), (32, 5, 32), (32, 7, 32)))        # 256 -> 128
_I = (32, ((64, 3, 32), (64, 7, 32), (64, 11, 32)))       # 128 -> 128


def _conv_bn_relu(cin: int, cout: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.BatchNorm2d(cout, affine=False), nn.ReLU()]


class _Concat(nn.ModuleList):
    """Parallel branches, concatenated along channels."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self], 1)


class _Fork(nn.ModuleList):
    """Parallel branches, returned as a list (summed by the next module)."""

    def forward(self, x: Tensor) -> list[Tensor]:
        return [branch(x) for branch in self]


class _Sum(nn.Module):
    def forward(self, xs: list[Tensor]) -> Tensor:
        return xs[0] + xs[1]


def _inception(cin: int, spec: tuple) -> _Concat:
    one, branches = spec
    return _Concat([nn.Sequential(*_conv_bn_relu(cin, one, 1))] +
                   [nn.Sequential(*_conv_bn_relu(cin, r, 1), *_conv_bn_relu(r, out, k)) for r, k, out in branches])


def _level(skip: list, pooled: list, pool: nn.Module, inner: nn.Module | None, after: list,
           skip_first: bool, cin: int, cout_inner: int) -> nn.Sequential:
    """``skip(x) + up(after(inner(pooled(pool(x)))))``: one hourglass level (child order as released)."""
    def chain(specs, channels):
        modules = []
        for spec in specs:
            modules.append(_inception(channels, spec))
            channels = spec[0] + sum(out for _, _, out in spec[1])
        return modules, channels

    skip_mods, _ = chain(skip, cin)
    down_mods, channels = chain(pooled, cin)
    if inner is not None:
        down_mods.append(inner)
        channels = cout_inner
    up_mods, _ = chain(after, channels)
    down = nn.Sequential(pool, *down_mods, *up_mods, nn.Upsample(scale_factor=2, mode="nearest"))
    branches = [nn.Sequential(*skip_mods), down] if skip_first else [down, nn.Sequential(*skip_mods)]
    return nn.Sequential(_Fork(branches), _Sum())


class MegaDepthHourglass(nn.Module):
    """MegaDepth's hourglass: ``(B, 3, H, W)`` RGB in [0, 1] → ``(B, out_channels, H, W)``; H, W multiples of 16.

    With ``out_channels=1`` it is MegaDepth (the output is log depth); the blending model uses n + 1.
    """

    def __init__(self, out_channels: int = 1) -> None:
        super().__init__()
        level4 = _level([_F, _F], [_F, _F, _F], nn.AvgPool2d(2), None, [], True, 256, 256)
        level3 = _level([_F, _G], [_F, _F], nn.AvgPool2d(2), level4, [_F, _G], True, 256, 256)
        level2 = _level([_A, _I], [_A, _E], nn.MaxPool2d(2), level3, [_F, _H], False, 128, 256)
        level1 = _level([_D], [_A, _A], nn.MaxPool2d(2), level2, [_B, _C], False, 128, 128)
        self.net = nn.Sequential(nn.Conv2d(3, 128, 7, padding=3), nn.BatchNorm2d(128), nn.ReLU(), level1,
                                 nn.Conv2d(64, out_channels, 3, padding=1))

    @property
    def head(self) -> nn.Conv2d:
        return self.net[4]

    def forward(self, image: Tensor) -> Tensor:
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[-2] % 16 or image.shape[-1] % 16:
            raise InputError(f"MegaDepthHourglass: input must be (B, 3, H, W) with H and W multiples of 16; "
                             f"got {tuple(image.shape)}. Resize or pad it.")
        return self.net(image)

    # MegaDepth's checkpoint keys are the released Sequential's: ``net.`` + key == ours.
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # noqa: D102
        return super().load_state_dict(_released_keys(state_dict), strict=strict, assign=assign)


def _released_keys(state: dict) -> dict:
    """MegaDepth's released keys ("3.0.0.1.0.0.weight") as ours ("net.3.0.0.1.0.0.weight")."""
    return {k if k.startswith("net.") else f"net.{k}": v for k, v in state.items()}


# -- blending --------------------------------------------------------------------------------------------

def gaussian_sigma(kernel_size: int) -> float:
    """OpenCV's σ for a Gaussian of ``kernel_size`` when none is given: 0.3·((k − 1)/2 − 1) + 0.8."""
    return 0.3 * ((kernel_size - 1) / 2 - 1) + 0.8


def gaussian_blur(image: Tensor, kernel_size: int, sigma: float | None = None) -> Tensor:
    """Separable Gaussian blur of ``image (B, C, H, W)``, reflect padding (OpenCV's BORDER_REFLECT_101)."""
    sigma = gaussian_sigma(kernel_size) if sigma is None else sigma
    radius = kernel_size // 2
    offsets = torch.arange(kernel_size, dtype=image.dtype, device=image.device) - radius
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    taps = taps / taps.sum()
    channels = image.shape[1]
    mode = "reflect" if min(image.shape[-2:]) > radius else "replicate"
    x = F.pad(image, (radius, radius, 0, 0), mode=mode)
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    x = F.pad(x, (0, 0, radius, radius), mode=mode)
    return F.conv2d(x, taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def blend(image: Tensor, weights: Tensor, kernel_sizes: tuple[int, ...], sigmas: tuple[float, ...] | None = None
          ) -> Tensor:
    """Eq. 1: ``W0·I + Σ_i W_i·G_ki(I)``; ``weights (B, n + 1, H, W)`` (softmax output, Eq. 2)."""
    if weights.shape[1] != len(kernel_sizes) + 1:
        raise InvalidParameterError(f"blend: weights need {len(kernel_sizes) + 1} channels (the image + one per "
                                    f"kernel size {kernel_sizes}); got {weights.shape[1]}")
    sigmas = sigmas or (None,) * len(kernel_sizes)
    out = weights[:, :1] * image
    for i, (k, s) in enumerate(zip(kernel_sizes, sigmas, strict=True)):
        out = out + weights[:, i + 1:i + 2] * gaussian_blur(image, k, s)
    return out


@dataclass(frozen=True)
class DepthBlendConfig:
    """Attributes:
        kernel_sizes: Gaussian kernel sizes of the blurred copies (paper: 25, 45, 75; Tables 2-3).
        sigmas: their σ in px; ``None`` = OpenCV's rule (:func:`gaussian_sigma`).
        inference_size: ``(H, W)`` the model runs at (paper: the last training size, 768 x 1024), or
            ``None`` for the native size (rounded up to a multiple of 16 by padding).
    """

    kernel_sizes: tuple[int, ...] = (25, 45, 75)
    sigmas: tuple[float, ...] | None = None
    inference_size: tuple[int, int] | None = (768, 1024)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel_sizes", tuple(self.kernel_sizes))
        if self.sigmas is not None:
            object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))
        if self.inference_size is not None:
            object.__setattr__(self, "inference_size", tuple(self.inference_size))
        if not self.kernel_sizes or any(not isinstance(k, int) or k < 3 or k % 2 == 0 for k in self.kernel_sizes):
            raise InvalidParameterError(
                f"DepthBlendConfig.kernel_sizes must be odd integers >= 3, e.g. (25, 45, 75); got {self.kernel_sizes!r}")
        if self.sigmas is not None and (len(self.sigmas) != len(self.kernel_sizes) or min(self.sigmas) <= 0):
            raise InvalidParameterError(f"DepthBlendConfig.sigmas must be positive, one per kernel size "
                                        f"{self.kernel_sizes}, or None; got {self.sigmas!r}")
        if self.inference_size is not None and (len(self.inference_size) != 2 or
                                                any(s < 16 or s % 16 for s in self.inference_size)):
            raise InvalidParameterError(f"DepthBlendConfig.inference_size must be (H, W), multiples of 16, or "
                                        f"None; got {self.inference_size!r}")


class DepthAwareBlend(nn.Module):
    """The hourglass with an (n + 1)-way softmax head. ``forward(image) -> (bokeh, weights)`` at the input size."""

    def __init__(self, config: DepthBlendConfig = DepthBlendConfig()) -> None:
        super().__init__()
        self.config = config
        self.backbone = MegaDepthHourglass(out_channels=len(config.kernel_sizes) + 1)

    def weights(self, image: Tensor) -> Tensor:
        return torch.softmax(self.backbone(image), 1)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        weights = self.weights(image)
        return blend(image, weights, self.config.kernel_sizes, self.config.sigmas), weights

    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        return save_weights(self, path, {"model": "depth-blend", **asdict(self.config)}, metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> DepthAwareBlend:
        return load_weights(path, "depth-aware blending weights", lambda config: cls(DepthBlendConfig(**config)), map_location, model="depth-blend")


def load_megadepth_weights(model: DepthAwareBlend | MegaDepthHourglass, path: str | Path) -> list[str]:
    """Load MegaDepth's released ``best_generalization_net_G.pth`` (or any state dict of the same network)
    into the hourglass; returns the keys left out (the 1-channel log-depth head, when ``model`` has the
    blending head: that layer is the one the paper replaces and trains).

    The file is read with ``torch.load(weights_only=True)`` (tensors only, no arbitrary unpickling); the
    nn.DataParallel prefix ``module.`` is dropped.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no MegaDepth weights at {path}; download best_generalization_net_G.pth from the "
                                "MegaDepth project page (github.com/zhengqili/MegaDepth) and pass its path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FileFormatError(f"{path} is not a PyTorch state dict that loads safely: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FileFormatError(f"{path} does not hold a state dict of tensors")
    state = strip_prefix(state)
    hourglass = model.backbone if isinstance(model, DepthAwareBlend) else model
    own = hourglass.state_dict()
    state = _released_keys(state)
    skipped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    usable = {k: v for k, v in state.items() if k not in skipped}
    unknown = sorted(set(usable) - set(own))
    missing = sorted(k for k in set(own) - set(usable) - set(skipped) if not k.endswith("num_batches_tracked"))
    if unknown or missing:
        raise FileFormatError(f"{path} does not fit MegaDepth's hourglass: unexpected keys {unknown[:5]}, "
                              f"missing {missing[:5]}")
    hourglass.load_state_dict(usable, strict=False)
    return skipped


def depth_blend_render(model: DepthAwareBlend, image: Tensor) -> Tensor:
    """The paper's inference protocol: resize to ``inference_size``, run, resize back bilinearly.

    ``image``: display RGB ``(B, 3, H, W)`` in [0, 1]; with ``inference_size=None`` the image is padded
    (reflect) to a multiple of 16 and cropped back instead.
    """
    height, width = image.shape[-2:]
    size = model.config.inference_size
    with torch.no_grad():
        if size is not None:
            small = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
            out = F.interpolate(model(small)[0], size=(height, width), mode="bilinear", align_corners=False)
        else:
            pad_h, pad_w = -height % 16, -width % 16
            padded = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else image
            out = model(padded)[0][..., :height, :width]
    return out.clamp(0, 1)
