"""Training the learned depth refiner (``lensblur.depth.refine_net``) on traced all-in-focus scenes.

Data: train-split procedural scenes (``lensblur.synth``) give a photo and its exact disparity. Each
training sample degrades that disparity as a low-resolution or estimated map would be: area-downsampled
by a random factor (2-8), Gaussian-blurred at the low resolution (σ 0-1.5 low-res px), lightly noised,
and handed to the network bilinearly upsampled, with the 8-bit photo as guide. The loss is L1 on the
normalised disparity, so the network learns to put the map's edges where the photo's are and to
restore structures thinner than the low-resolution grid. The random factor and blur keep it from
learning one fixed degradation (the benchmark's ×4 / σ 1 is one point inside the range).

    python -m lensblur.training.depth_refine cache --out refine_cache.npz --scenes 1600 --workers 2
    python -m lensblur.training.depth_refine train --cache refine_cache.npz --out refiner.safetensors \
        --seconds 1800
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._allocator import keep_freed_memory
from ..depth.refine_net import RefineNet, RefinerConfig, normalise_inputs
from ..errors import InvalidParameterError
from ..io.images import atomic_write_bytes
from ..synth import make_scene, trace_all_in_focus
from ._device import device_name

__all__ = ["build_cache", "degrade_low", "train", "main"]


def _scene(args: tuple[int, int, str]) -> tuple[np.ndarray, np.ndarray]:
    seed, size, split = args
    truth = trace_all_in_focus(make_scene(seed, split, size, size, margin=4), (2.2,))
    image = np.clip(np.round(truth.all_in_focus(2.2) * 255.0), 0, 255).astype(np.uint8)
    return image, truth.disparity.astype(np.float32)


def build_cache(out: str | Path, *, scenes: int, size: int = 256, seed_start: int = 0, split: str = "train",
                workers: int = 1, log=print) -> Path:
    """Trace ``scenes`` all-in-focus scenes (8-bit display photo + exact disparity) into an ``.npz``."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another path or delete it")
    jobs = [(seed, size, split) for seed in range(seed_start, seed_start + scenes)]
    start = time.perf_counter()
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            parts = list(pool.imap(_scene, jobs, chunksize=8))
    else:
        parts = [_scene(job) for job in jobs]
    images = np.stack([p[0] for p in parts])
    disparity = np.stack([p[1] for p in parts])
    import io

    buffer = io.BytesIO()
    np.savez(buffer, images=images, disparity=disparity,
             meta=np.frombuffer(json.dumps({"split": split, "seed_start": seed_start, "size": size}).encode(),
                                np.uint8))
    atomic_write_bytes(out, buffer.getvalue())
    log(f"cache: {scenes} {split} scenes at {size}x{size} in {time.perf_counter() - start:.0f} s -> {out}")
    return out


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, 1, H, W), replicate borders; sigma in px (0 = unchanged)."""
    if sigma <= 0.05:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), g.view(1, 1, -1, 1))


def degrade_low(disparity: torch.Tensor, factor: float, sigma: float, noise: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The low-resolution map a depth estimator would give: area-downsample (B, 1, H, W) by ``factor``,
    blur by ``sigma`` low-res px, add Gaussian noise of ``noise`` times the map's range."""
    h, w = disparity.shape[-2:]
    low = F.interpolate(disparity, size=(max(2, round(h / factor)), max(2, round(w / factor))), mode="area")
    low = _gaussian(low, sigma)
    if noise > 0:
        span = (disparity.amax() - disparity.amin()).clamp(min=1e-6)
        low = low + noise * span * torch.randn(low.shape, generator=generator)
    return low


class _Batches:
    """Random crops of cached scenes, flipped / turned, with a freshly degraded disparity each time."""

    def __init__(self, cache: dict, batch: int, crop: int, seed: int):
        self.images = torch.from_numpy(cache["images"]).permute(0, 3, 1, 2)    # (N, 3, S, S) uint8
        self.disparity = torch.from_numpy(cache["disparity"])[:, None]          # (N, 1, S, S)
        self.batch, self.crop = batch, crop
        self.g = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        guides, ups, truths = [], [], []
        size = self.images.shape[-1]
        for _ in range(self.batch):
            i = int(self.rng.integers(len(self.images)))
            image = self.images[i].float() / 255.0
            truth = self.disparity[i][None]
            factor = float(self.rng.choice([2.0, 3.0, 4.0, 4.0, 6.0, 8.0]))
            low = degrade_low(truth, factor, float(self.rng.uniform(0.0, 1.5)), float(self.rng.uniform(0, 0.01)),
                              self.g)
            up = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
            y, x = (int(v) for v in self.rng.integers(0, size - self.crop + 1, 2))
            sl = (..., slice(y, y + self.crop), slice(x, x + self.crop))
            stack = torch.cat([image[None][sl], up[sl], truth[sl]], 1)
            if self.rng.random() < 0.5:
                stack = stack.flip(-1)
            stack = torch.rot90(stack, int(self.rng.integers(4)), (-2, -1))
            guides.append(stack[:, :3])
            ups.append(stack[:, 3:4])
            truths.append(stack[:, 4:5])
        return torch.cat(guides), torch.cat(ups), torch.cat(truths)


def train(cache: dict | str | Path, out: str | Path, *, config: RefinerConfig | None = None, batch: int = 16,
          crop: int = 128, lr: float = 2e-3, steps: int = 100_000, seconds: float | None = None, seed: int = 0,
          init: RefineNet | None = None, miss_weight: float = 0.0, loss: str = "l1", log=print,
          log_every: int = 50,
          checkpoint_every_s: float = 300.0) -> tuple[RefineNet, dict]:
    """Train a :class:`RefineNet` (Adam, cosine schedule over ``steps`` or ``seconds``); save to ``out``.

    The loss is L1 (or, with ``loss="l2"``, squared error) on the normalised disparity. Squared error
    hedges where the photo leaves it unsure whether a thin structure is near or far (an intermediate
    disparity, i.e. a half-blurred twig), which is what minimises the squared error of the render; L1
    commits to one side. With ``miss_weight`` > 0, pixels where the upsampled coarse
    map misses the truth by more than a tenth of the range (lost thin structures, displaced edges: what the
    refiner is for) weigh ``1 + miss_weight``.

    The weights so far are also saved to ``out`` every ``checkpoint_every_s`` seconds (atomically), so an
    interrupted run keeps its progress (``--init`` continues from them).
    """
    if loss not in ("l1", "l2"):
        raise InvalidParameterError(f"loss must be 'l1' or 'l2'; got {loss!r}")
    torch.manual_seed(seed)
    if not isinstance(cache, dict):
        with np.load(cache) as data:
            cache = {k: data[k] for k in data.files}
    net = (init or RefineNet(config or RefinerConfig())).train()
    batches = _Batches(cache, batch, crop, seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    start = time.perf_counter()
    history, total, done, last_save = [], 0.0, 0, start

    def report() -> dict:
        return {"steps": done, "seconds": round(time.perf_counter() - start, 1), "batch": batch, "crop": crop,
                "lr": lr, "width": net.config.width, "loss": loss, "miss_weight": miss_weight,
                "scenes": int(len(cache["images"])),
                "history": history,
                "device": device_name(torch.device("cpu"))}

    for step in range(1, steps + 1):
        progress = step / steps
        if seconds is not None:
            progress = max(progress, (time.perf_counter() - start) / seconds)
        for group in optimiser.param_groups:
            group["lr"] = lr * (0.02 + 0.49 * (1 + math.cos(math.pi * min(1.0, progress))))
        guide, up, truth = batches.next()
        x, lo, span = normalise_inputs(guide, up)
        predicted = net(x)
        target = (truth - lo) / span
        weight = 1.0 + miss_weight * ((x[:, 3:4] + 0.5 - target).abs() > 0.1).float()
        error = (predicted - target).abs() if loss == "l1" else (predicted - target) ** 2
        value = (weight * error).sum() / weight.sum()
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        total += float(value.detach())
        done = step
        if step % log_every == 0:
            elapsed = time.perf_counter() - start
            history.append({"step": step, "loss": round(total / log_every, 5), "seconds": round(elapsed, 1)})
            log(f"refiner: step {step}, mean {loss} loss {total / log_every:.4f}, {elapsed:.0f} s", flush=True)
            total = 0.0
        if time.perf_counter() - last_save > checkpoint_every_s:
            net.save(out, metadata={"training": {**report(), "partial": True}})
            last_save = time.perf_counter()
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    net.eval()
    final = report()
    net.save(out, metadata={"training": final})
    return net, final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensblur.training.depth_refine",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="trace all-in-focus train-split scenes into an .npz")
    c.add_argument("--out", required=True)
    c.add_argument("--scenes", type=int, default=1600)
    c.add_argument("--size", type=int, default=256)
    c.add_argument("--seed-start", type=int, default=0)
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    t = sub.add_parser("train", help="train the refiner from a cache")
    t.add_argument("--cache", required=True)
    t.add_argument("--out", required=True, help="weights file (.safetensors)")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--crop", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--steps", type=int, default=100_000)
    t.add_argument("--seconds", type=float, default=None)
    t.add_argument("--miss-weight", type=float, default=0.0,
                   help="extra loss weight where the coarse map misses the truth by > 10 %% of its range")
    t.add_argument("--loss", choices=("l1", "l2"), default="l1")
    t.add_argument("--seed", type=int, default=0, help="seeds the data order and the degradations")
    t.add_argument("--init", default=None, help="start from these weights")
    t.add_argument("--width", type=int, default=RefinerConfig().width,
                   help="channels at full resolution (ignored with --init, which brings its own)")
    args = parser.parse_args(argv)
    if args.command == "cache":
        build_cache(args.out, scenes=args.scenes, size=args.size, seed_start=args.seed_start, workers=args.workers)
        return 0
    init = RefineNet.load(args.init) if args.init else None
    _, report = train(args.cache, args.out, config=RefinerConfig(width=args.width), batch=args.batch,
                      crop=args.crop, lr=args.lr, steps=args.steps,
                      seconds=args.seconds, init=init, miss_weight=args.miss_weight, seed=args.seed,
                      loss=args.loss)
    print(json.dumps({k: v for k, v in report.items() if k != "history"}))
    return 0


if __name__ == "__main__":
    keep_freed_memory()
    raise SystemExit(main())
