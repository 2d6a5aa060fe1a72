"""Parameters, FLOPs and CPU latency of the learned renderers at 1024x1536 (MPFN Table VII's setting).

The bundled Motorcycle photo resized to 1024 x 1536 (H x W, EBB!'s landscape size), display-encoded. Each
model runs its inference protocol with random weights (runtime does not depend on the values): MPFN on the
whole frame, depth-aware blending at its training size 768 x 1024 and back (the paper's protocol) and, for
reference, at the native size, PyNET-bokeh on the half-size photo plus its disparity (level 1 gives the full
size back), Glass-Net at 1024 rows (here the native size). FLOPs are counted by ``torch.utils.flop_counter`` (2 per multiply-add, convs
and matmuls only: MPFN's predictive filters, 2·k² FLOPs per pixel and channel per level, are counted
separately and added). Latency: median (IQR) of ``--repeats`` runs after a warm-up; the ratio column is
against lensblur's classical scatter (max blur radius 25 px) on the same image in the same run.

    .venv/bin/python benchmarks/bench_learned.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform

import torch
from bench_scatter import _scene, _time
from torch.utils.flop_counter import FlopCounterMode

import lensblur as lb
from lensblur.io.images import linear_to_srgb
from lensblur.models.bggan import GlassNet, glassnet_render
from lensblur.models.depth_blend import DepthAwareBlend, DepthBlendConfig, depth_blend_render
from lensblur.models.mpfn import MPFN, mpfn_render
from lensblur.models.pynet import PyNETBokeh, pynet_render

HEIGHT, WIDTH = 1024, 1536


def _flops(fn) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def _filter_flops(model: MPFN, height: int, width: int) -> float:
    return sum(2 * k * k * 3 * (height >> i) * (width >> i) for i, k in enumerate(model.config.kernel_sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    linear, disparity, focus = _scene(HEIGHT, WIDTH)
    image = linear_to_srgb(linear).to(args.device)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else (platform.processor() or platform.machine())
    print(f"# learned renderers at {HEIGHT}x{WIDTH}, {name}, {os.cpu_count()} cores, {torch.get_num_threads()} "
          f"torch threads, torch {torch.__version__}; median (IQR) of {args.repeats} runs\n")

    coc = (25 / float((disparity - focus).abs().max())) * (disparity - focus)
    scene = lb.Scene(linear, None)
    reference, _ = _time(lambda: lb.render(scene, coc_px=coc, renderer="scatter"), args.repeats)

    mpfn = MPFN().eval().to(args.device)
    blend = DepthAwareBlend().eval().to(args.device)
    native = DepthAwareBlend(DepthBlendConfig(inference_size=None)).eval().to(args.device)
    native.load_state_dict(blend.state_dict())
    pynet = PyNETBokeh().eval().to(args.device)
    glass = GlassNet().eval().to(args.device)
    depth = disparity.to(args.device)
    rows = [
        ("MPFN (levels 3, k 9/11/13)", mpfn, lambda: mpfn_render(mpfn, image),
         _flops(lambda: mpfn_render(mpfn, image)) + _filter_flops(mpfn, HEIGHT, WIDTH)),
        ("depth-aware blending, paper protocol (768x1024)", blend, lambda: depth_blend_render(blend, image),
         _flops(lambda: depth_blend_render(blend, image))),
        ("depth-aware blending, native 1024x1536", native, lambda: depth_blend_render(native, image),
         _flops(lambda: depth_blend_render(native, image))),
        ("PyNET-bokeh (half-size RGB + depth in, level 1 out)", pynet, lambda: pynet_render(pynet, image, depth),
         _flops(lambda: pynet_render(pynet, image, depth))),
        ("BGGAN's Glass-Net (1024 rows, the paper's protocol)", glass, lambda: glassnet_render(glass, image),
         _flops(lambda: glassnet_render(glass, image))),
    ]
    print("| model | parameters | GFLOPs | CPU latency | / classical scatter |")
    print("|---|---:|---:|---|---:|")
    print(f"| classical scatter, max radius 25 px (reference) | – | – | {reference:.2f} s | 1.0x |", flush=True)
    for label, model, fn, flops in rows:
        params = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            median, iqr = _time(fn, args.repeats)
        print(f"| {label} | {params:,} | {flops / 1e9:,.0f} | {median:.2f} s ({iqr:.2f}) | {median / reference:.1f}x |",
              flush=True)


if __name__ == "__main__":
    main()
