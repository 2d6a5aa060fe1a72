"""The ground-truth benchmark: every renderer on a fixed, seeded public test set, BokehMe Table 1 style.

The test set is ``BenchmarkConfig.scenes`` scenes of the "test" split (textures, outline families and
seed stream disjoint from training data), each traced at K = ``strengths_px`` x focus planes at the
``focus_quantiles`` of the scene's own disparity (0.1 = far: the hard case of focusing on the background
behind a blurry foreground; 0.9 = near). Every renderer gets the display-encoded all-in-focus image, the
true disparity, K, d_f and γ, and is scored against the ray-traced display image: PSNR, SSIM, and PSNR
inside and outside the discontinuity band (``metrics.discontinuity_band``). The traced test set is cached
on disk, keyed by its config.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidParameterError
from ..io.images import atomic_write_bytes
from ..synth import make_scene, trace_all_in_focus, trace_defocus
from ..types import Aperture
from .lpips import MIN_SIDE_PX, lpips_distance
from .metrics import discontinuity_band, masked_psnr, psnr, ssim

__all__ = ["BenchmarkConfig", "Case", "benchmark_cases", "run_benchmark", "classical_renderers", "summarise",
           "markdown_table", "plot_psnr", "neural_renderers",
           "with_degraded_disparity"]

# renderer(image (H, W, 3) display, disparity (H, W), strength_px, focus_disparity, gamma, aperture) -> image
Renderer = Callable[[np.ndarray, np.ndarray, float, float, float, Aperture], np.ndarray]


@dataclass(frozen=True)
class BenchmarkConfig:
    """The public test set. Change nothing here without renaming the table it feeds."""

    size: int = 256
    scenes: int = 6
    strengths_px: tuple[float, ...] = (10.0, 20.0, 30.0, 40.0, 50.0)
    focus_quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    gamma: float = 2.2
    blades: int | None = None
    seed_start: int = 0
    cell_px: float = 1.0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True, eq=False)
class Case:
    seed: int
    strength_px: float
    focus_disparity: float
    focus_quantile: float
    image: np.ndarray      # (H, W, 3) display all-in-focus
    disparity: np.ndarray  # (H, W)
    target: np.ndarray     # (H, W, 3) display ray-traced bokeh


def benchmark_cases(config: BenchmarkConfig, cache_dir: str | Path | None = None, progress=None) -> list[Case]:
    """Trace (or load from ``cache_dir``) every case of the test set."""
    path = Path(cache_dir) / f"testset-{config.key()}.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        with np.load(path) as d:
            return [Case(int(d["seed"][i]), float(d["strength_px"][i]), float(d["focus_disparity"][i]),
                         float(d["focus_quantile"][i]), d["image"][i], d["disparity"][i], d["target"][i])
                    for i in range(len(d["seed"]))]
    aperture = Aperture(blades=config.blades)
    margin = int(math.ceil(max(config.strengths_px))) + 2
    cases = []
    for seed in range(config.seed_start, config.seed_start + config.scenes):
        scene = make_scene(seed, "test", config.size, config.size, margin=margin)
        base = trace_all_in_focus(scene, (config.gamma,))
        image = base.all_in_focus(config.gamma)
        for q in config.focus_quantiles:
            focus = float(np.quantile(base.disparity, q))
            for k in config.strengths_px:
                gt = trace_defocus(scene, strength_px=k, focus_disparity=focus, aperture=aperture,
                                   gammas=(config.gamma,), cell_px=config.cell_px)
                cases.append(Case(seed, k, focus, q, image, base.disparity, gt.image(config.gamma)))
                if progress is not None:
                    progress(1)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **{name: np.stack([getattr(c, name) for c in cases]) for name in
                            ("seed", "strength_px", "focus_disparity", "focus_quantile", "image", "disparity",
                             "target")})
        atomic_write_bytes(path, buffer.getvalue())
    return cases


def classical_renderers() -> dict[str, Renderer]:
    """The renderers that need no weights: the identity baseline and the classical scatter."""
    import torch

    from ..render.classical.scatter import scatter_encoded

    def identity(image, disparity, strength, focus, gamma, aperture):
        return image

    def scatter(image, disparity, strength, focus, gamma, aperture):
        img = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        coc = torch.from_numpy((strength * (disparity - focus)).astype(np.float32))[None, None]
        out = scatter_encoded(img, coc, aperture=aperture, gamma=gamma).image
        return out[0].permute(1, 2, 0).numpy()

    return {"identity": identity, "scatter": scatter}


def neural_renderers(weights=None, options=None) -> dict[str, Renderer]:
    """BokehMe's neural renderer alone and the hybrid (default: the shipped weights; ``options`` a
    ``HybridOptions``). Both get the benchmark's display image and γ exactly as BokehMe does."""
    import torch

    from ..render.hybrid import HybridOptions, default_nets, load_nets, render_display

    nets = default_nets() if weights is None else load_nets(weights)
    options = options or HybridOptions()

    def make(part):
        def renderer(image, disparity, strength, focus, gamma, aperture):
            img = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
            coc = torch.from_numpy((strength * (disparity - focus)).astype(np.float32))[None, None]
            parts = render_display(img, coc, gamma_bokehme=gamma, aperture=aperture, nets=nets, options=options)
            return getattr(parts, part)[0].permute(1, 2, 0).numpy()

        return renderer

    return {"neural": make("neural"), "hybrid": make("fused")}


def with_degraded_disparity(renderers: dict[str, Renderer], kind: str, size: int) -> dict[str, Renderer]:
    """The same renderers fed a degraded disparity map (``depth.degrade_disparity``: blur, dilate or erode with
    a ``size`` px kernel); the ground truth is unchanged. BokehMe's robustness test (Fig. 11)."""
    from ..depth.degrade import degrade_disparity

    def wrap(renderer: Renderer) -> Renderer:
        def degraded(image, disparity, strength, focus, gamma, aperture):
            return renderer(image, degrade_disparity(disparity, kind, size), strength, focus, gamma, aperture)

        return degraded

    return {name: wrap(r) for name, r in renderers.items()}


def run_benchmark(config: BenchmarkConfig, renderers: dict[str, Renderer], *, cache_dir=None,
                  progress=None, lpips_model=None, only_strengths: tuple[float, ...] | None = None) -> dict:
    """Score every renderer on every case; returns ``{"config", "meta", "rows"}`` (one row per case).

    ``lpips_model`` (``evaluation.lpips.load_lpips()``) adds an LPIPS column; without it, or for test sets
    smaller than LPIPS's 32 px minimum, the rows hold nan. ``only_strengths`` scores only the cases at those
    K (the test set is still the whole config's, so its cache is shared).
    """
    if not renderers:
        raise InvalidParameterError("renderers must name at least one renderer to score")
    cases = benchmark_cases(config, cache_dir, progress)
    if only_strengths is not None:
        cases = [c for c in cases if c.strength_px in only_strengths]
        if not cases:
            raise InvalidParameterError(f"only_strengths={only_strengths} matches none of the test set's K "
                                        f"{config.strengths_px}")
    aperture = Aperture(blades=config.blades)
    if config.size < MIN_SIDE_PX:
        lpips_model = None
    rows = []
    for name, renderer in renderers.items():
        renderer(cases[0].image, cases[0].disparity, cases[0].strength_px, cases[0].focus_disparity,
                 config.gamma, aperture)  # warm-up (JIT compilation) outside the timings
        for case in cases:
            start = time.perf_counter()
            out = np.clip(renderer(case.image, case.disparity, case.strength_px, case.focus_disparity,
                                   config.gamma, aperture), 0.0, 1.0)
            seconds = time.perf_counter() - start
            band = discontinuity_band(case.strength_px * (case.disparity - case.focus_disparity))
            rows.append({
                "renderer": name, "seed": case.seed, "strength_px": case.strength_px,
                "focus_quantile": case.focus_quantile, "focus_disparity": round(case.focus_disparity, 4),
                "psnr": psnr(out, case.target), "ssim": ssim(out, case.target),
                "psnr_band": masked_psnr(out, case.target, band), "psnr_rest": masked_psnr(out, case.target, ~band),
                "band_fraction": float(band.mean()), "seconds": seconds,
                "lpips": lpips_distance(lpips_model, out, case.target) if lpips_model is not None else math.nan,
            })
    meta = {"machine": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cases": len(cases)}
    return {"config": asdict(config), "meta": meta, "rows": rows}


def summarise(result: dict) -> list[dict]:
    """Mean of every metric per (renderer, K) over scenes and focus planes; median time."""
    groups: dict[tuple, list[dict]] = {}
    for row in result["rows"]:
        groups.setdefault((row["renderer"], row["strength_px"]), []).append(row)
    summary = []
    for (name, k), rows in groups.items():
        def mean(key, rows=rows):
            values = [r[key] for r in rows if math.isfinite(r[key])]
            return float(np.mean(values)) if values else math.nan

        summary.append({"renderer": name, "strength_px": k, "psnr": mean("psnr"), "ssim": mean("ssim"),
                        "lpips": mean("lpips"),
                        "psnr_band": mean("psnr_band"), "psnr_rest": mean("psnr_rest"),
                        "seconds": float(np.median([r["seconds"] for r in rows])), "cases": len(rows)})
    return summary


def markdown_table(result: dict) -> str:
    """BokehMe Table 1 layout: one row per renderer and K; PSNR (dB) overall / band / rest, SSIM, time."""
    lines = ["| renderer | K | PSNR | PSNR band | PSNR rest | SSIM | LPIPS | time (median) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summarise(result):
        lpips = "–" if math.isnan(s["lpips"]) else f"{s['lpips']:.4f}"
        lines.append(f"| {s['renderer']} | {s['strength_px']:g} | {s['psnr']:.2f} | {s['psnr_band']:.2f} | "
                     f"{s['psnr_rest']:.2f} | {s['ssim']:.4f} | {lpips} | {s['seconds'] * 1000:.0f} ms |")
    return "\n".join(lines)


def plot_psnr(result: dict, path: str | Path) -> Path:
    """PSNR vs K per renderer, as a PNG (needs matplotlib: ``pip install 'lensblur[eval]'``)."""
    from .._optional import require

    matplotlib = require("matplotlib", extra="eval", feature="the benchmark plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    summary = summarise(result)
    for name in dict.fromkeys(s["renderer"] for s in summary):
        points = sorted((s["strength_px"], s["psnr"]) for s in summary if s["renderer"] == name)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xlabel("blur strength K (px)")
    ax.set_ylabel("PSNR vs ray-traced ground truth (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
