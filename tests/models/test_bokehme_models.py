"""ARNet / IUNet: the official shapes and parameter counts, save/load, and the official checkpoint loader."""

import pickle

import numpy as np
import pytest
import torch

from lensblur.errors import FileFormatError, InvalidParameterError
from lensblur.models.bokehme import (
    ARNET_GUIDED,
    IUNET,
    IUNET_RESIDUAL,
    BokehMeNets,
    DefocusNetConfig,
    gamma_plane,
    load_official_checkpoint,
    official_key_map,
)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_official_networks():
    nets = BokehMeNets()
    assert _count(nets.arnet) == 923_664
    assert _count(nets.iunet) == 240_076
    # per-module breakdown of ARNet: stem 17->128, six 128->128 convs, head 128->16
    assert _count(nets.arnet.stem) == 17 * 128 * 9 + 128
    assert sum(_count(b) for b in nets.arnet.blocks) == 6 * (128 * 128 * 9 + 128)
    assert _count(nets.arnet.head) == 128 * 16 * 9 + 16


@pytest.mark.parametrize("size", [(16, 16), (33, 47), (64, 31)])
def test_output_shapes_at_odd_and_even_sizes(size):
    torch.manual_seed(0)
    nets = BokehMeNets().eval()
    image, defocus = torch.rand(2, 3, *size), torch.randn(2, 1, *size)
    with torch.no_grad():
        bokeh, logit = nets.adaptive(image, defocus, torch.tensor([1.0, 5.0]))
        refined = nets.upsample(image, defocus, torch.rand(2, 3, 5, 7), 2.2)
    assert bokeh.shape == (2, 3, *size) and logit.shape == (2, 1, *size)
    assert refined.shape == (2, 3, *size)
    assert torch.isfinite(bokeh).all() and torch.isfinite(refined).all()


def test_odd_sizes_are_padded_not_resized():
    """An odd-sized input gives the same pixels as the even-sized input it is the top-left crop of."""
    torch.manual_seed(1)
    nets = BokehMeNets().eval()
    image, defocus = torch.rand(1, 3, 40, 40), torch.randn(1, 1, 40, 40)
    with torch.no_grad():
        full, _ = nets.adaptive(image, defocus, 2.0)
        # replicate the last row/col of a 39x39 crop to 40x40: identical inside, away from the padded edge
        crop, _ = nets.adaptive(image[..., :39, :39], defocus[..., :39, :39], 2.0)
    assert torch.allclose(full[..., :20, :20], crop[..., :20, :20], atol=1e-6)


def test_gamma_plane_maps_one_to_zero_and_five_to_one():
    plane = gamma_plane(torch.tensor([1.0, 3.0, 5.0]), torch.zeros(3, 1, 4, 4), (2, 2))
    assert plane.shape == (3, 1, 2, 2)
    assert plane[:, 0, 0, 0].tolist() == [0.0, 0.5, 1.0]


def test_config_rejects_bad_sizes():
    with pytest.raises(InvalidParameterError, match="DefocusNetConfig.width must be a positive integer; got 0"):
        DefocusNetConfig(in_channels=3, out_channels=3, width=0)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(2)
    nets = BokehMeNets(DefocusNetConfig(17, 4, 8, 1), DefocusNetConfig(20, 3, 8, 1))
    path = nets.save(tmp_path / "w.safetensors", metadata={"steps": 3, "note": "tiny"})
    back = BokehMeNets.load(path)
    assert back.config_dict() == nets.config_dict()
    assert back.metadata == {"steps": "3", "note": "tiny"}
    for (k, a), (_, b) in zip(nets.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_load_rejects_a_file_that_is_not_safetensors(tmp_path):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(FileFormatError, match="is not a readable safetensors file"):
        BokehMeNets.load(bad)


# -- the official checkpoints -------------------------------------------------------------------------------

def _official_state_dict(module: torch.nn.Module) -> dict:
    """A module's weights under the official key names (conv0 / block_stack / conv1)."""
    out = {}
    for key, value in module.state_dict().items():
        name, param = key.rsplit(".", 1)
        if name == "stem":
            official = f"conv0.conv.{param}"
        elif name == "head":
            official = f"conv1.conv.{param}"
        else:
            _, block, conv = name.split(".")
            official = f"block_stack.blocks.{block}.{int(conv[-1]) - 1}.conv.{param}"
        out[official] = value.clone()
    return out


def test_official_key_map_names():
    assert official_key_map("conv0.conv.weight") == "stem.weight"
    assert official_key_map("block_stack.blocks.2.1.conv.bias") == "blocks.2.conv2.bias"
    assert official_key_map("conv1.conv.bias") == "head.bias"
    with pytest.raises(FileFormatError, match="unexpected key 'conv2.conv.weight'"):
        official_key_map("conv2.conv.weight")


def test_official_checkpoint_shapes_load(tmp_path):
    """Training dicts shaped like the official files (iunet: conv1 [12, 64, 3, 3]) load into our modules."""
    torch.manual_seed(3)
    source = BokehMeNets()
    iunet_sd = _official_state_dict(source.iunet)
    assert tuple(iunet_sd["conv1.conv.weight"].shape) == (12, 64, 3, 3)
    assert tuple(_official_state_dict(source.arnet)["conv0.conv.weight"].shape) == (128, 17, 3, 3)
    for name in ("arnet", "iunet"):
        torch.save({"global_step": 1_653_750, "model": _official_state_dict(getattr(source, name)),
                    "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
                    "best": np.float64(38.8), "psnr_history": np.arange(4, dtype=np.float32)},
                   tmp_path / f"{name}.pth")
    nets = load_official_checkpoint(tmp_path / "arnet.pth", tmp_path / "iunet.pth")
    for (k, a), (_, b) in zip(source.state_dict().items(), nets.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_official_loader_never_unpickles_arbitrary_objects(tmp_path):
    path = tmp_path / "arnet.pth"
    torch.save({"model": {}, "evil": _Payload()}, path)
    (tmp_path / "iunet.pth").write_bytes(path.read_bytes())
    with pytest.raises(FileFormatError, match="weights-only loader"):
        load_official_checkpoint(path, tmp_path / "iunet.pth")


def test_official_loader_rejects_wrong_shapes(tmp_path):
    small = BokehMeNets(DefocusNetConfig(17, 4, 8), IUNET)
    for name in ("arnet", "iunet"):
        torch.save({"model": _official_state_dict(getattr(small, name))}, tmp_path / f"{name}.pth")
    with pytest.raises(FileFormatError, match="does not fit BokehMe's arnet: shape mismatches"):
        load_official_checkpoint(tmp_path / "arnet.pth", tmp_path / "iunet.pth")


def test_official_loader_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="arnet_path: no file at"):
        load_official_checkpoint(tmp_path / "arnet.pth", tmp_path / "iunet.pth")


def test_pickle_payload_is_what_it_claims():
    """Guard for the test above: the payload really would run code if unpickled."""
    assert pickle.loads(pickle.dumps(_Payload())) is None


def test_shipped_variant_starts_as_the_classical_render_with_a_small_error_map():
    """Guided ARNet starts as B_c, residual IUNet as bilinear upsampling, E as sigmoid(-2) everywhere."""
    nets = BokehMeNets(ARNET_GUIDED, IUNET_RESIDUAL)
    assert _count(nets.arnet) == 923_664 + 12 * 128 * 9  # 3 classical channels, space-to-depth: 12 more inputs
    image, defocus, coarse = torch.rand(2, 3, 33, 34), torch.randn(2, 1, 33, 34), torch.rand(2, 3, 17, 17)
    classical = torch.rand(2, 3, 33, 34)
    with torch.no_grad():
        bokeh, logit = nets.adaptive(image, defocus, 2.0, classical)
        refined = nets.upsample(image, defocus, coarse, 2.0)
    assert torch.equal(bokeh, classical)
    assert torch.allclose(torch.sigmoid(logit), torch.full_like(logit, 0.1192), atol=1e-4)
    up = torch.nn.functional.interpolate(coarse, size=(33, 34), mode="bilinear", align_corners=False)
    assert torch.allclose(refined, up, atol=1e-6)
    with pytest.raises(InvalidParameterError, match=r"pass classical= shaped like the image \(2, 3, 33, 34\); got None"):
        nets.adaptive(image, defocus, 2.0)


def test_residual_flag_survives_save_and_load_and_official_shapes_stay_plain(tmp_path):
    nets = BokehMeNets(DefocusNetConfig(17, 4, 8, 1, residual=True), DefocusNetConfig(20, 3, 8, 1, residual=True))
    back = BokehMeNets.load(nets.save(tmp_path / "r.safetensors"))
    assert back.arnet.config.residual and back.iunet.config.residual
    assert not BokehMeNets().arnet.config.residual and not BokehMeNets().iunet.config.residual
    with pytest.raises(InvalidParameterError, match="DefocusNetConfig.residual must be True or False; got 1"):
        DefocusNetConfig(17, 4, 8, residual=1)
