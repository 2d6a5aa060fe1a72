"""The learned depth refiner: its network, weights, tiling, the shipped model's quality, and its training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lensblur as lb
from lensblur.depth import refine_depth
from lensblur.depth.refine_net import SHIPPED_REFINER, RefineNet, RefinerConfig
from lensblur.errors import InvalidParameterError


def _noisy_head(net: RefineNet, seed: int = 0) -> RefineNet:
    """``net`` with seeded random weights throughout, the head included (so it is not the identity)."""
    torch.manual_seed(seed)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.reset_parameters()
    torch.nn.init.normal_(net.head.weight, std=0.05)
    return net


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_untrained_refiner_returns_its_input(precision):
    """The head starts at zero: before training the refiner is bilinear upsampling, whatever the scale. In
    bfloat16 too: the map the correction is added to stays float32 (bfloat16 would round 40 px to 0.25 px)."""
    guide = torch.rand(1, 3, 37, 53)
    up = torch.rand(1, 1, 37, 53) * 40 + 7            # disparity in px, like Middlebury's
    out = RefineNet(RefinerConfig(width=4)).refine(guide, up, precision=precision)
    assert out.shape == up.shape and out.dtype == torch.float32
    assert torch.allclose(out, up, atol=1e-4)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_tiles_give_the_untiled_result(precision):
    net = _noisy_head(RefineNet(RefinerConfig(width=4)))
    guide, up = torch.rand(1, 3, 203, 170), torch.rand(1, 1, 203, 170)
    whole = net.refine(guide, up, tile=10_000, precision=precision)
    tiled = net.refine(guide, up, tile=64, halo=96, precision=precision)
    assert float((whole - tiled).abs().max()) < 1e-5


def test_bfloat16_inference_stays_close_to_float32_and_auto_follows_the_hardware(monkeypatch):
    """The shipped refiner in bfloat16 (the default on CPUs with AMX) against float32 on a held-out scene:
    within 0.1 % of the map's range on average and 2 % at worst; "auto" is bfloat16 exactly where
    ``fast_bfloat16`` says so; the network's own weights stay float32."""
    from lensblur.depth import refine_net

    display, truth = _test_scene(0)
    net = RefineNet.load()
    up = F.interpolate(F.avg_pool2d(truth, 4), size=truth.shape[-2:], mode="bilinear", align_corners=False)
    exact = net.refine(display, up, precision="float32")
    fast = net.refine(display, up, precision="bfloat16")
    span = float(truth.max() - truth.min())
    assert float((fast - exact).abs().mean()) < 1e-3 * span
    assert float((fast - exact).abs().max()) < 2e-2 * span
    assert float((fast - exact).abs().max()) > 0          # it did run in bfloat16
    assert net.head.weight.dtype == torch.float32
    assert refine_net.fast_bfloat16("cuda") is False     # a GPU runs float32
    for available, expected in ((True, fast), (False, exact)):
        monkeypatch.setattr(refine_net, "fast_bfloat16", lambda device, a=available: a)
        assert torch.equal(net.refine(display, up), expected)
    with pytest.raises(InvalidParameterError, match=r"precision must be one of \('auto', 'float32', 'bfloat16'\); "
                                                    r"got 'half'"):
        net.refine(display, up, precision="half")


def test_eight_views_make_the_refiner_mirror_and_turn_equivariant():
    """Averaging over all flips and quarter turns gives a refiner that commutes with them (one view does
    not; exactly so on sizes that need no padding to the network's 8-px grid), and tiles still give the
    untiled result on a size that is no multiple of 8."""
    net = _noisy_head(RefineNet(RefinerConfig(width=4)))
    guide, up = torch.rand(1, 3, 48, 40), torch.rand(1, 1, 48, 40)

    def turned(views, f):
        return net.refine(f(guide), f(up), views=views)

    for f, back in ((lambda t: t.flip(-1), lambda t: t.flip(-1)),
                    (lambda t: torch.rot90(t, 1, (-2, -1)), lambda t: torch.rot90(t, -1, (-2, -1)))):
        assert float((back(turned(8, f)) - net.refine(guide, up, views=8)).abs().max()) < 1e-5
        assert float((back(turned(1, f)) - net.refine(guide, up, views=1)).abs().max()) > 1e-3
    mirrored = net.refine(guide.flip(-1), up.flip(-1), views=2).flip(-1)
    assert float((mirrored - net.refine(guide, up, views=2)).abs().max()) < 1e-5
    big_guide, big_up = torch.rand(1, 3, 203, 170), torch.rand(1, 1, 203, 170)
    whole = net.refine(big_guide, big_up, views=8, tile=10_000)
    assert float((whole - net.refine(big_guide, big_up, views=8, tile=64, halo=96)).abs().max()) < 1e-5
    with pytest.raises(InvalidParameterError, match=r"views must be one of \(1, 2, 4, 8\); got 3"):
        net.refine(guide, up, views=3)


def test_weights_round_trip_and_a_wrong_file_is_named(tmp_path):
    net = _noisy_head(RefineNet(RefinerConfig(width=4)))
    path = net.save(tmp_path / "r.safetensors", metadata={"training": {"steps": 3}})
    again = RefineNet.load(path)
    assert again.config == net.config and again.metadata["training"] == '{"steps": 3}'
    x = torch.rand(1, 4, 16, 16)
    assert torch.equal(again(x), net(x))
    from lensblur.models import MPFN, MPFNConfig

    other = MPFN(MPFNConfig(levels=1, kernel_sizes=(3,), width=4, dense_layers=1, growth=4)).save(tmp_path / "m.safetensors")
    with pytest.raises(InvalidParameterError, match="does not hold depth refiner weights"):
        RefineNet.load(other)
    with pytest.raises(FileNotFoundError, match="no depth refiner weights at"):
        RefineNet.load(tmp_path / "missing.safetensors")


def test_refine_depth_learned_keeps_kind_scale_and_records_the_method(tmp_path):
    weights = _noisy_head(RefineNet(RefinerConfig(width=4))).save(tmp_path / "r.safetensors")
    image = torch.rand(1, 3, 40, 60)
    depth = lb.DepthMap(torch.rand(1, 1, 10, 15) * 3 + 1, kind="depth", scale="metric", source="file:d.png")
    out = refine_depth(depth, image, method="learned", weights=weights)
    assert out.values.shape == (1, 1, 40, 60) and out.kind == "depth" and out.scale == "metric"
    assert out.source == "file:d.png+learned"
    assert float(out.values.min()) > 0
    with pytest.raises(InvalidParameterError, match=r"method must be one of \('learned', 'guided'\); got 'cnn'"):
        refine_depth(depth, image, method="cnn")
    two = refine_depth(depth, image, method="learned", weights=weights, views=2)
    assert two.values.shape == out.values.shape and not torch.equal(two.values, out.values)
    with pytest.raises(InvalidParameterError, match="views must be 1, 2, 4 or 8; got 0"):
        refine_depth(depth, image, views=0)
    with pytest.raises(InvalidParameterError, match="views averages the learned refiner; with method='guided'"):
        refine_depth(depth, image, method="guided", views=4)


def test_the_shipped_refiner_loads_with_a_model_card():
    net = RefineNet.load()
    assert net.config == RefinerConfig()
    assert SHIPPED_REFINER.with_name("MODEL_CARD.md").exists()
    assert "steps" in net.metadata["training"]


def _test_scene(seed: int, size: int = 128):
    from lensblur.synth import make_scene, trace_all_in_focus

    truth = trace_all_in_focus(make_scene(seed, "test", size, size, margin=4), (2.2,))
    display = torch.from_numpy(truth.all_in_focus(2.2)).permute(2, 0, 1)[None].contiguous()
    return display, torch.from_numpy(truth.disparity)[None, None]


def test_the_shipped_refiner_restores_held_out_depth_edges():
    """A real quality check on test-split scenes it never saw: a x4 downsampled, blurred disparity map is
    refined closer to the truth near depth edges than bilinear upsampling gets, and a render driven by it
    is closer to the render from the true map."""
    from scipy import ndimage

    from lensblur.evaluation import masked_psnr
    from lensblur.io.images import srgb_to_linear
    from lensblur.training.depth_refine import degrade_low

    gains_error, gains_psnr = [], []
    for seed in (0, 1):
        display, truth = _test_scene(seed)
        low = degrade_low(truth, 4.0, 1.0)
        bilinear = F.interpolate(low, size=truth.shape[-2:], mode="bilinear", align_corners=False)
        refined = refine_depth(lb.DepthMap(low, kind="disparity", scale="relative"), srgb_to_linear(display)).values
        t = truth[0, 0].numpy()
        edges = np.zeros(t.shape, bool)
        edges[:, 1:] |= np.abs(np.diff(t, axis=1)) > 0.02
        edges[1:, :] |= np.abs(np.diff(t, axis=0)) > 0.02
        band = ndimage.binary_dilation(edges, iterations=4)
        err = {name: float((m[0, 0].numpy() - t)[band].__abs__().mean()) for name, m in
               (("bilinear", bilinear), ("refined", refined))}
        gains_error.append(err["bilinear"] - err["refined"])
        focus = float(np.quantile(t, 0.1))
        renders = {name: lb.scatter_encoded(display, (20.0 * (m - focus)).float().contiguous(), gamma=2.2)
                   .image[0].permute(1, 2, 0).numpy() for name, m in
                   (("true", truth), ("bilinear", bilinear), ("refined", refined))}
        psnr = {name: masked_psnr(renders[name], renders["true"], band) for name in ("bilinear", "refined")}
        gains_psnr.append(psnr["refined"] - psnr["bilinear"])
    assert min(gains_error) > 0, gains_error
    assert np.mean(gains_psnr) > 1.0, gains_psnr


def test_training_writes_a_refiner_that_fits_its_data_better(tmp_path):
    from lensblur.depth.refine_net import normalise_inputs
    from lensblur.training.depth_refine import _Batches, build_cache, train

    cache_path = build_cache(tmp_path / "c.npz", scenes=2, size=64, split="train", log=lambda *a, **k: None)
    with pytest.raises(FileExistsError):
        build_cache(cache_path, scenes=1, size=64)
    with np.load(cache_path) as data:
        cache = {k: data[k] for k in data.files}
    assert cache["images"].shape == (2, 64, 64, 3) and cache["images"].dtype == np.uint8

    def fixed_loss(net):
        guide, up, truth = _Batches(cache, 8, 48, seed=99).next()
        x, lo, span = normalise_inputs(guide, up)
        with torch.no_grad():
            return float((net(x) - (truth - lo) / span).abs().mean())

    config = RefinerConfig(width=4)
    before = fixed_loss(RefineNet(config))
    net, report = train(cache, tmp_path / "r.safetensors", config=config, batch=4, crop=48, lr=3e-3, steps=60,
                        log=lambda *a, **k: None, log_every=20)
    assert report["steps"] == 60 and len(report["history"]) == 3
    assert fixed_loss(RefineNet.load(tmp_path / "r.safetensors")) < before
    with pytest.raises(InvalidParameterError, match="loss must be 'l1' or 'l2'; got 'huber'"):
        train(cache, tmp_path / "x.safetensors", config=config, steps=1, loss="huber")


def test_holes_in_the_coarse_map_are_filled_before_refining():
    image = torch.rand(1, 3, 32, 32)
    values = torch.rand(1, 1, 8, 8) + 0.5
    values[..., 2:4, 3:5] = float("nan")
    values[..., 6, 6] = float("inf")
    for method in ("learned", "guided"):
        out = refine_depth(lb.DepthMap(values, kind="disparity", scale="relative"), image, method=method)
        assert bool(torch.isfinite(out.values).all())
