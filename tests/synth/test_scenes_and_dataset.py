"""Procedural scenes (determinism, split separation, content) and the dataset writer/readers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.utils.data

from lensblur.cli import main
from lensblur.errors import InvalidParameterError, OutputExistsError
from lensblur.synth import DatasetConfig, ShardDataset, SyntheticBokehDataset, make_sample, make_scene, write_dataset
from lensblur.synth.outlines import OUTLINE_FAMILIES
from lensblur.synth.textures import _PHOTOS, TEXTURE_FAMILIES


def test_same_seed_same_scene_and_other_seed_other_scene():
    a, b, c = make_scene(7, "train", 48, 48, margin=6), make_scene(7, "train", 48, 48, margin=6), \
        make_scene(8, "train", 48, 48, margin=6)
    assert [layer.plane for layer in a.layers] == [layer.plane for layer in b.layers]
    for la, lb_ in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.rgba, lb_.rgba)
    assert not np.array_equal(a.layers[0].rgba, c.layers[0].rgba)


def test_train_and_test_splits_share_no_stream_texture_or_outline_family():
    assert set(_PHOTOS["train"]).isdisjoint(_PHOTOS["test"])
    assert set(TEXTURE_FAMILIES["train"]) & set(TEXTURE_FAMILIES["test"]) == {"photo"}  # photos differ (above)
    assert set(OUTLINE_FAMILIES["train"]).isdisjoint(OUTLINE_FAMILIES["test"])
    train, test = make_scene(3, "train", 32, 32, margin=4), make_scene(3, "test", 32, 32, margin=4)
    assert not np.array_equal(train.layers[0].rgba, test.layers[0].rgba)
    for split, scene in (("train", train), ("test", test)):
        for kind in scene.families["layers"]:
            outline, texture = kind.split("/")
            assert texture in TEXTURE_FAMILIES[split]
            assert outline in OUTLINE_FAMILIES[split] + ("opaque",)


def test_scenes_have_an_opaque_background_a_near_foreground_and_hdr_highlights():
    for seed in range(6):
        scene = make_scene(seed, "train", 64, 64, margin=8)
        assert scene.layers[0].name == "background" and (scene.layers[0].rgba[..., 3] == 1).all()
        assert scene.layers[-1].name.startswith("foreground") and scene.layers[-1].plane[0] >= 0.8 - 1e-9
        ys, xs = np.mgrid[0:64, 0:64]
        for layer in scene.layers:
            alpha = layer.rgba[..., 3]
            assert alpha.min() >= 0 and alpha.max() <= 1
            d = layer.disparity_at(xs, ys)[alpha[8:-8, 8:-8] > 0]  # where the layer exists on the canvas
            assert d.min() >= -1e-9 and d.max() <= 1 + 1e-9
    assert max(layer.rgba[..., :3].max() for s in range(6)
               for layer in make_scene(s, "train", 64, 64, margin=8).layers) > 1.5


def test_bad_scene_arguments_are_named():
    with pytest.raises(ValueError, match="split must be one of"):
        make_scene(0, "validation")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        make_scene(-1)
    with pytest.raises(ValueError, match="height must be an integer >= 8"):
        make_scene(0, height=4)
    with pytest.raises(InvalidParameterError, match="strengths_px"):
        DatasetConfig(strengths_px=(-3.0,))


TINY = DatasetConfig(size=24, strengths_px=(4.0,), focus_per_scene=2, gammas=(1.0, 2.2))


def test_dataset_round_trip_equals_on_the_fly_generation(tmp_path):
    out = write_dataset(tmp_path / "ds", TINY, count=3, seed_start=5, shard_size=2)
    meta = json.loads((out / "dataset.json").read_text())
    assert [s["file"] for s in meta["shards"]] == ["shard-00000.npz", "shard-00001.npz"]
    assert (out / "README.md").exists()
    stored, live = ShardDataset(out), SyntheticBokehDataset(TINY, count=3, seed_start=5)
    assert len(stored) == len(live) == 3 * 2 * 2
    for index in (0, 5, 11):
        a, b = stored[index], live[index]
        assert a["seed"] == b["seed"] and a["gamma"] == b["gamma"] and a["strength_px"] == b["strength_px"]
        for key in ("image", "disparity", "target"):
            np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=2e-3)  # float16 storage
    with pytest.raises(IndexError):
        stored[len(stored)]
    batch = next(iter(torch.utils.data.DataLoader(stored, batch_size=4)))
    assert batch["image"].shape == (4, 3, 24, 24) and batch["gamma"].tolist() == [1.0, 2.2, 1.0, 2.2]


def test_items_pair_the_right_gamma_and_setting():
    sample = make_sample(TINY, 9)
    item = SyntheticBokehDataset(TINY, count=1, seed_start=9)[3]  # setting 1, gamma 2.2
    expected = np.clip(sample.bokeh_linear[1, 1] ** (1 / 2.2), 0, 1)
    np.testing.assert_allclose(item["target"].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert item["focus_disparity"] == pytest.approx(float(sample.focus_disparity[1]))
    assert sample.disparity.min() <= item["focus_disparity"] <= sample.disparity.max()


def test_writer_never_clobbers_a_dataset(tmp_path):
    write_dataset(tmp_path, TINY, count=1)
    before = (tmp_path / "shard-00000.npz").read_bytes()
    with pytest.raises(OutputExistsError, match="already holds a dataset"):
        write_dataset(tmp_path, TINY, count=1, seed_start=4)
    assert (tmp_path / "shard-00000.npz").read_bytes() == before


def test_cli_synth_writes_a_readable_dataset(tmp_path, capsys):
    code = main(["synth", "--count", "2", "--out", str(tmp_path / "d"), "--size", "20", "--blur", "3",
                 "--focus-per-scene", "1", "--gammas", "2.2", "--quiet"])
    assert code == 0
    ds = ShardDataset(tmp_path / "d")
    assert len(ds) == 2 and ds[1]["image"].shape == (3, 20, 20)
    assert main(["synth", "--count", "1", "--out", str(tmp_path / "d"), "--quiet"]) == 2
    assert "already holds a dataset" in capsys.readouterr().err
