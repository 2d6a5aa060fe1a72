"""BokehMe's neural renderer: ARNet and IUNet (Peng et al., CVPR 2022, §3.2, Fig. 7-9).

Both networks share DeepFocus's fast skeleton: space-to-depth x2, a 3x3 conv with ELU, three residual
blocks ``x + ELU(conv(ELU(conv(x))))``, a 3x3 conv, and pixel shuffle x2 back to full resolution.

* **ARNet** (adaptive rendering): input the image, the signed defocus map and a γ plane; output a bokeh
  image and the logit of the error map E (Eq. 9 fuses ``(1 - E)·B_classical + E·B_neural``).
* **IUNet** (iterative upsampling): input the image and defocus at the next scale, the bokeh image of the
  previous (half) scale and the γ plane; output the refined bokeh image.

Conventions shared with the official checkpoints (so they load unchanged, ``load_official_checkpoint``):

* images are display-encoded (sRGB-like) RGB in [0, 1], not linear light;
* the defocus input is the signed blur radius in units of ``DEFOCUS_UNIT_PX`` = 10 px (BokehMe's R̂);
* γ enters as a constant plane ``(γ - 1) / 4`` (0 for γ = 1, 1 for γ = 5);
* channel order of the first conv: space-to-depth of (R, G, B, defocus) (``torch.pixel_unshuffle``
  order), then the coarse bokeh (IUNet only), then γ.

Deliberate differences:

* the official code resizes odd-sized inputs to the next lower even size and back; here they are padded by
  one replicated row/column and cropped, which keeps tiles of a large image exact;
* ``DefocusNetConfig.residual`` and ``classical_input`` (both off for the official shapes ``ARNET`` /
  ``IUNET``): lensblur's shipped networks (``ARNET_GUIDED`` / ``IUNET_RESIDUAL``) predict a correction
  added to their most natural guess instead of the image itself: ARNet also sees the classical render
  B_c and corrects it, IUNet corrects the bilinearly upsampled coarse bokeh. Both start as exactly that
  guess (zero-initialised head), with E = sigmoid(-2) ≈ 0.12, so the hybrid starts as the classical
  renderer and training only has to learn where and how the scatter is wrong: the few thousand steps a
  CPU affords are enough for that, not for learning to render bokeh from scratch (measured: ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import FileFormatError, InvalidParameterError
from ..io.weights import load_weights, save_weights

__all__ = [
    "DEFOCUS_UNIT_PX", "GAMMA_RANGE", "DefocusNetConfig", "DefocusNet", "ARNET", "IUNET", "ARNET_GUIDED",
    "IUNET_RESIDUAL", "BokehMeNets",
    "gamma_plane", "official_key_map", "load_official_checkpoint",
]

DEFOCUS_UNIT_PX = 10.0
GAMMA_RANGE = (1.0, 5.0)


@dataclass(frozen=True)
class DefocusNetConfig:
    """Shape of one DeepFocus-fast network.

    Attributes:
        in_channels: channels entering the first conv (after space-to-depth; includes γ).
        out_channels: channels after pixel shuffle (ARNet 4: RGB + error logit; IUNet 3).
        width: feature channels (ARNet 128, IUNet 64).
        blocks: residual blocks (3 in BokehMe).
        residual: predict a correction added to the network's base image (ARNet: the classical render if
            ``classical_input`` else the input image; IUNet: the upsampled coarse bokeh) instead of the image
            itself (the official networks: False).
        classical_input: ARNet also takes the classical render B_c (3 more channels before space-to-depth).
    """

    in_channels: int
    out_channels: int
    width: int
    blocks: int = 3
    residual: bool = False
    classical_input: bool = False

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "width", "blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"DefocusNetConfig.{name} must be a positive integer; got {value!r}")
        for name in ("residual", "classical_input"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameterError(f"DefocusNetConfig.{name} must be True or False; got {getattr(self, name)!r}")


ARNET = DefocusNetConfig(in_channels=17, out_channels=4, width=128)
IUNET = DefocusNetConfig(in_channels=20, out_channels=3, width=64)
ARNET_GUIDED = DefocusNetConfig(in_channels=29, out_channels=4, width=128, residual=True, classical_input=True)
IUNET_RESIDUAL = DefocusNetConfig(in_channels=20, out_channels=3, width=64, residual=True)
_ERROR_LOGIT_INIT = -2.0


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + F.elu(self.conv2(F.elu(self.conv1(x))))


class DefocusNet(nn.Module):
    """The shared skeleton. ``forward(x_s2d, extra)``: ``extra`` is concatenated at half resolution."""

    def __init__(self, config: DefocusNetConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = nn.Conv2d(config.in_channels, config.width, 3, padding=1)
        self.blocks = nn.ModuleList(_Residual(config.width) for _ in range(config.blocks))
        self.head = nn.Conv2d(config.width, 4 * config.out_channels, 3, padding=1)
        if config.residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            if config.out_channels == 4:  # the error logit: pixel_shuffle takes channels 4c..4c+3 to output c
                with torch.no_grad():
                    self.head.bias[12:16] = _ERROR_LOGIT_INIT

    def forward(self, full: Tensor, half: Tensor) -> Tensor:
        """``full``: ``(B, 4 or 7, H, W)`` image + defocus (+ classical); ``half``: ``(B, C, H/2, W/2)`` extra inputs (γ, ...).

        H and W may be odd (padded by replication, cropped after).
        """
        height, width = full.shape[-2:]
        pad_h, pad_w = height % 2, width % 2
        if pad_h or pad_w:
            full = F.pad(full, (0, pad_w, 0, pad_h), mode="replicate")
        x = torch.cat([F.pixel_unshuffle(full, 2), half], dim=1)
        x = F.elu(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return F.pixel_shuffle(self.head(x), 2)[..., :height, :width]


def gamma_plane(gamma: float | Tensor, like: Tensor, size: tuple[int, int]) -> Tensor:
    """BokehMe's γ input: a constant ``(γ - 1) / 4`` plane of ``size``, one value per batch item."""
    g = torch.as_tensor(gamma, dtype=like.dtype, device=like.device).reshape(-1, 1, 1, 1)
    g = (g - GAMMA_RANGE[0]) / (GAMMA_RANGE[1] - GAMMA_RANGE[0])
    return g.expand(like.shape[0], 1, *size)


def _half(height: int, width: int) -> tuple[int, int]:
    return (height + 1) // 2, (width + 1) // 2


class BokehMeNets(nn.Module):
    """ARNet + IUNet. Inputs are display RGB ``(B, 3, H, W)``, defocus in 10-px units ``(B, 1, H, W)``."""

    def __init__(self, arnet: DefocusNetConfig = ARNET, iunet: DefocusNetConfig = IUNET) -> None:
        super().__init__()
        self.arnet = DefocusNet(arnet)
        self.iunet = DefocusNet(iunet)

    @property
    def needs_classical(self) -> bool:
        """Whether ARNet takes the classical render (``adaptive(..., classical=)``)."""
        return self.arnet.config.classical_input

    def adaptive(self, image: Tensor, defocus: Tensor, gamma: float | Tensor,
                 classical: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """ARNet: ``(bokeh (B, 3, H, W), error_logit (B, 1, H, W))``; ``classical``: B_c at the same size,
        required by networks with ``classical_input`` and ignored by the others."""
        half = _half(*image.shape[-2:])
        inputs = [image, defocus]
        if self.needs_classical:
            if classical is None or classical.shape != image.shape:
                got = None if classical is None else tuple(classical.shape)
                raise InvalidParameterError(f"this ARNet takes the classical render: pass classical= shaped like "
                                            f"the image {tuple(image.shape)}; got {got}")
            inputs.append(classical)
        out = self.arnet(torch.cat(inputs, 1), gamma_plane(gamma, image, half))
        if self.arnet.config.residual:
            base = classical if self.needs_classical else image
            return out[:, :3] + base, out[:, 3:4]
        return out[:, :3], out[:, 3:4]

    def upsample(self, image: Tensor, defocus: Tensor, coarse: Tensor, gamma: float | Tensor) -> Tensor:
        """IUNet: refine ``coarse`` (any size; resized to half of ``image``) into a full-size bokeh image."""
        half = _half(*image.shape[-2:])
        if coarse.shape[-2:] != half:
            coarse = F.interpolate(coarse, size=half, mode="bilinear", align_corners=False)
        out = self.iunet(torch.cat([image, defocus], 1), torch.cat([coarse, gamma_plane(gamma, image, half)], 1))
        if self.iunet.config.residual:
            out = out + F.interpolate(coarse, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return out

    # -- weights ---------------------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return {"arnet": asdict(self.arnet.config), "iunet": asdict(self.iunet.config)}

    @classmethod
    def from_config_dict(cls, config: dict) -> BokehMeNets:
        return cls(DefocusNetConfig(**config["arnet"]), DefocusNetConfig(**config["iunet"]))

    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        """Write the weights as safetensors with the config (and ``metadata``) in the header, atomically."""
        return save_weights(self, path, self.config_dict(), metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> BokehMeNets:
        """Read weights written by :meth:`save`."""
        return load_weights(path, "BokehMe weights", cls.from_config_dict, map_location)


# -- the official checkpoints (github.com/JuewenPeng/BokehMe, MIT) ----------------------------------------

def official_key_map(official_key: str) -> str:
    """Map a key of the official ``arnet.pth``/``iunet.pth`` state dict to this module's names.

    ``conv0.conv.*`` -> ``stem.*``; ``block_stack.blocks.{i}.{j}.conv.*`` -> ``blocks.{i}.conv{j+1}.*``;
    ``conv1.conv.*`` -> ``head.*``.
    """
    parts = official_key.split(".")
    if parts[:2] == ["conv0", "conv"] and len(parts) == 3:
        return f"stem.{parts[2]}"
    if parts[:2] == ["conv1", "conv"] and len(parts) == 3:
        return f"head.{parts[2]}"
    if parts[:2] == ["block_stack", "blocks"] and len(parts) == 6 and parts[4] == "conv" and parts[3] in "01":
        return f"blocks.{parts[2]}.conv{int(parts[3]) + 1}.{parts[5]}"
    raise FileFormatError(f"unexpected key {official_key!r} in an official BokehMe checkpoint")


def _numpy_allowlist() -> list:
    """numpy arrays and scalars, under both the numpy 1 and numpy 2 names a pickle may use."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = {type(np.dtype(t)) for t in ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")}
    allowed: list = [np.ndarray, np.dtype, *dtypes]
    for obj, name in ((_reconstruct, "_reconstruct"), (scalar, "scalar")):
        allowed += [(obj, f"numpy.core.multiarray.{name}"), (obj, f"numpy._core.multiarray.{name}")]
    return allowed


def _official_state(path: Path) -> dict[str, Tensor]:
    """The ``model`` state dict of an official training checkpoint, read without running pickled code.

    The files are full training dicts saved on cuda:0 (``global_step``, ``model``, ``optimizer`` and a
    numpy scalar); only plain tensors, containers and numpy's scalar reconstruction are allowed.
    """
    with torch.serialization.safe_globals(_numpy_allowlist()):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise FileFormatError(
                f"{path} could not be read with torch's weights-only loader ({exc}); lensblur never unpickles "
                "arbitrary objects. Use the arnet.pth / iunet.pth files of github.com/JuewenPeng/BokehMe.") from exc
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise FileFormatError(f"{path} holds no 'model' state dict of tensors")
    return state


def load_official_checkpoint(arnet_path: str | Path, iunet_path: str | Path) -> BokehMeNets:
    """Build :class:`BokehMeNets` from the official ``checkpoints/arnet.pth`` and ``iunet.pth`` (MIT).

    Raises:
        FileFormatError: a file is not an official checkpoint, or its shapes do not match.
    """
    nets = BokehMeNets()
    for name, path in (("arnet", Path(arnet_path)), ("iunet", Path(iunet_path))):
        if not path.exists():
            raise FileNotFoundError(f"{name}_path: no file at {path}")
        mapped = {official_key_map(k): v for k, v in _official_state(path).items()}
        module = getattr(nets, name)
        expected = module.state_dict()
        wrong = {k: (tuple(v.shape), tuple(expected[k].shape)) for k, v in mapped.items()
                 if k in expected and v.shape != expected[k].shape}
        missing = sorted(set(expected) - set(mapped))
        if wrong or missing:
            raise FileFormatError(f"{path} does not fit BokehMe's {name}: shape mismatches {wrong}, missing {missing}")
        module.load_state_dict(mapped)
    return nets
