"""PyNET-bokeh: the paper's size, its level numbering and sizes, TF's transposed-conv sizing, any-size
inference, and weights that round-trip."""

import pytest
import torch
import torch.nn.functional as F

from lensblur.errors import InputError, InvalidParameterError
from lensblur.models.pynet import LEVELS, PyNETBokeh, PyNETConfig, UpConv, pynet_input, pynet_render


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_is_the_official_models():
    assert _count(PyNETBokeh()) == 47_551_791          # within 1 % of the paper's 47.5 M: it is exact
    assert _count(PyNETBokeh(PyNETConfig(instance_norm=False))) < 47_551_791


@pytest.mark.parametrize("level", LEVELS)
def test_each_article_level_outputs_at_its_scale(level):
    torch.manual_seed(0)
    model = PyNETBokeh(PyNETConfig(width=2)).eval()
    x = torch.rand(1, 4, 64, 96)
    with torch.no_grad():
        out = model(x, level)
    scale = 2.0 ** (2 - level)              # level 1: twice the input, level 2: the input, level 7: 1/32
    assert out.shape == (1, 3, int(64 * scale), int(96 * scale))
    assert float(out.min()) >= 0.5 - 0.58 and float(out.max()) <= 0.5 + 0.58   # tanh·0.58 + 0.5


def test_level_1_refines_level_2s_pre_tanh_output():
    torch.manual_seed(1)
    model = PyNETBokeh(PyNETConfig(width=2)).eval()
    x = torch.rand(1, 4, 64, 64)
    with torch.no_grad():
        level2 = model(x, 2)
        pre_tanh = torch.atanh(((level2 - 0.5) / 0.58).clamp(-0.999999, 0.999999))
        expected = torch.tanh(model.l1_head(model.l1_up(pre_tanh))) * 0.58 + 0.5
        assert torch.allclose(model(x, 1), expected, atol=1e-4)


def test_transposed_conv_is_tf_same_the_adjoint_of_a_stride_2_same_conv():
    """TF's conv2d_transpose (k 3, s 2, 'SAME') is the adjoint of conv2d (k 3, s 2, 'SAME'), which pads
    0 rows before and 1 after an even-sized input. padding=1 with output_padding=1 would be off by a pixel."""
    torch.manual_seed(2)
    up = UpConv(3, 2, act=False)
    z = torch.rand(1, 3, 5, 7)
    y_shape = (1, 2, 10, 14)
    y = torch.zeros(y_shape, requires_grad=True)
    forward = F.conv2d(F.pad(y, (0, 1, 0, 1)), up.conv.weight, stride=2)      # (1, 3, 5, 7)
    (adjoint,) = torch.autograd.grad((forward * z).sum(), y)
    assert torch.allclose(up(z), adjoint, atol=1e-6)


def test_instance_norm_only_on_the_levels_the_paper_names():
    model = PyNETBokeh(PyNETConfig(width=2))

    def norms(module):
        return sum(isinstance(m, torch.nn.InstanceNorm2d) for m in module.modules())

    assert norms(model.enc1) == 0 and norms(model.l3) == 0        # finest encoder and article level 3
    assert all(norms(getattr(model, name)) > 0 for name in ("enc2", "enc3", "enc4", "l4", "l5", "l6", "l7"))
    assert norms(PyNETBokeh(PyNETConfig(width=2, instance_norm=False))) == 0


def test_the_depth_channel_changes_the_output():
    torch.manual_seed(3)
    model = PyNETBokeh(PyNETConfig(width=2)).eval()
    for module in model.modules():           # the official init is tiny; make the signal visible
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.3)
    x = torch.rand(1, 4, 64, 64)
    other = x.clone()
    other[:, 3] = 1 - other[:, 3]
    with torch.no_grad():
        assert (model(x, 3) - model(other, 3)).abs().max() > 1e-3


def test_bad_inputs_get_clear_errors():
    model = PyNETBokeh(PyNETConfig(width=2))
    with pytest.raises(InputError, match=r"must be \(B, 4, H, W\) \(RGB \+ depth\); got \(1, 3, 64, 64\)"):
        model(torch.rand(1, 3, 64, 64))
    with pytest.raises(InputError, match=r"multiples of 32 and at least 64 .*; got \(80, 64\)"):
        model(torch.rand(1, 4, 80, 64))
    with pytest.raises(InputError, match=r"multiples of 32 and at least 64 .*; got \(32, 64\)"):
        model(torch.rand(1, 4, 32, 64))
    with pytest.raises(InvalidParameterError, match="level must be one of"):
        model(torch.rand(1, 4, 64, 64), level=0)
    with pytest.raises(InputError, match="pass depth"):
        pynet_render(model, torch.rand(1, 3, 64, 64))


def test_any_size_inference_returns_the_photos_size():
    torch.manual_seed(4)
    model = PyNETBokeh(PyNETConfig(width=2)).eval()
    image, depth = torch.rand(1, 3, 75, 161), torch.rand(1, 1, 30, 40)
    out = pynet_render(model, image, depth)
    assert out.shape == image.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    x = pynet_input(image, depth)
    assert x.shape == (1, 4, 37, 80)


def test_rgb_only_model_takes_three_channels():
    model = PyNETBokeh(PyNETConfig(width=2, depth_input=False)).eval()
    assert pynet_render(model, torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_weights_round_trip(tmp_path):
    torch.manual_seed(5)
    model = PyNETBokeh(PyNETConfig(width=2)).eval()
    path = model.save(tmp_path / "p.safetensors", metadata={"note": "x"})
    loaded = PyNETBokeh.load(path).eval()
    assert loaded.config == model.config and loaded.metadata["note"] == "x"
    x = torch.rand(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x, 1), loaded(x, 1))
