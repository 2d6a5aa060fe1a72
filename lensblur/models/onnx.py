"""ONNX export of the learned renderers, and a parity check against PyTorch with onnxruntime.

Exported graphs take display RGB ``image (B, 3, H, W)`` in [0, 1] with dynamic batch, height and width:

* MPFN: inputs ``image`` and ``coords (B, 2, H, W)`` (the coordinate map of the whole frame,
  :func:`lensblur.models.mpfn.coordinate_map`), output ``bokeh`` (the finest level); H, W multiples of 2^L.
* depth-aware blending: input ``image``, outputs ``bokeh`` and ``weights (B, n + 1, H, W)``; H, W multiples
  of 16 (resizing to the training size is the caller's job, as on a phone).
* PyNET-bokeh: input ``input (B, 4, H, W)`` (the half-size photo and its depth,
  :func:`lensblur.models.pynet.pynet_input`), output ``bokeh (B, 3, 2H, 2W)`` (level 1); H, W multiples of 32.
* Glass-Net (BGGAN's generator): input ``image``, outputs ``bokeh`` and ``coarse``; H, W multiples of 8.

Uses the torch.export-based exporter (needs ``onnxscript``); install with ``pip install 'lensblur[onnx]'``.
Exporting the full-size MPFN takes about 3 minutes on a 2-core CPU (its predictive filters unroll into one
multiply-add per tap: 9² + 11² + 13² of them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .._optional import require
from ..errors import InvalidParameterError
from .bggan import GlassNet
from .depth_blend import DepthAwareBlend
from .mpfn import MPFN, coordinate_map
from .pynet import PyNETBokeh

__all__ = ["export_onnx", "onnx_parity"]


class _MPFNGraph(nn.Module):
    def __init__(self, model: MPFN) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor, coords: Tensor) -> Tensor:
        return self.model(image, coords)[0]


class _PyNETGraph(nn.Module):
    def __init__(self, model: PyNETBokeh) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, 1)


def _example(model: nn.Module, height: int, width: int,
             generator: torch.Generator | None = None) -> tuple[nn.Module, tuple[Tensor, ...], list[str], list[str]]:
    if isinstance(model, PyNETBokeh):
        x = torch.rand(1, model.config.in_channels, height, width, generator=generator)
        return _PyNETGraph(model), (x,), ["input"], ["bokeh"]
    image = torch.rand(1, 3, height, width, generator=generator)
    if isinstance(model, GlassNet):
        return model, (image,), ["image"], ["bokeh", "coarse"]
    if isinstance(model, MPFN):
        if not model.config.coordinates:
            raise InvalidParameterError("ONNX export of MPFN without the coordinate map is not supported; "
                                        "export a model with MPFNConfig(coordinates=True)")
        return _MPFNGraph(model), (image, coordinate_map(height, width)), ["image", "coords"], ["bokeh"]
    if isinstance(model, DepthAwareBlend):
        return model, (image,), ["image"], ["bokeh", "weights"]
    raise InvalidParameterError("export_onnx: expected an MPFN, DepthAwareBlend, PyNETBokeh or GlassNet model; "
                                f"got {type(model).__name__}")


def export_onnx(model: MPFN | DepthAwareBlend | PyNETBokeh | GlassNet, path: str | Path, *, height: int = 64, width: int = 96,
                opset: int = 18) -> Path:
    """Export ``model`` (eval mode) to ``path`` with dynamic batch/height/width; ``height``/``width`` size the
    example input used for tracing. Written atomically."""
    require("onnxscript", extra="onnx", feature="ONNX export")
    from ..io.images import atomic_write_bytes

    model = model.eval()
    graph, example, inputs, outputs = _example(model, height, width)
    batch = torch.export.Dim("batch", max=1024)
    dims = tuple({0: batch, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC} for _ in example)
    program = torch.onnx.export(graph, example, dynamo=True, input_names=inputs, output_names=outputs,
                                dynamic_shapes=dims, opset_version=opset, verbose=False)
    path = Path(path)
    atomic_write_bytes(path, program.model_proto.SerializeToString())
    return path


def onnx_parity(model: MPFN | DepthAwareBlend | PyNETBokeh | GlassNet, path: str | Path, *, height: int, width: int, seed: int = 0) -> float:
    """Run the exported graph with onnxruntime (CPU) and PyTorch on the same random input of ``height`` x
    ``width``; return the largest absolute difference over all outputs."""
    ort = require("onnxruntime", extra="onnx", feature="checking an ONNX export")
    generator = torch.Generator().manual_seed(seed)
    graph, feed, inputs, _ = _example(model.eval(), height, width, generator)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: t.numpy() for name, t in zip(inputs, feed, strict=True)})
    with torch.no_grad():
        expected = graph(*feed)
    expected = expected if isinstance(expected, tuple) else (expected,)
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
