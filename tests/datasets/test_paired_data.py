"""EBB!-layout loading, the papers' splits, aligned paired augmentation, synthetic pairs, and the
`lensblur eval --model` / `lensblur export` commands on a miniature EBB! tree."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from lensblur.cli import main
from lensblur.data import EBB_SPLITS, EBBDataset, PairedTransform, SyntheticPairs
from lensblur.errors import InputError, UnknownNameError
from lensblur.models.mpfn import MPFN, MPFNConfig, coordinate_map

TINY = MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2)


@pytest.fixture
def ebb_root(tmp_path):
    """Pairs 0-5 as PNG: the 'bokeh' image is the negative of the original, so alignment is checkable."""
    rng = np.random.default_rng(0)
    root = tmp_path / "EBB"
    for folder in ("original", "bokeh", "depth"):
        (root / "Training" / folder).mkdir(parents=True)
    for i in range(6):
        original = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
        bokeh = 255 - original
        if i == 5:  # one pair whose bokeh frame is larger (the pairs are cropped to their common region)
            bokeh = np.pad(bokeh, ((0, 2), (0, 4), (0, 0)))
        Image.fromarray(original).save(root / "Training" / "original" / f"{i}.png")
        Image.fromarray(bokeh).save(root / "Training" / "bokeh" / f"{i}.png")
        depth = np.tile(np.linspace(0, 65535, 60).astype(np.uint16), (40, 1))
        Image.fromarray(depth).save(root / "Training" / "depth" / f"{i}.png")
    return root


def test_papers_splits():
    assert len(EBB_SPLITS["val294"]) == 294 and EBB_SPLITS["val294"][0] == 4400
    assert list(EBB_SPLITS["test100"]) == list(range(100))
    assert len(EBB_SPLITS["train-mpfn"]) == 4594 and len(EBB_SPLITS["train4400"]) == 4400


def test_reads_whole_aligned_pairs(ebb_root):
    data = EBBDataset(ebb_root, "all", depth="depth")
    assert len(data) == 6 and data.indices == list(range(6))
    item = data[5]
    assert item["image"].shape == item["target"].shape == (3, 40, 60)
    assert torch.allclose(item["target"], 1 - item["image"], atol=1e-5)
    assert torch.equal(item["coords"], coordinate_map(40, 60)[0])
    assert item["depth"].shape == (1, 40, 60) and item["depth"][0, 0, 0] == 0 and item["depth"][0, 0, -1] == 1
    assert EBBDataset(ebb_root / "Training").indices == data.indices        # the Training folder works too


def test_augmentation_keeps_pairs_aligned_and_coordinates_honest(ebb_root):
    data = EBBDataset(ebb_root, transform=PairedTransform(crop=16, flips=True, rotations=True), depth="depth", seed=3)
    seen = set()
    for epoch in range(6):
        data.set_epoch(epoch)
        for i in range(len(data)):
            item = data[i]
            assert item["image"].shape == (3, 16, 16)
            assert torch.allclose(item["target"], 1 - item["image"], atol=1e-5)
            x, y = item["coords"]
            assert (x[:, 1:] > x[:, :-1]).all() and (y[1:] > y[:-1]).all()   # a transformed photo is still upright
            seen.add(tuple(item["image"][:, 0, 0].tolist()))
    assert len(seen) > 20
    data.set_epoch(2)
    again = EBBDataset(ebb_root, transform=PairedTransform(crop=16, flips=True, rotations=True), depth="depth", seed=3)
    again.set_epoch(2)
    assert torch.equal(data[1]["image"], again[1]["image"])                 # (seed, epoch, index) fixes the draw


def test_resize_for_whole_image_phases(ebb_root):
    data = EBBDataset(ebb_root, transform=PairedTransform(crop=None, flips=False, resize=(32, 48)))
    item = data[0]
    assert item["image"].shape == (3, 32, 48) and item["coords"].shape == (2, 32, 48)


def test_bad_roots_and_splits(ebb_root, tmp_path):
    with pytest.raises(InputError, match="has no Training/original and Training/bokeh"):
        EBBDataset(tmp_path)
    with pytest.raises(UnknownNameError, match="unknown split 'val300'"):
        EBBDataset(ebb_root, "val300")
    with pytest.raises(InputError, match=r"split 'test100' needs pairs 0-99, but 94 are missing"):
        EBBDataset(ebb_root, "test100")
    with pytest.raises(InputError, match="depth folder"):
        EBBDataset(ebb_root, depth="megadepth")
    with pytest.raises(InputError, match="crop 64 px does not fit a 40x60 frame"):
        EBBDataset(ebb_root, transform=PairedTransform(crop=64))[0]


def test_synthetic_pairs_look_like_ebb_items():
    data = SyntheticPairs(2, size=48, transform=PairedTransform(crop=32))
    item = data[1]
    assert set(item) == {"image", "target", "depth", "coords", "index"}
    assert item["image"].shape == item["target"].shape == (3, 32, 32) and item["depth"].shape == (1, 32, 32)
    assert not torch.allclose(item["image"], item["target"])                  # the target is defocused


def test_cli_scores_a_learned_model_on_ebb_layout(ebb_root, tmp_path, capsys):
    torch.manual_seed(0)
    weights = MPFN(TINY).save(tmp_path / "model.safetensors")
    out = tmp_path / "scores"
    code = main(["eval", "--model", "mpfn", "--weights", str(weights), "--ebb", str(ebb_root), "--split", "all",
                 "--out", str(out), "--quiet", "--lpips-weights", str(tmp_path / "none")])
    assert code == 2 and "lpips" in capsys.readouterr().err.lower()        # explicit LPIPS weights must exist
    code = main(["eval", "--model", "mpfn", "--weights", str(weights), "--ebb", str(ebb_root), "--split", "all",
                 "--out", str(out), "--quiet", "--limit", "3"])
    assert code == 0
    result = json.loads((out / "mpfn.json").read_text())
    assert result["count"] == 3 and {"psnr", "ssim", "psnr_focused", "psnr_bokeh"} <= set(result["mean"])
    assert "| mpfn | 3 |" in capsys.readouterr().out


def test_cli_eval_needs_weights(capsys):
    assert main(["eval", "--model", "depth-blend", "--synthetic", "2"]) == 2
    assert "needs --weights" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_cli_exports_onnx(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    weights = MPFN(TINY).save(tmp_path / "model.safetensors")
    assert main(["export", "--model", "mpfn", "--weights", str(weights), "-o", str(tmp_path / "m.onnx"),
                 "--check-size", "32", "48"]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 10_000
    assert "max abs difference" in capsys.readouterr().out
    assert main(["export", "--model", "mpfn", "--weights", str(weights), "-o", str(tmp_path / "m.onnx")]) == 2


def test_scores_have_an_lpips_column_when_a_model_is_given(ebb_root):
    from lensblur.evaluation.learned import evaluate_pairs, learned_table
    from lensblur.evaluation.lpips import LPIPS
    from lensblur.models.depth_blend import DepthAwareBlend, DepthBlendConfig

    torch.manual_seed(1)
    model = DepthAwareBlend(DepthBlendConfig(kernel_sizes=(5, 9), inference_size=(32, 48))).eval()
    result = evaluate_pairs(model, EBBDataset(ebb_root), lpips_model=LPIPS().eval(), limit=2)
    assert result["count"] == 2 and result["mean"]["lpips"] >= 0
    assert "psnr_focused" not in result["mean"]                    # only MPFN has a salient mask
    assert learned_table({"depth-blend": result}).splitlines()[0] == "| model | images | psnr | ssim | lpips |"


def test_cli_applies_a_learned_model_to_a_photo(tmp_path, capsys):
    torch.manual_seed(2)
    weights = MPFN(TINY).save(tmp_path / "model.safetensors")
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 45, 3), dtype=np.uint8)).save(photo)
    out, mask = tmp_path / "out.png", tmp_path / "mask.png"
    assert main(["apply", str(photo), "-o", str(out), "--model", "mpfn", "--weights", str(weights),
                 "--save-mask", str(mask)]) == 0
    with Image.open(out) as rendered, Image.open(mask) as salient:
        assert rendered.size == (45, 30) and salient.size == (45, 30)
        assert "renderer: mpfn" in rendered.getexif().get(0x010E, "")          # ImageDescription
    assert "mpfn: 45x30" in capsys.readouterr().out
    assert main(["apply", str(photo), "-o", str(out), "--model", "mpfn", "--weights", str(weights)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["apply", str(photo), "-o", str(photo), "--model", "mpfn", "--weights", str(weights),
                 "--overwrite"]) == 2                                              # never the input


def test_cli_compares_the_papers_models_in_one_table(ebb_root, tmp_path, capsys):
    """MPFN, PyNET-bokeh (with the dataset's depth) and BGGAN's generator scored in one run, one row each,
    with PyNET's border crop."""
    from lensblur.models.bggan import BGGAN, GlassNetConfig
    from lensblur.models.pynet import PyNETBokeh, PyNETConfig

    torch.manual_seed(0)
    files = [MPFN(TINY).save(tmp_path / "mpfn.safetensors"),
             PyNETBokeh(PyNETConfig(width=2)).save(tmp_path / "pynet.safetensors"),
             BGGAN(GlassNetConfig(c1=2, c2=2, res_blocks=1), ndf=2).save(tmp_path / "bggan.safetensors")]
    out = tmp_path / "scores"
    common = ["eval", "--model", "mpfn", "pynet-bokeh", "bggan", "--ebb", str(ebb_root), "--split", "all",
              "--out", str(out), "--quiet", "--limit", "2", "--border", "4"]
    assert main(common + ["--weights", *map(str, files[:2])]) == 2
    assert "one model.safetensors per model" in capsys.readouterr().err
    assert main(common + ["--weights", *map(str, files)]) == 2          # PyNET without depth is refused
    assert "PyNET-bokeh needs depth maps" in capsys.readouterr().err
    assert main(common + ["--weights", *map(str, files), "--depth-folder", "depth"]) == 0
    table = capsys.readouterr().out
    for name in ("mpfn", "pynet-bokeh", "bggan"):
        assert f"| {name} | 2 |" in table
        assert json.loads((out / f"{name}.json").read_text())["count"] == 2
    assert (out / "mpfn-pynet-bokeh-bggan.md").read_text().strip() == table.strip()


def test_border_crop_scores_only_the_inner_region():
    from lensblur.evaluation.learned import evaluate_pairs, predict
    from lensblur.evaluation.metrics import psnr

    data = SyntheticPairs(1, size=32)
    model = MPFN(TINY).eval()
    item = data[0]
    out, _ = predict(model, item["image"][None])
    pred = out[0].permute(1, 2, 0).numpy().astype(np.float64)
    target = item["target"].permute(1, 2, 0).numpy().astype(np.float64)
    got = evaluate_pairs(model, data, border_px=3)["mean"]["psnr"]
    assert got == pytest.approx(psnr(pred[3:-3, 3:-3], np.clip(target[3:-3, 3:-3], 0, 1)))
    assert got != pytest.approx(evaluate_pairs(model, data)["mean"]["psnr"])
    with pytest.raises(ValueError, match="border_px 16 leaves nothing of a 32x32 image"):
        evaluate_pairs(model, data, border_px=16)


def test_cli_applies_pynet_with_a_depth_map_and_bggan_without(tmp_path, capsys):
    from lensblur.models.bggan import GlassNet, GlassNetConfig
    from lensblur.models.pynet import PyNETBokeh, PyNETConfig

    torch.manual_seed(0)
    pynet = PyNETBokeh(PyNETConfig(width=2)).save(tmp_path / "pynet.safetensors")
    glass = GlassNet(GlassNetConfig(c1=2, c2=2, res_blocks=1)).save(tmp_path / "glass.safetensors")
    photo, depth = tmp_path / "photo.png", tmp_path / "depth.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 45, 3), dtype=np.uint8)).save(photo)
    Image.fromarray(np.tile(np.linspace(1000, 65535, 45).astype(np.uint16), (30, 1))).save(depth)
    out = tmp_path / "out.png"
    base = ["apply", str(photo), "-o", str(out), "--weights"]
    assert main(base + [str(pynet), "--model", "pynet-bokeh"]) == 2
    assert "--model pynet-bokeh needs --depth" in capsys.readouterr().err
    assert main(base + [str(pynet), "--model", "pynet-bokeh", "--depth", str(depth)]) == 2
    assert "--depth needs --depth-kind" in capsys.readouterr().err
    assert main(base + [str(glass), "--model", "bggan", "--depth", str(depth), "--depth-kind", "depth"]) == 2
    assert "--depth is used by --model pynet-bokeh only" in capsys.readouterr().err
    assert main(base + [str(pynet), "--model", "pynet-bokeh", "--depth", str(depth), "--depth-kind", "depth"]) == 0
    with Image.open(out) as rendered:
        assert rendered.size == (45, 30)
    out2 = tmp_path / "out2.png"
    assert main(["apply", str(photo), "-o", str(out2), "--weights", str(glass), "--model", "bggan"]) == 0
    with Image.open(out2) as rendered:
        assert rendered.size == (45, 30)
