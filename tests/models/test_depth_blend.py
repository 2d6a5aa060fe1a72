"""Depth-aware blending: MegaDepth's hourglass (shape, released key layout), Eq. 1-2, the blur set, the
inference protocol, and that training recovers weight maps a target was built with."""

import numpy as np
import pytest
import torch

from lensblur.errors import FileFormatError, InputError, InvalidParameterError
from lensblur.models.depth_blend import (
    DepthAwareBlend,
    DepthBlendConfig,
    MegaDepthHourglass,
    blend,
    depth_blend_render,
    gaussian_blur,
    gaussian_sigma,
    load_megadepth_weights,
)


def test_hourglass_matches_megadepth():
    model = MegaDepthHourglass()
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - 5.36e6) / 5.36e6 < 0.01 and count == 5_357_153
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 155 and sum(m.affine for m in norms) == 1      # only the stem's BatchNorm is affine
    assert model(torch.rand(1, 3, 32, 48)).shape == (1, 1, 32, 48)
    blend_model = DepthAwareBlend()
    head = blend_model.backbone.head
    assert (head.in_channels, head.out_channels, head.kernel_size) == (64, 4, (3, 3))


def test_released_megadepth_checkpoint_loads_with_the_dataparallel_prefix(tmp_path):
    torch.manual_seed(0)
    source = MegaDepthHourglass().eval()
    # What the released file holds: the bare Sequential's keys ("0.weight", "3.0.0.1.0.0.weight", ...)
    # behind nn.DataParallel's "module." prefix.
    released = {"module." + k.removeprefix("net."): v for k, v in source.state_dict().items()}
    assert "module.3.0.0.1.0.0.weight" in released and "module.4.weight" in released
    path = tmp_path / "best_generalization_net_G.pth"
    torch.save(released, path)

    depth_net = MegaDepthHourglass().eval()
    assert load_megadepth_weights(depth_net, path) == []
    image = torch.rand(1, 3, 32, 32)
    assert torch.equal(depth_net(image), source(image))

    model = DepthAwareBlend()
    skipped = load_megadepth_weights(model, path)
    assert skipped == ["net.4.weight", "net.4.bias"]                      # the replaced last layer
    assert torch.equal(model.backbone.net[0].weight, source.net[0].weight)


def test_megadepth_loader_rejects_other_files(tmp_path):
    bad = tmp_path / "other.pth"
    torch.save({"module.conv.weight": torch.zeros(3)}, bad)
    with pytest.raises(FileFormatError, match="does not fit MegaDepth's hourglass"):
        load_megadepth_weights(MegaDepthHourglass(), bad)
    with pytest.raises(FileNotFoundError, match="best_generalization_net_G.pth"):
        load_megadepth_weights(MegaDepthHourglass(), tmp_path / "missing.pth")


def test_gaussian_blur_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    image = rng.random((60, 80, 3), dtype=np.float32)
    for k in (25, 45):
        ours = gaussian_blur(torch.from_numpy(image).permute(2, 0, 1)[None], k)[0].permute(1, 2, 0).numpy()
        theirs = cv2.GaussianBlur(image, (k, k), 0)            # sigma 0: OpenCV derives it from the size
        assert np.abs(ours - theirs).max() < 1e-5
    assert gaussian_sigma(25) == pytest.approx(4.1) and gaussian_sigma(75) == pytest.approx(11.6)


def test_blend_is_convex_and_the_identity_with_all_weight_on_the_image():
    image = torch.rand(1, 3, 40, 40)
    weights = torch.zeros(1, 4, 40, 40)
    weights[:, 0] = 1
    assert torch.equal(blend(image, weights, (5, 9, 15)), image)
    constant = torch.full((1, 3, 40, 40), 0.3)
    mixed = torch.softmax(torch.randn(1, 4, 40, 40), 1)
    assert torch.allclose(blend(constant, mixed, (5, 9, 15)), constant, atol=1e-6)   # blurs keep a constant
    with pytest.raises(InvalidParameterError, match="weights need 4 channels"):
        blend(image, weights[:, :3], (5, 9, 15))


def test_model_weights_are_a_softmax_and_protocol_keeps_the_size():
    model = DepthAwareBlend(DepthBlendConfig(kernel_sizes=(5, 9, 15), inference_size=(32, 48))).eval()
    out, weights = model(torch.rand(2, 3, 32, 48))
    assert torch.allclose(weights.sum(1), torch.ones(1), atol=1e-6) and weights.min() >= 0
    assert out.shape == (2, 3, 32, 48)
    assert depth_blend_render(model, torch.rand(1, 3, 50, 70)).shape == (1, 3, 50, 70)
    native = DepthAwareBlend(DepthBlendConfig(kernel_sizes=(5,), inference_size=None)).eval()
    assert depth_blend_render(native, torch.rand(1, 3, 40, 50)).shape == (1, 3, 40, 50)


def test_config_and_input_errors():
    with pytest.raises(InvalidParameterError, match="kernel_sizes must be odd integers"):
        DepthBlendConfig(kernel_sizes=(24, 45))
    with pytest.raises(InvalidParameterError, match="multiples of 16"):
        DepthBlendConfig(inference_size=(100, 100))
    with pytest.raises(InputError, match="multiples of 16"):
        MegaDepthHourglass()(torch.rand(1, 3, 30, 32))


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(2)
    model = DepthAwareBlend(DepthBlendConfig(kernel_sizes=(5, 9), sigmas=(1.5, 3.0), inference_size=None)).eval()
    path = model.save(tmp_path / "blend.safetensors")
    loaded = DepthAwareBlend.load(path).eval()
    assert loaded.config == model.config
    from lensblur.models.mpfn import MPFN

    with pytest.raises(InvalidParameterError, match="does not hold MPFN weights"):
        MPFN.load(path)
    image = torch.rand(1, 3, 32, 32)
    assert torch.equal(model(image)[0], loaded(image)[0])


@pytest.mark.slow
def test_training_recovers_known_weight_maps():
    """Targets built with Eq. 1 from known weights (near = dark region kept sharp, far = bright region fully
    blurred): the network's softmax weights converge to them where the copies differ."""
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    size, kernels = 64, (3, 7, 11)
    texture = torch.from_numpy(rng.random((1, 3, size, size), dtype=np.float32))
    far = torch.zeros(1, 1, size, size)
    far[..., :, size // 2:] = 1
    image = 0.1 + 0.3 * texture + 0.5 * far                    # the far half is brighter
    truth = torch.cat([1 - far, torch.zeros_like(far), torch.zeros_like(far), far], 1)
    target = blend(image, truth, kernels)
    model = DepthAwareBlend(DepthBlendConfig(kernel_sizes=kernels, inference_size=None))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(150):
        out, _ = model(image)
        loss = (out - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        _, weights = model(image)
    sharp = weights[..., 8:-8, 8:size // 2 - 8][:, 0].mean()
    blurred = weights[..., 8:-8, size // 2 + 8:-8][:, 3].mean()
    assert sharp > 0.8 and blurred > 0.8, (float(sharp), float(blurred))
