"""Monocular depth estimation through transformers: a photo in, a relative disparity DepthMap out.

Default: Depth-Anything-V2-Small (Apache-2.0). The catalogue states each model's weight licence;
non-commercial weights are never loaded unless the caller says ``allow_noncommercial=True``. Weights
come from a local folder (``weights_dir``: a ``save_pretrained`` / ``hf download`` folder)
or the Hugging Face hub cache, downloading once on a machine with network access. Where neither
works, the error says how to provide them.

Pre-processing: the linear image is encoded to sRGB (what the models were trained on), resized so its
short side is the model's input size with both sides multiples of the patch size (14 for DINOv2
backbones; DPT with a plain ViT takes square inputs), normalised with ImageNet statistics; the output
is resized back to the photo bilinearly and min-max normalised to [0, 1], 1 = nearest.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._optional import require
from ..errors import InvalidParameterError, UnknownNameError, WeightsUnavailableError, hint
from ..io.images import linear_to_srgb
from ..types import DepthMap

__all__ = ["EstimatorSpec", "ESTIMATORS", "DEFAULT_ESTIMATOR", "load_estimator", "estimate_depth"]


@dataclass(frozen=True)
class EstimatorSpec:
    """A depth model: where its weights live, their licence and how to feed it."""

    hub_id: str
    licence: str
    commercial_use: bool
    input_px: int  # short side fed to the network
    patch_px: int  # both sides must be multiples of this
    square: bool = False


ESTIMATORS = {
    "depth-anything-v2-small": EstimatorSpec("depth-anything/Depth-Anything-V2-Small-hf", "Apache-2.0", True, 518, 14),
    "depth-anything-v2-base": EstimatorSpec("depth-anything/Depth-Anything-V2-Base-hf", "CC-BY-NC-4.0", False, 518, 14),
    "depth-anything-v2-large": EstimatorSpec("depth-anything/Depth-Anything-V2-Large-hf", "CC-BY-NC-4.0", False, 518,
                                             14),
    "dpt-hybrid-midas": EstimatorSpec("Intel/dpt-hybrid-midas", "Apache-2.0", True, 384, 32, square=True),
}
DEFAULT_ESTIMATOR = "depth-anything-v2-small"
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def load_estimator(name: str = DEFAULT_ESTIMATOR, *, weights_dir: str | os.PathLike | None = None,
                   allow_noncommercial: bool = False, local_files_only: bool = False):
    """The transformers depth model ``name`` in eval mode (from ``weights_dir`` or the hub cache).

    ``local_files_only`` never touches the network (only ``weights_dir`` or an already cached download).
    """
    if name not in ESTIMATORS:
        raise UnknownNameError.suggest("depth model", name, ESTIMATORS)
    spec = ESTIMATORS[name]
    if not spec.commercial_use and not allow_noncommercial:
        raise InvalidParameterError(
            f"depth model {name!r} has {spec.licence} weights (non-commercial use only); pass "
            f"{hint('allow_noncommercial=True', '--allow-noncommercial')} to use it, or use {DEFAULT_ESTIMATOR!r}.")
    transformers = require("transformers", extra="depth", feature="monocular depth estimation")
    source = os.fspath(weights_dir) if weights_dir is not None else spec.hub_id
    if weights_dir is not None and not os.path.isdir(source):
        raise WeightsUnavailableError(f"weights_dir {source!r} is not a folder; it must hold config.json and the "
                                      f"weights of {name} (hf download {spec.hub_id} --local-dir DIR), or give a "
                                      f"depth file instead ({hint('scene.with_depth(lensblur.read_depth(path))', '--depth MAP')})")
    if weights_dir is None and not local_files_only and not _in_hub_cache(spec.hub_id) and not _hub_reachable():
        local_files_only = True  # offline: fail at once with the message below, not after the hub's retries
    try:
        with _quiet_hub():
            model = transformers.AutoModelForDepthEstimation.from_pretrained(source, local_files_only=local_files_only)
    except OSError as err:
        raise WeightsUnavailableError(
            f"the weights of depth model {name!r} are not on this machine and {source!r} cannot be reached "
            f"({type(err).__name__}). On a machine with network access they download once into the Hugging Face "
            f"cache. Offline, fetch them where there is a network with `hf download {spec.hub_id} "
            f"--local-dir DIR`, copy DIR here and pass {hint('weights_dir=DIR', '--depth-model-dir DIR')}; or give "
            f"a depth file ({hint('scene.with_depth(lensblur.read_depth(path))', '--depth MAP')}).") from err
    return model.eval()


def _in_hub_cache(repo_id: str) -> bool:
    """Whether a download of ``repo_id`` is already in the Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an old or missing huggingface_hub: let transformers decide
        return True


def _hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the model hub answers within ``timeout_s`` (and offline mode is not set)."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_hub():
    """transformers/huggingface_hub warn once per retry while loading; the error that follows says it all."""
    import logging

    loggers = [logging.getLogger(name) for name in ("transformers", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _network_size(height: int, width: int, spec: EstimatorSpec, input_px: int) -> tuple[int, int]:
    if spec.square:
        side = max(spec.patch_px, round(input_px / spec.patch_px) * spec.patch_px)
        return side, side
    scale = input_px / min(height, width)
    h = max(spec.patch_px, round(height * scale / spec.patch_px) * spec.patch_px)
    w = max(spec.patch_px, round(width * scale / spec.patch_px) * spec.patch_px)
    return h, w


@torch.no_grad()
def estimate_depth(image: torch.Tensor, *, model: str = DEFAULT_ESTIMATOR, weights_dir: str | os.PathLike | None = None,
                   allow_noncommercial: bool = False, network=None, input_px: int | None = None,
                   device: str | torch.device | None = None) -> DepthMap:
    """Estimate relative disparity for a linear RGB image ``(1, 3, H, W)``.

    Args:
        model: a name from ``ESTIMATORS`` (default Depth-Anything-V2-Small, Apache-2.0).
        weights_dir: a local folder with the model's config and weights.
        allow_noncommercial: allow models whose weights are licensed for non-commercial use only.
        network: an already loaded model (``load_estimator``), to estimate many photos with one load.
        input_px: short side fed to the network (default: the model's training size).
        device: where to run (default: the image's device).

    Returns:
        DepthMap of kind "disparity", scale "relative", in [0, 1] with 1 = nearest, at the photo's size;
        ``source`` is the model name.
    """
    if not (isinstance(image, torch.Tensor) and image.ndim == 4 and image.shape[:2] == (1, 3)):
        raise InvalidParameterError(f"image must be a (1, 3, H, W) linear RGB tensor; got "
                                    f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")
    if model not in ESTIMATORS:
        raise UnknownNameError.suggest("depth model", model, ESTIMATORS)
    spec = ESTIMATORS[model]
    if network is None:
        network = load_estimator(model, weights_dir=weights_dir, allow_noncommercial=allow_noncommercial)
    device = torch.device(device) if device is not None else image.device
    network = network.to(device)
    height, width = image.shape[-2:]
    h, w = _network_size(height, width, spec, input_px or spec.input_px)
    x = linear_to_srgb(image.to(device).clamp(0, 1))
    x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)
    predicted = network(pixel_values=(x - mean) / std).predicted_depth  # relative inverse depth, (1, h', w')
    disparity = F.interpolate(predicted[:, None].float(), size=(height, width), mode="bilinear", align_corners=False)
    lo, hi = disparity.amin(), disparity.amax()
    if not math.isfinite(float(hi - lo)) or float(hi - lo) <= 0:
        disparity = torch.zeros_like(disparity)
    else:
        disparity = (disparity - lo) / (hi - lo)
    return DepthMap(values=disparity.cpu(), kind="disparity", scale="relative", source=model)
