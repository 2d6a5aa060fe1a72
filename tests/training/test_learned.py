"""The learned-renderer training loop: recipes, losses, resume, DDP, and that MPFN can learn at all."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lensblur.data import SyntheticPairs
from lensblur.errors import InvalidParameterError
from lensblur.evaluation.metrics import ssim as ssim_reference
from lensblur.models.depth_blend import DepthBlendConfig
from lensblur.models.mpfn import MPFN, MPFNConfig
from lensblur.training.learned import BlendPhase, DepthBlendRecipe, MPFNRecipe, fit
from lensblur.training.losses import advanced_sobel_loss, sobel4, ssim_map

TINY = MPFNConfig(levels=2, kernel_sizes=(3, 5), width=16, growth=8, dense_layers=2)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_ssim_loss_agrees_with_the_evaluation_metric():
    rng = np.random.default_rng(0)
    a = rng.random((40, 50, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ours = ssim_map(torch.from_numpy(a).permute(2, 0, 1)[None], torch.from_numpy(b).permute(2, 0, 1)[None]).mean()
    assert float(ours) == pytest.approx(ssim_reference(a, b), abs=1e-9)


def test_sobel_loss_sees_edges_in_four_directions():
    ramp = torch.arange(8.0).repeat(8, 1)[None, None] / 8      # brightness grows to the right
    responses = sobel4(ramp)[0, :, 2:-2, 2:-2]
    assert torch.allclose(responses[0], torch.full_like(responses[0], 8 / 8))   # 0°: (1 + 2 + 1) · 2 / 8
    assert torch.allclose(responses[1], torch.zeros_like(responses[1]))          # 90°: no vertical change
    assert torch.allclose(responses[2].abs(), responses[3].abs())                # the two diagonals agree
    image = torch.rand(1, 3, 16, 16)
    assert advanced_sobel_loss(image, image) == 0
    assert advanced_sobel_loss(image, image.flip(-1)) > 0


def test_mpfn_recipe_follows_the_paper():
    recipe = MPFNRecipe()
    assert recipe.lr_at(0) == 1e-4 and recipe.lr_at(29) == 1e-4 and recipe.lr_at(30) == 5e-5 and recipe.lr_at(60) == 2.5e-5
    assert (recipe.crop, recipe.batch, recipe.sobel_weight, recipe.epochs) == (256, 16, 0.25, 80)
    model = MPFN(TINY)
    batch = {"image": torch.rand(2, 3, 16, 16), "target": torch.rand(2, 3, 16, 16),
             "coords": torch.zeros(2, 2, 16, 16)}
    loss, terms = replace(recipe, config=TINY).loss(model, batch)
    assert set(terms) == {"l1_1", "asl_1", "l1_2", "asl_2"}                     # supervised at every level
    assert float(loss.detach()) == pytest.approx(sum(terms[f"l1_{i}"] + 0.25 * terms[f"asl_{i}"] for i in (1, 2)), rel=1e-5)


def test_depth_blend_recipe_has_three_phases():
    recipe = DepthBlendRecipe()
    sizes = [recipe.phase(e).size for e in (0, 19, 20, 29, 30, 34)]
    assert sizes == [(384, 512)] * 2 + [(768, 1024)] * 4
    assert [recipe.phase(e).loss for e in (0, 29, 30)] == ["l1", "l1", "ssim"]
    assert recipe.lr_at(0) == pytest.approx(1e-3) and recipe.lr_at(recipe.epochs - 1) == pytest.approx(1e-5)
    assert recipe.transform(25).resize == (768, 1024) and recipe.transform(25).crop is None


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    recipe = MPFNRecipe(config=TINY, epochs=2, batch=2, crop=32, lr=1e-3)
    data = SyntheticPairs(4, size=48)
    whole = fit(recipe, data, tmp_path / "whole", progress=False)
    fit(recipe, data, tmp_path / "parts", max_steps=3, progress=False)
    state = json.loads((tmp_path / "parts" / "state.json").read_text())
    assert (state["step"], state["epoch"], state["batch"], state["finished"]) == (3, 1, 1, False)
    parts = fit(recipe, data, tmp_path / "parts", progress=False)
    a, b = MPFN.load(whole).state_dict(), MPFN.load(parts).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [m["step"] for m in _metrics(tmp_path / "parts")] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "parts" / "state.json").read_text())["finished"] is True
    meta = MPFN.load(parts).metadata
    assert json.loads(meta["recipe"])["name"] == "mpfn" and meta["step"] == "4"
    with pytest.raises(InvalidParameterError, match=r"another recipe \(differs in \['lr'\]\)"):
        fit(replace(recipe, lr=1e-4), data, tmp_path / "parts", progress=False)


def test_depth_blend_trains_through_its_phases(tmp_path):
    recipe = DepthBlendRecipe(config=DepthBlendConfig(kernel_sizes=(3, 5), inference_size=None),
                              phases=(BlendPhase(1, (32, 32), "l1", 2), BlendPhase(1, (32, 48), "ssim", 2)))
    fit(recipe, SyntheticPairs(4, size=48), tmp_path / "run", progress=False)
    lines = _metrics(tmp_path / "run")
    assert ["l1" in m for m in lines] == [True, True, False, False]
    assert ["ssim" in m for m in lines] == [False, False, True, True]
    assert lines[0]["lr"] == pytest.approx(1e-3) and lines[-1]["lr"] == pytest.approx(1e-5)


def test_ddp_with_two_gloo_processes_equals_one_process_with_the_whole_batch(tmp_path):
    """torchrun, 2 CPU processes x batch 1 = 1 process x batch 2: same permutation, averaged gradients."""
    common = ["train", "mpfn", "--data", "synthetic:4", "--synthetic-size", "48", "--epochs", "1", "--crop", "32",
              "--levels", "2", "--kernel-sizes", "3", "5", "--width", "16", "--growth", "8", "--dense-layers", "2",
              "--lr", "1e-3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LENSBLUR_DDP_BACKEND": "gloo"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
              "-m", "lensblur.training.learned"]
    subprocess.run(launch + common + ["--batch-size", "1", "--out", str(tmp_path / "ddp")], check=True, env=env,
                   timeout=300, capture_output=True)
    subprocess.run([sys.executable, "-m", "lensblur.training.learned"] + common +
                   ["--batch-size", "2", "--out", str(tmp_path / "single")], check=True, env=env, timeout=300,
                   capture_output=True)
    ddp, single = MPFN.load(tmp_path / "ddp" / "model.safetensors"), MPFN.load(tmp_path / "single" / "model.safetensors")
    assert ddp.metadata["world_size"] == "2" and single.metadata["world_size"] == "1"
    assert [m["step"] for m in _metrics(tmp_path / "ddp")] == [1, 2]
    a, b = ddp.state_dict(), single.state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    initial = MPFN(replace(TINY))
    assert any(not torch.allclose(a[k], initial.state_dict()[k]) for k in a)    # it did train


@pytest.mark.slow
def test_mpfn_overfits_four_synthetic_pairs(tmp_path):
    """The paper's model and loss on 4 traced pairs: the loss drops at least 5x within 200 steps (one batch is
    one epoch here, so the halving schedule is switched off).

    At the paper's 1e-4 this takes longer; 1e-3 after a 40-step warm-up went from 0.554 to 0.036 (15x) in 200
    steps, passing 5x at step 113 (2-core machine, 114 s). A step budget, not a time budget, so a busy machine
    makes the test slower, never red (a time budget failed when another job shared the cores)."""
    recipe = MPFNRecipe(epochs=10**6, batch=4, crop=48, lr=1e-3, warmup_steps=40, halve_every=10**6, flips=False)
    fit(recipe, SyntheticPairs(4, size=48), tmp_path, max_steps=200, progress=False)
    losses = [m["loss"] for m in _metrics(tmp_path)]
    assert min(losses[-5:]) <= losses[0] / 5, (losses[0], losses[-5:], len(losses))
