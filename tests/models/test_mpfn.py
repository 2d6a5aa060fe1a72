"""MPFN: shapes and parameter counts of the paper / official code, the predictive filter against its
definition, the constraints of Eq. 7-8, the coordinate map of Eq. 12, k_visual (Eq. 16), the gate."""

import pytest
import torch

from lensblur.errors import InputError, InvalidParameterError
from lensblur.models.mpfn import (
    MPFN,
    MPFNConfig,
    blur_degree_map,
    coordinate_map,
    mpfn_render,
    predictive_filter,
    predictive_filter_reference,
)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def _conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def test_parameter_count_equals_the_official_pytorch_model():
    assert _count(MPFN()) == 8_747_556


def test_per_module_parameter_breakdown():
    # Derived from the paper's Tables I-II with nD = 64, 2nD = 128 feature channels, N = 5.
    dense = sum(_conv(128 + 64 * i, 64, 3) for i in range(5))                       # 737,600
    gate = dense + _conv(448, 256, 1, False) + _conv(256, 128, 1, False) + _conv(128, 1, 1, False) + _conv(448, 128, 1)
    model = MPFN()
    assert _count(model.head) == _conv(20, 128, 3)                                 # RGB + CM, space-to-depth
    assert [_count(d) for d in model.downs] == [_conv(128, 128, 3)] * 2
    for level, k in zip(model.levels, (9, 11, 13), strict=True):
        assert _count(level.down_gate) == _count(level.up_gate) == gate == 942_656
        assert _count(level.filters) == dense + _conv(448, 128, 1) + _conv(128, 256, 1) + _conv(64, k * k, 3, False)
        assert _count(level.reconstruct) == _conv(128, 12, 3)
    assert [level.fuse is None for level in model.levels] == [False, False, True]
    assert _count(model.levels[0].fuse) == _conv(131, 128, 1)


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
def test_outputs_per_level_halve_in_size(levels):
    config = MPFNConfig(levels=levels, kernel_sizes=tuple(3 + 2 * i for i in range(levels)), width=16, growth=8,
                        dense_layers=2)
    model = MPFN(config)
    image = torch.rand(2, 3, 32, 48)
    outputs = model(image)
    assert [tuple(o.shape) for o in outputs] == [(2, 3, 32 >> i, 48 >> i) for i in range(levels)]


def test_predictive_filter_equals_the_per_pixel_loop():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    kernels = torch.softmax(torch.randn(2, 25, 7, 9, dtype=torch.float64), 1)
    fast = predictive_filter(image, kernels)
    assert torch.allclose(fast, predictive_filter_reference(image, kernels), atol=1e-12)


def test_predictive_filter_keeps_and_shifts_pixels():
    image = torch.rand(1, 3, 6, 6)
    keep = torch.zeros(1, 9, 6, 6)
    keep[:, 4] = 1                                         # K_R: the centre tap
    assert torch.equal(predictive_filter(image, keep), image)
    shift = torch.zeros(1, 9, 6, 6)
    shift[:, 5] = 1                                        # K_S: row offset 0, column offset +1
    shifted = predictive_filter(image, shift)
    assert torch.equal(shifted[..., :-1], image[..., 1:])
    assert torch.equal(shifted[..., -1], image[..., -1])                      # replicate padding: no dark border


def test_softmax_kernels_are_non_negative_and_sum_to_one():
    model = MPFN(MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2))
    details = model.details(torch.rand(1, 3, 16, 16))
    for kernels, k in zip(details.kernels, (3, 5), strict=True):
        assert kernels.shape[1] == k * k
        assert kernels.min() >= 0
        assert torch.allclose(kernels.sum(1), torch.ones(1), atol=1e-6)


def test_relu_filters_are_non_negative_but_unconstrained():
    torch.manual_seed(1)
    model = MPFN(MPFNConfig(levels=1, kernel_sizes=(3,), width=16, growth=8, dense_layers=2,
                            filter_activation="relu"))
    kernels = model.details(torch.rand(1, 3, 16, 16)).kernels[0]
    assert kernels.min() >= 0
    assert not torch.allclose(kernels.sum(1), torch.ones(1), atol=1e-3)


def test_coordinate_map_values_and_crops():
    full = coordinate_map(4, 8)
    assert full.shape == (1, 2, 4, 8)
    assert full[0, 0, 0, 0] == -0.5 and full[0, 1, 0, 0] == -0.5                  # (x / W, y / H) - 0.5
    assert full[0, 0, 2, 4] == 0.0 and full[0, 1, 2, 4] == 0.0                    # the centre pixel
    assert full[0, 0, 3, 7] == pytest.approx(7 / 8 - 0.5) and full[0, 1, 3, 7] == pytest.approx(3 / 4 - 0.5)
    crop = coordinate_map(2, 3, top=1, left=4, frame=(4, 8))
    assert torch.equal(crop, full[:, :, 1:3, 4:7])                                # a crop of the whole frame's map


def test_blur_degree_is_zero_for_a_kept_pixel_and_grows_with_spread():
    keep = torch.zeros(1, 9, 2, 2)
    keep[:, 4] = 1
    assert torch.equal(blur_degree_map(keep), torch.zeros(1, 1, 2, 2))
    uniform = torch.full((1, 9, 1, 1), 1 / 9)
    # offsets |m - r| + |n - r| over a 3x3 window: 0 once, 1 four times, 2 four times -> 12 / 9 / 3
    assert blur_degree_map(uniform).item() == pytest.approx(12 / 9 / 3)
    corner = torch.zeros(1, 9, 1, 1)
    corner[:, 0] = 1
    assert blur_degree_map(corner).item() == pytest.approx(2 / 3)


def test_sign_gate_is_binary_forward_and_trainable_backward():
    torch.manual_seed(2)
    model = MPFN(MPFNConfig(levels=1, kernel_sizes=(3,), width=16, growth=8, dense_layers=2))
    details = model.details(torch.rand(1, 3, 16, 16))
    gate = details.gates[0]
    assert set(torch.unique(gate.detach()).tolist()) <= {0.0, 1.0}
    details.outputs[0].mean().backward()
    gate_conv = model.levels[0].up_gate.saliency[0].weight
    assert gate_conv.grad is not None and gate_conv.grad.abs().sum() > 0     # the straight-through gradient
    mask = details.salient_mask()
    assert mask.shape == (1, 1, 16, 16) and torch.equal(mask, 1 - torch.nn.functional.interpolate(gate, size=(16, 16)))


def test_sigmoid_gate_is_soft():
    torch.manual_seed(3)
    model = MPFN(MPFNConfig(levels=1, kernel_sizes=(3,), width=16, growth=8, dense_layers=2, gate="sigmoid"))
    gate = model.details(torch.rand(1, 3, 16, 16)).gates[0]
    assert ((gate > 0) & (gate < 1)).all()


def test_coordinates_change_the_output_and_can_be_switched_off():
    torch.manual_seed(4)
    config = MPFNConfig(levels=1, kernel_sizes=(3,), width=16, growth=8, dense_layers=2)
    model = MPFN(config).eval()
    image = torch.rand(1, 3, 16, 16)
    a = model(image, coordinate_map(16, 16))[0]
    b = model(image, coordinate_map(16, 16, top=16, left=16, frame=(64, 64)))[0]
    assert not torch.allclose(a, b)
    plain = MPFN(MPFNConfig(levels=1, kernel_sizes=(3,), width=16, growth=8, dense_layers=2, coordinates=False))
    assert plain.head.in_channels == 12
    assert plain(image)[0].shape == image.shape


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(5)
    model = MPFN(MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2, gate="sigmoid"))
    path = model.save(tmp_path / "mpfn.safetensors", metadata={"note": "test"})
    loaded = MPFN.load(path)
    assert loaded.config == model.config and loaded.metadata["note"] == "test"
    image = torch.rand(1, 3, 16, 16)
    assert torch.equal(model(image)[0], loaded(image)[0])


def test_any_size_render_pads_and_crops():
    model = MPFN(MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2))
    out = mpfn_render(model, torch.rand(1, 3, 21, 30))
    assert out.shape == (1, 3, 21, 30) and 0 <= out.min() and out.max() <= 1


def test_bad_inputs_name_the_problem():
    model = MPFN(MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2))
    with pytest.raises(InputError, match="multiples of 4 for 2 levels; got 18x16"):
        model(torch.rand(1, 3, 18, 16))
    with pytest.raises(InputError, match=r"image must be \(B, 3, H, W\)"):
        model(torch.rand(1, 4, 16, 16))
    with pytest.raises(InvalidParameterError, match="one odd size per level"):
        MPFNConfig(levels=3, kernel_sizes=(9, 11))
    with pytest.raises(InvalidParameterError, match="gate must be one of"):
        MPFNConfig(gate="tanh")
    with pytest.raises(InvalidParameterError, match="kernels must have k"):
        predictive_filter(torch.rand(1, 3, 4, 4), torch.rand(1, 8, 4, 4))


def _bilinear_corners_aligned(image, size):
    """Bilinear resampling that maps the first and last pixel centres onto each other (align_corners=True),
    written out: output pixel i samples input position i * (n_in - 1) / (n_out - 1)."""
    def axis(n_in, n_out):
        pos = torch.arange(n_out, dtype=torch.float64) * (n_in - 1) / (n_out - 1)
        lo = pos.floor().long().clamp(max=n_in - 2)
        return lo, (pos - lo).to(image.dtype)

    (y0, fy), (x0, fx) = axis(image.shape[-2], size[0]), axis(image.shape[-1], size[1])
    rows = image[..., y0, :] * (1 - fy)[:, None] + image[..., y0 + 1, :] * fy[:, None]
    return rows[..., x0] * (1 - fx) + rows[..., x0 + 1] * fx


def test_known_answer_with_no_residual_detail_and_box_filters():
    """Reconstruction convs zeroed and filter logits zeroed: each level's sharp image is then exactly its base
    (the coarser output, bilinear x2 with corners aligned; the area-averaged photo at the coarsest level) and
    every kernel is the uniform k x k box, so the output is known from the definition alone. Pins the residual
    (dropping ``+ base`` gives zeros) and the resampling (align_corners=False moves every border value)."""
    torch.manual_seed(0)
    config = MPFNConfig(levels=2, kernel_sizes=(3, 5), width=8, growth=4, dense_layers=1)
    model = MPFN(config).eval()
    with torch.no_grad():
        for level in model.levels:
            level.reconstruct.weight.zero_()
            level.reconstruct.bias.zero_()
            level.filters.kernels.weight.zero_()
    image = torch.rand(1, 3, 16, 12)

    def box(x, k):
        return predictive_filter_reference(x, torch.full((1, k * k, *x.shape[-2:]), 1.0 / (k * k)))

    coarse = box(torch.nn.functional.avg_pool2d(image, 2), 5)       # level 2: 8x6
    fine = box(_bilinear_corners_aligned(coarse, (16, 12)), 3)      # level 1: 16x12
    with torch.no_grad():
        out_fine, out_coarse = model(image)
    torch.testing.assert_close(out_coarse, coarse, atol=1e-6, rtol=0)
    torch.testing.assert_close(out_fine, fine, atol=1e-6, rtol=0)
