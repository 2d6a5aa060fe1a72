"""Weights on disk: safetensors with the model's config (JSON) in the header, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import FileFormatError, InvalidParameterError

__all__ = ["save_weights", "read_weights", "strip_prefix"]


def save_weights(module: nn.Module, path: str | Path, config: dict, metadata: dict | None = None) -> Path:
    """Write ``module``'s state dict as safetensors; ``config`` (JSON) and ``metadata`` go into the header."""
    from safetensors.torch import save

    from .images import atomic_write_bytes

    header = {"config": json.dumps(config)}
    header.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    path = Path(path)
    atomic_write_bytes(path, save(tensors, metadata=header))
    return path


def read_weights(path: str | Path, what: str, map_location: str | torch.device = "cpu", *,
                 model: str | None = None) -> tuple[dict[str, Tensor], dict, dict[str, str]]:
    """Read a file written by :func:`save_weights`: ``(tensors, config, other metadata)``.

    ``what`` names the model in errors ("MPFN weights"). With ``model``, the config must carry
    ``"model": model`` (the tag the model's ``save`` writes); the tag is removed from the returned config.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(map_location)) as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for a damaged header
        raise FileFormatError(f"{path} is not a readable safetensors file: {exc}") from exc
    if "config" not in meta:
        raise FileFormatError(f"{path} has no lensblur config in its header; was it written by lensblur's save()?")
    config = json.loads(meta.pop("config"))
    if model is not None and config.pop("model", None) != model:
        raise InvalidParameterError(f"{path} does not hold {what} (config says {config!r})")
    return tensors, config, meta


def strip_prefix(state: dict[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Drop ``prefix`` (nn.DataParallel's ``module.``) from every key that has it."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
