"""Training BokehMe's neural renderer on lensblur's own ray-traced scenes (paper §3.2, Eq. 10-11).

Two steps, as in the paper:

1. ``build_cache``: trace scenes (``lensblur.synth``) at K = 12 and 24, two focus planes each, γ = 1..5,
   and for every (setting, γ) store what training needs: the display all-in-focus image, the ray-traced
   target, the classical scatter rendered from an **augmented** disparity (random Gaussian blur, dilation
   or erosion, so the networks learn to live with imperfect depth), the dilated defocus of that scatter,
   the augmented defocus, and the target error map E* (Eq. 5; the maximum of E* on the true and on the
   augmented disparity, since the scatter errs near either edge).
2. ``train``: ARNet on the K = 12 items at full resolution without adaptive resizing, then IUNet on the
   K = 24 items with ARNet frozen: ARNet renders at half resolution (where every radius is within ±12
   px) and IUNet upsamples x2, its output used where the dilated defocus is inside the ±12 px training
   range. Defocus is clipped to ±12 px for training (±10 at inference), Adam at 1e-4, random flips and
   90° rotations of the circular-aperture data.

Losses (``arnet_loss``, ``iunet_loss``): L1 on the fused image B and on the neural image, the same on
their gradients, and for ARNet 0.1·BCE(E, E*).

Run as ``python -m lensblur.training.bokehme cache ...`` then ``... train ...`` (``--help``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._allocator import keep_freed_memory
from ..depth.degrade import degrade_disparity
from ..errors import InvalidParameterError
from ..models.bokehme import ARNET, ARNET_GUIDED, DEFOCUS_UNIT_PX, IUNET, IUNET_RESIDUAL, BokehMeNets
from ..render.hybrid import fuse, resize, soft_mask
from ..synth.dataset import DatasetConfig, make_sample
from ._device import device_name
from .error_map import error_map_target

__all__ = ["DisparityAugment", "BokehMeRecipe", "training_items", "build_cache",
           "gradient_l1", "arnet_loss", "iunet_loss", "train"]

# Channels of one cached item, in order.
FIELDS = {"image": 3, "target": 3, "classical": 3, "defocus_px": 1, "dilated_px": 1, "error": 1}


# -- disparity augmentation -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DisparityAugment:
    """Random degradation per training item: none, or blur / dilation / erosion with a kernel of
    ``sizes`` (each kind equally likely)."""

    p_clean: float = 0.25
    sizes: tuple[int, ...] = (3, 5, 7, 9, 11)

    def __call__(self, disparity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.p_clean:
            return disparity
        kind = ("blur", "dilate", "erode")[rng.integers(3)]
        return degrade_disparity(disparity, kind, int(rng.choice(self.sizes)))


# -- the cache ----------------------------------------------------------------------------------------------

def training_items(config: DatasetConfig, seed: int, augment: DisparityAugment | None = DisparityAugment()) -> dict:
    """All training items of scene ``seed``: float16 ``(N, C, H, W)`` fields plus per-item K, d_f, γ."""
    from ..render.classical.scatter import scatter_encoded

    sample = make_sample(config, seed)
    rng = np.random.default_rng([seed, 0xB0CE])
    items = {name: [] for name in FIELDS}
    meta = {"strength_px": [], "focus_disparity": [], "gamma": []}
    for t, (strength, focus) in enumerate(zip(sample.strength_px, sample.focus_disparity, strict=True)):
        for g, gamma in enumerate(config.gammas):
            image = np.clip(np.maximum(sample.all_in_focus_linear[g].astype(np.float32), 0) ** (1 / gamma), 0, 1)
            target = np.clip(np.maximum(sample.bokeh_linear[t, g].astype(np.float32), 0) ** (1 / gamma), 0, 1)
            disparity = augment(sample.disparity, rng) if augment is not None else sample.disparity
            coc = (strength * (disparity - focus)).astype(np.float32)
            out = scatter_encoded(torch.from_numpy(image.transpose(2, 0, 1).copy())[None], torch.from_numpy(coc)[None, None],
                                  gamma=float(gamma), return_dilated=True)
            error = error_map_target(sample.disparity, strength_px=float(strength), focus_disparity=float(focus))
            if disparity is not sample.disparity:
                error = np.maximum(error, error_map_target(disparity, strength_px=float(strength),
                                                           focus_disparity=float(focus)))
            items["image"].append(image.transpose(2, 0, 1))
            items["target"].append(target.transpose(2, 0, 1))
            items["classical"].append(out.image[0].clamp(0, 1).numpy())
            items["defocus_px"].append(coc[None])
            items["dilated_px"].append(out.dilated_coc_px[0].numpy())
            items["error"].append(error[None])
            meta["strength_px"].append(float(strength))
            meta["focus_disparity"].append(float(focus))
            meta["gamma"].append(float(gamma))
    result = {name: np.stack(v).astype(np.float16) for name, v in items.items()}
    result.update({k: np.asarray(v, np.float32) for k, v in meta.items()})
    return result


def _worker(args):
    config, seed = args
    return training_items(config, seed)


def build_cache(out: str | Path | None, config: DatasetConfig, *, scenes: int, seed_start: int = 0,
                workers: int = 1, seconds: float | None = None, log=print) -> dict:
    """Trace up to ``scenes`` scenes (or as many as ``seconds`` allows) into a training cache: its arrays,
    also written to ``out`` (``.npz``) unless ``out`` is None."""
    out = Path(out) if out is not None else None
    if out is not None and out.exists():
        raise FileExistsError(f"{out} exists; choose another path or delete it")
    start = time.perf_counter()
    jobs = [(config, seed) for seed in range(seed_start, seed_start + scenes)]
    parts = []
    if workers > 1:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(workers) as pool:
            for part in pool.imap_unordered(_worker, jobs):
                parts.append(part)
                if len(parts) % 16 == 0:
                    log(f"cache: {len(parts)} scenes in {time.perf_counter() - start:.0f} s")
                if seconds is not None and time.perf_counter() - start > seconds:
                    pool.terminate()
                    break
    else:
        for job in jobs:
            parts.append(_worker(job))
            if seconds is not None and time.perf_counter() - start > seconds:
                break
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    arrays["config"] = np.frombuffer(json.dumps(asdict(config)).encode(), np.uint8)
    arrays["scenes"] = np.asarray(len(parts))
    if out is not None:
        partial = out.with_name(out.name + ".partial")
        with open(partial, "wb") as f:
            np.savez(f, **arrays)
        os.replace(partial, out)
    log(f"cache: {len(parts)} scenes, {len(arrays['gamma'])} items in {time.perf_counter() - start:.0f} s"
        + (f" -> {out}" if out is not None else ""))
    return arrays


# -- losses -------------------------------------------------------------------------------------------------

def gradient_l1(x: Tensor, y: Tensor) -> Tensor:
    """L1 between the forward differences of two images (the ∇ terms of Eq. 10-11)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]) - (y[..., :, 1:] - y[..., :, :-1])
    dy = (x[..., 1:, :] - x[..., :-1, :]) - (y[..., 1:, :] - y[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def _image_terms(output: Tensor, target: Tensor) -> Tensor:
    return F.l1_loss(output, target) + gradient_l1(output, target)


def arnet_loss(fused: Tensor, neural: Tensor, error_logit: Tensor, target: Tensor, error_target: Tensor,
               bce_weight: float = 0.1) -> Tensor:
    """Eq. 10."""
    bce = F.binary_cross_entropy_with_logits(error_logit.float(), error_target.float())
    return _image_terms(fused, target) + _image_terms(neural, target) + bce_weight * bce


def iunet_loss(fused: Tensor, neural: Tensor, target: Tensor) -> Tensor:
    """Eq. 11."""
    return _image_terms(fused, target) + _image_terms(neural, target)


# -- the recipe and the loop ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BokehMeRecipe:
    """Training settings (defaults: the paper's where it states them).

    Attributes:
        arnet_strength_px / iunet_strength_px: which cached K trains which network (12 / 24).
        train_radius_px: R̂ during training: defocus clipped to ±12 px.
        batch: items per step (16 in the paper).
        crop_px: random square crop side (0 = whole item).
        lr: Adam learning rate (1e-4).
        schedule: "constant" (the paper) or "cosine" (decay to lr/10 over the steps or seconds budget,
            whichever ends first; for short CPU budgets).
        arnet_steps / iunet_steps: optimiser steps; ``*_seconds`` stop earlier if set.
        seed: torch and sampling seed.
        residual: train lensblur's networks (``models.bokehme.ARNET_GUIDED`` / ``IUNET_RESIDUAL``: ARNet
            corrects the classical render, IUNet the upsampled coarse bokeh; far faster to train) rather than
            the plain official formulation.
    """

    arnet_strength_px: float = 12.0
    iunet_strength_px: float = 24.0
    train_radius_px: float = 12.0
    batch: int = 16
    crop_px: int = 0
    lr: float = 1e-4
    schedule: str = "constant"
    arnet_steps: int = 20000
    iunet_steps: int = 20000
    arnet_seconds: float | None = None
    iunet_seconds: float | None = None
    bce_weight: float = 0.1
    seed: int = 0
    residual: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise InvalidParameterError(f"BokehMeRecipe.schedule must be 'constant' or 'cosine'; got {self.schedule!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise InvalidParameterError(f"BokehMeRecipe.batch must be a positive integer; got {self.batch!r}")


class _Batches:
    """Random batches of cached items of one K, with flips and 90° rotations, on ``device``."""

    def __init__(self, cache: dict, strength_px: float, recipe: BokehMeRecipe, device: torch.device) -> None:
        index = np.flatnonzero(np.isclose(cache["strength_px"], strength_px))
        if index.size == 0:
            raise InvalidParameterError(f"the cache holds no items at K = {strength_px}; it has "
                                        f"{sorted(set(cache['strength_px'].tolist()))}")
        self.fields = {k: torch.from_numpy(np.ascontiguousarray(cache[k][index])).to(device) for k in FIELDS}
        self.gamma = torch.from_numpy(cache["gamma"][index]).to(device)
        self.recipe, self.device = recipe, device
        self.generator = torch.Generator(device="cpu").manual_seed(recipe.seed)

    def __len__(self) -> int:
        return len(self.gamma)

    def next(self) -> dict:
        pick = torch.randint(len(self), (self.recipe.batch,), generator=self.generator).to(self.device)
        batch = {k: v[pick].float() for k, v in self.fields.items()}
        size = batch["image"].shape[-1]
        crop = self.recipe.crop_px
        if crop and crop < size:
            y, x = (int(v) for v in torch.randint(size - crop + 1, (2,), generator=self.generator))
            batch = {k: v[..., y:y + crop, x:x + crop] for k, v in batch.items()}
        turns, flip = (int(v) for v in torch.randint(4, (2,), generator=self.generator))
        batch = {k: torch.rot90(v, turns, (-2, -1)) for k, v in batch.items()}
        if flip % 2:
            batch = {k: v.flip(-1) for k, v in batch.items()}
        batch["gamma"] = self.gamma[pick]
        return batch


def _arnet_step(nets: BokehMeNets, batch: dict, recipe: BokehMeRecipe) -> Tensor:
    limit = recipe.train_radius_px / DEFOCUS_UNIT_PX
    defocus = (batch["defocus_px"] / DEFOCUS_UNIT_PX).clamp(-limit, limit)
    neural, logit = nets.adaptive(batch["image"], defocus, batch["gamma"], batch["classical"])
    fused = fuse(batch["classical"], neural, torch.sigmoid(logit))
    return arnet_loss(fused, neural, logit, batch["target"], batch["error"], recipe.bce_weight)


def iunet_forward(nets: BokehMeNets, batch: dict, recipe: BokehMeRecipe) -> tuple[Tensor, Tensor]:
    """IUNet's training forward at scale 2: ``(fused B, neural B_nr)``; ARNet runs without gradients."""
    limit = recipe.train_radius_px / DEFOCUS_UNIT_PX
    image, defocus = batch["image"], batch["defocus_px"] / DEFOCUS_UNIT_PX
    height, width = image.shape[-2:]
    half = ((height + 1) // 2, (width + 1) // 2)
    with torch.no_grad():
        coarse, logit = nets.adaptive(resize(image, half), (resize(defocus, half) / 2).clamp(-limit, limit),
                                      batch["gamma"], resize(batch["classical"], half))
        coarse = coarse.clamp_min(0)
        error = F.interpolate(torch.sigmoid(logit), size=(height, width), mode="bilinear", align_corners=True)
        mask = soft_mask(batch["dilated_px"].abs() / DEFOCUS_UNIT_PX < limit)
        up = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    refined = nets.upsample(image, defocus.clamp(-limit, limit), coarse, batch["gamma"])
    neural = mask * refined + (1 - mask) * up
    return fuse(batch["classical"], neural, error), neural


def _iunet_step(nets: BokehMeNets, batch: dict, recipe: BokehMeRecipe) -> Tensor:
    fused, neural = iunet_forward(nets, batch, recipe)
    return iunet_loss(fused, neural, batch["target"])


def _loop(name: str, module: torch.nn.Module, step_fn, batches: _Batches, steps: int, seconds: float | None,
          recipe: BokehMeRecipe, nets: BokehMeNets, log, log_every: int = 100, checkpoint=None,
          checkpoint_every_s: float = 300.0) -> dict:
    optimiser = torch.optim.Adam(module.parameters(), lr=recipe.lr)
    device = batches.device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    start = time.perf_counter()
    history, done, total, last_save = [], 0, 0.0, start
    for step in range(1, steps + 1):
        if recipe.schedule == "cosine":
            progress = step / steps
            if seconds is not None:
                progress = max(progress, (time.perf_counter() - start) / seconds)
            for group in optimiser.param_groups:
                group["lr"] = recipe.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))
        batch = batches.next()
        with autocast:
            loss = step_fn(nets, batch, recipe)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        done = step
        total += float(loss.detach())
        if step % log_every == 0:
            elapsed = time.perf_counter() - start
            history.append({"step": step, "loss": round(total / log_every, 5), "seconds": round(elapsed, 1)})
            log(f"{name}: step {step}, mean loss {total / log_every:.4f}, {elapsed:.0f} s")
            total = 0.0
        if checkpoint is not None and time.perf_counter() - last_save > checkpoint_every_s:
            checkpoint({"phase": name, "step": step, "history": history})
            last_save = time.perf_counter()
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    return {"steps": done, "seconds": round(time.perf_counter() - start, 1), "items": len(batches),
            "history": history}


def load_cache(path: str | Path) -> dict:
    """Read a cache written by :func:`build_cache`."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def train(cache: dict | str | Path, out: str | Path, recipe: BokehMeRecipe = BokehMeRecipe(), *,
          device: str = "cpu", init: BokehMeNets | None = None, log=print) -> tuple[BokehMeNets, dict]:
    """Train ARNet then IUNet from a cache (:func:`build_cache`'s file, or its arrays); save to ``out``."""
    torch.manual_seed(recipe.seed)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    if not isinstance(cache, dict):
        cache = load_cache(cache)
    if init is None:
        init = BokehMeNets(ARNET_GUIDED, IUNET_RESIDUAL) if recipe.residual else BokehMeNets(ARNET, IUNET)
    nets = init.to(dev).train()
    report = {"recipe": asdict(recipe), "device": device_name(dev), "cache_scenes": int(cache["scenes"]),
              "cache_config": json.loads(bytes(cache["config"]).decode())}
    def checkpoint(progress: dict) -> None:
        """Save what there is (weights on the CPU copy), so an interrupted run keeps its progress."""
        snapshot = BokehMeNets.from_config_dict(nets.config_dict())
        snapshot.load_state_dict({k: v.detach().cpu() for k, v in nets.state_dict().items()})
        snapshot.save(out, metadata={"training": {**report, "partial": progress}})
        log(f"checkpoint: {progress['phase']} step {progress['step']} -> {out}")

    if recipe.arnet_steps:
        batches = _Batches(cache, recipe.arnet_strength_px, recipe, dev)
        report["arnet"] = _loop("arnet", nets.arnet, _arnet_step, batches, recipe.arnet_steps,
                                recipe.arnet_seconds, recipe, nets, log, checkpoint=checkpoint)
        del batches
    if recipe.iunet_steps:
        for p in nets.arnet.parameters():
            p.requires_grad_(False)
        batches = _Batches(cache, recipe.iunet_strength_px, recipe, dev)
        report["iunet"] = _loop("iunet", nets.iunet, _iunet_step, batches, recipe.iunet_steps,
                                recipe.iunet_seconds, recipe, nets, log, checkpoint=checkpoint)
        for p in nets.arnet.parameters():
            p.requires_grad_(True)
    nets = nets.cpu().eval()
    nets.save(out, metadata={"training": report})
    return nets, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensblur.training.bokehme", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="trace scenes into a training cache (.npz)")
    c.add_argument("--out", required=True)
    c.add_argument("--scenes", type=int, default=150)
    c.add_argument("--size", type=int, default=256)
    c.add_argument("--seed-start", type=int, default=0)
    c.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)))
    c.add_argument("--seconds", type=float, default=None, help="stop tracing after this long")
    t = sub.add_parser("train", help="train ARNet then IUNet from a cache")
    t.add_argument("--cache", required=True)
    t.add_argument("--out", required=True, help="weights file (.safetensors)")
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--crop", type=int, default=0)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    t.add_argument("--arnet-steps", type=int, default=20000)
    t.add_argument("--iunet-steps", type=int, default=20000)
    t.add_argument("--arnet-seconds", type=float, default=None)
    t.add_argument("--iunet-seconds", type=float, default=None)
    t.add_argument("--init", default=None, help="start from these weights")
    t.add_argument("--plain", action="store_true", help="the official non-residual networks")
    args = parser.parse_args(argv)
    if args.command == "cache":
        config = DatasetConfig(split="train", size=args.size, strengths_px=(12.0, 24.0), focus_per_scene=2)
        build_cache(args.out, config, scenes=args.scenes, seed_start=args.seed_start, workers=args.workers,
                    seconds=args.seconds)
        return 0
    recipe = BokehMeRecipe(batch=args.batch, crop_px=args.crop, lr=args.lr, schedule=args.schedule, arnet_steps=args.arnet_steps,
                           iunet_steps=args.iunet_steps, arnet_seconds=args.arnet_seconds,
                           iunet_seconds=args.iunet_seconds, residual=not args.plain)
    init = BokehMeNets.load(args.init) if args.init else None
    _, report = train(args.cache, args.out, recipe, device=args.device, init=init)
    print(json.dumps({k: v for k, v in report.items() if k in ("arnet", "iunet", "device")}, default=str)[:2000])
    return 0


if __name__ == "__main__":
    keep_freed_memory()
    raise SystemExit(main())
