"""Depth estimation plumbing, offline, with a tiny random Depth-Anything built from a config."""

from __future__ import annotations

import pytest
import torch

from lensblur.depth import estimate_depth, load_estimator
from lensblur.errors import InvalidParameterError, UnknownNameError, WeightsUnavailableError

transformers = pytest.importorskip("transformers")

from tiny_models import save_tiny_depth_anything  # noqa: E402


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny-depth-anything"))


def test_estimate_returns_normalised_disparity_at_the_photo_size(tiny_weights):
    image = torch.rand(1, 3, 45, 70)
    depth = estimate_depth(image, weights_dir=tiny_weights, input_px=56)
    assert depth.kind == "disparity" and depth.scale == "relative"
    assert depth.source == "depth-anything-v2-small"
    assert tuple(depth.values.shape) == (1, 1, 45, 70)
    assert float(depth.values.min()) == pytest.approx(0.0) and float(depth.values.max()) == pytest.approx(1.0)


def test_network_input_sides_are_multiples_of_the_patch_and_keep_the_aspect(tiny_weights):
    network = load_estimator(weights_dir=tiny_weights)
    seen = []
    network.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["pixel_values"].shape),
                                      with_kwargs=True)
    estimate_depth(torch.rand(1, 3, 100, 160), network=network, input_px=70)
    _, _, h, w = seen[0]
    assert h % 14 == 0 and w % 14 == 0 and h == 70 and abs(w / h - 1.6) < 0.15


def test_same_photo_same_depth_and_a_loaded_network_is_reused(tiny_weights):
    image = torch.rand(1, 3, 30, 30)
    network = load_estimator(weights_dir=tiny_weights)
    a = estimate_depth(image, network=network, input_px=28)
    b = estimate_depth(image, weights_dir=tiny_weights, input_px=28)
    torch.testing.assert_close(a.values, b.values)


def test_licences_names_and_missing_weights_get_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(InvalidParameterError, match="CC-BY-NC-4.0.*allow_noncommercial=True"):
        load_estimator("depth-anything-v2-large")
    with pytest.raises(UnknownNameError, match="Did you mean 'depth-anything-v2-small'"):
        load_estimator("depth-anything-v2-smal")
    with pytest.raises(WeightsUnavailableError, match="is not a folder"):
        load_estimator(weights_dir=tmp_path / "nowhere")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    with pytest.raises(WeightsUnavailableError, match="hf download depth-anything/Depth-Anything-V2"):
        load_estimator(local_files_only=True)
    with pytest.raises(InvalidParameterError, match=r"\(1, 3, H, W\)"):
        estimate_depth(torch.rand(3, 8, 8))


def test_dpt_estimator_gets_square_inputs(tmp_path):
    """DPT with a plain ViT takes square inputs only: the photo is squeezed to a square and back."""
    config = transformers.DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
                                    image_size=64, patch_size=16, backbone_out_indices=[0, 1, 2, 3],
                                    neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_in_index=-1,
                                    is_hybrid=False, reassemble_factors=[4, 2, 1, 0.5])
    torch.manual_seed(0)
    transformers.DPTForDepthEstimation(config).save_pretrained(tmp_path)
    network = load_estimator("dpt-hybrid-midas", weights_dir=tmp_path)
    seen = []
    network.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["pixel_values"].shape),
                                      with_kwargs=True)
    depth = estimate_depth(torch.rand(1, 3, 40, 90), model="dpt-hybrid-midas", network=network, input_px=64)
    assert tuple(seen[0][-2:]) == (64, 64)
    assert tuple(depth.values.shape) == (1, 1, 40, 90) and depth.source == "dpt-hybrid-midas"
