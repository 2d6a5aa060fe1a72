"""Training data and loop for BokehMe's neural renderer (tiny, on CPU)."""

import numpy as np
import pytest
import torch

from lensblur.depth.degrade import degrade_disparity
from lensblur.errors import InvalidParameterError
from lensblur.models.bokehme import BokehMeNets, DefocusNetConfig
from lensblur.render import scatter_encoded
from lensblur.synth.dataset import DatasetConfig
from lensblur.training.bokehme import (
    FIELDS,
    BokehMeRecipe,
    arnet_loss,
    build_cache,
    gradient_l1,
    iunet_forward,
    train,
    training_items,
)
from lensblur.training.error_map import error_map_target

CONFIG = DatasetConfig(split="train", size=64, strengths_px=(4.0, 8.0), focus_per_scene=1, gammas=(1.0, 3.0))


@pytest.fixture(scope="module")
def items():
    return training_items(CONFIG, seed=5, augment=None)


def test_items_hold_every_setting_and_gamma(items):
    n = 2 * 1 * 2  # K x focus x gamma
    for name, channels in FIELDS.items():
        assert items[name].shape == (n, channels, 64, 64) and items[name].dtype == np.float16
    assert items["strength_px"].tolist() == [4.0, 4.0, 8.0, 8.0]
    assert items["gamma"].tolist() == [1.0, 3.0, 1.0, 3.0]
    assert 0 <= items["error"].min() and items["error"].max() <= 1


def test_cached_classical_image_is_the_scatter_of_the_cached_input(items):
    i = 3
    image = torch.from_numpy(items["image"][i].astype(np.float32))[None]
    coc = torch.from_numpy(items["defocus_px"][i].astype(np.float32))[None]
    expected = scatter_encoded(image, coc, gamma=float(items["gamma"][i])).image.clamp(0, 1)[0].numpy()
    np.testing.assert_allclose(items["classical"][i].astype(np.float32), expected, atol=2e-3)


def test_error_target_is_eq5_of_the_true_disparity_without_augmentation(items):
    i = 2
    disparity = items["defocus_px"][i, 0].astype(np.float64) / items["strength_px"][i] + items["focus_disparity"][i]
    expected = error_map_target(disparity, strength_px=float(items["strength_px"][i]),
                                focus_disparity=float(items["focus_disparity"][i]))
    # fp16 storage of the defocus can move a pixel across the 0.02 jump threshold: compare almost everywhere
    assert np.mean(np.abs(items["error"][i, 0].astype(np.float32) - expected) < 2e-3) > 0.99


def test_degrade_disparity():
    d = np.zeros((21, 21))
    d[8:13, 8:13] = 1.0  # a near 5x5 square
    assert (degrade_disparity(d, "dilate", 3) > 0.5).sum() == 49
    assert (degrade_disparity(d, "erode", 3) > 0.5).sum() == 9
    assert np.array_equal(degrade_disparity(d, "blur", 1), d)
    blurred = degrade_disparity(d, "blur", 7)
    assert blurred.sum() == pytest.approx(d.sum(), rel=1e-6) and blurred.max() < 1
    with pytest.raises(InvalidParameterError, match="size must be an odd kernel side >= 1 px; got 4"):
        degrade_disparity(d, "blur", 4)
    with pytest.raises(InvalidParameterError, match="kind must be 'blur', 'dilate' or 'erode'; got 'open'"):
        degrade_disparity(d, "open", 3)


def test_losses_are_zero_at_the_target_and_positive_elsewhere():
    target = torch.rand(2, 3, 16, 16)
    logit = torch.full((2, 1, 16, 16), -30.0)
    assert float(arnet_loss(target, target, logit, target, torch.zeros(2, 1, 16, 16))) < 1e-6
    assert float(gradient_l1(target, target + 0.3)) < 1e-6  # a constant offset has the same gradients
    assert float(gradient_l1(target, torch.zeros_like(target))) > 0


def test_training_lowers_the_loss_and_writes_loadable_weights(tmp_path, items):
    cache = dict(items)
    cache["scenes"] = np.asarray(1)
    cache["config"] = np.frombuffer(b"{}", np.uint8)
    small = BokehMeNets(DefocusNetConfig(17, 4, 16, 1), DefocusNetConfig(20, 3, 16, 1))
    recipe = BokehMeRecipe(arnet_strength_px=4.0, iunet_strength_px=8.0, batch=2, lr=2e-3, arnet_steps=1,
                           iunet_steps=1)
    torch.manual_seed(0)
    batch = {k: torch.from_numpy(v[2:4].astype(np.float32)) for k, v in cache.items() if k in FIELDS}
    batch["gamma"] = torch.from_numpy(cache["gamma"][2:4])

    def iunet_loss_now(nets):
        with torch.no_grad():
            fused, _ = iunet_forward(nets, batch, recipe)
            return float((fused - batch["target"]).abs().mean())

    before = iunet_loss_now(small)
    nets, report = train(cache, tmp_path / "w.safetensors", BokehMeRecipe(**{**recipe.__dict__, "arnet_steps": 60,
                                                                            "iunet_steps": 60}), init=small,
                         log=lambda *_: None)
    assert report["arnet"]["steps"] == 60 and report["iunet"]["steps"] == 60
    assert iunet_loss_now(nets) < before
    back = BokehMeNets.load(tmp_path / "w.safetensors")
    assert '"steps": 60' in back.metadata["training"]


def test_cache_file_round_trip(tmp_path):
    path = tmp_path / "cache.npz"
    arrays = build_cache(path, CONFIG, scenes=1, seed_start=7, log=lambda *_: None)
    assert path.exists() and int(arrays["scenes"]) == 1
    with pytest.raises(FileExistsError, match="exists; choose another path"):
        build_cache(path, CONFIG, scenes=1)
