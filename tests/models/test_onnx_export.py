"""ONNX export of the learned renderers agrees with PyTorch under onnxruntime, at a size other than the
one traced (the height and width are dynamic)."""

import pytest
import torch

from lensblur.models.depth_blend import DepthAwareBlend, DepthBlendConfig
from lensblur.models.mpfn import MPFN, MPFNConfig

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")]

from lensblur.models.onnx import export_onnx, onnx_parity  # noqa: E402


def test_mpfn_onnx_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    model = MPFN(MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2))
    path = export_onnx(model, tmp_path / "mpfn.onnx", height=32, width=48)
    assert onnx_parity(model, path, height=40, width=24) < 1e-5


def test_depth_blend_onnx_matches_pytorch(tmp_path):
    torch.manual_seed(1)
    model = DepthAwareBlend(DepthBlendConfig(kernel_sizes=(5, 9), inference_size=None))
    path = export_onnx(model, tmp_path / "blend.onnx", height=32, width=48)
    assert onnx_parity(model, path, height=48, width=64) < 1e-5


def test_export_refuses_other_models(tmp_path):
    with pytest.raises(ValueError, match="expected an MPFN, DepthAwareBlend, PyNETBokeh or GlassNet"):
        export_onnx(torch.nn.Conv2d(3, 3, 1), tmp_path / "x.onnx")


def test_pynet_onnx_matches_pytorch(tmp_path):
    from lensblur.models.pynet import PyNETBokeh, PyNETConfig

    torch.manual_seed(2)
    model = PyNETBokeh(PyNETConfig(width=4))
    path = export_onnx(model, tmp_path / "pynet.onnx", height=64, width=96)
    assert onnx_parity(model, path, height=96, width=64) < 1e-4


def test_glassnet_onnx_matches_pytorch(tmp_path):
    from lensblur.models.bggan import GlassNet, GlassNetConfig

    torch.manual_seed(3)
    model = GlassNet(GlassNetConfig(c1=4, c2=4, res_blocks=2))
    path = export_onnx(model, tmp_path / "glass.onnx", height=32, width=48)
    assert onnx_parity(model, path, height=48, width=40) < 1e-5
