"""Cross-check the tracer against Blender Cycles: write a scene spec, run bpy in its own venv, read back.

bpy is never imported here: ``cycles_scene.py`` runs as a subprocess under the interpreter of a venv
that holds the PyPI ``bpy`` wheel (it pins numpy<2). The camera is matched to BokehMe's
parametrisation through Cycles' lens convention: the sensor sits at distance f (no focus breathing),
so a point at depth z has the blur-disc diameter ``c = (f/N)·f·|z − S| / (z·S)`` on the sensor. With the
disparity d = 1/z in 1/m, the radius in pixels is ``r = K_m·(d − 1/S)`` with
``K_m = f²/(2N) · W_px/sensor_width / 1000`` (f and the sensor width in mm). A scene's normalised
disparities map to metric ones by ``d_m = near_far[1]⁻¹ + d·(near_far[0]⁻¹ − near_far[1]⁻¹)``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ...errors import InvalidParameterError, MissingDependencyError
from ...types import CIRCLE, Aperture
from ..scenes import LayeredScene

__all__ = ["cycles_camera", "render_with_cycles"]

SCRIPT = Path(__file__).with_name("cycles_scene.py")


def cycles_camera(scene: LayeredScene, *, strength_px: float, focus_disparity: float,
                  near_far_m: tuple[float, float] = (1.0, 10.0), focal_length_mm: float = 50.0,
                  sensor_width_mm: float = 36.0) -> dict:
    """Translate (K, d_f) on the scene's normalised disparity into a Cycles camera and layer depths."""
    if any(layer.plane[1] or layer.plane[2] for layer in scene.layers):
        raise InvalidParameterError(
            "the Cycles cross-check maps textures on fronto-parallel planes only; build the scene with "
            "make_scene(..., slanted=False)")
    near, far = near_far_m
    span = 1.0 / near - 1.0 / far  # metric disparity (1/m) per unit of normalised disparity
    k_metric = strength_px / span  # px per (1/m)
    f_number = focal_length_mm ** 2 / 2.0 * scene.width / sensor_width_mm / 1000.0 / k_metric
    focus_m = 1.0 / (1.0 / far + focus_disparity * span)
    depths = [1.0 / (1.0 / far + layer.plane[0] * span) for layer in scene.layers]
    return dict(focal_length_mm=focal_length_mm, sensor_width_mm=sensor_width_mm, f_number=f_number,
                        focus_distance_m=focus_m, depths_m=depths)


def render_with_cycles(scene: LayeredScene, *, strength_px: float, focus_disparity: float,
                       aperture: Aperture = CIRCLE, gamma: float = 2.2, samples: int = 1024,
                       python: str | Path = ".venv-blender/bin/python", timeout_s: float = 1800.0,
                       workdir: str | Path | None = None) -> np.ndarray:
    """Render ``scene`` with Cycles; returns the linear image ``(H, W, 3)``, comparable to Σ α·D^γ.

    Args:
        python: the interpreter of a venv with ``pip install bpy`` (Python 3.11).
        samples: Cycles samples per pixel (the noise falls as 1/sqrt(samples)).
    """
    if aperture.kernel is not None or aperture.roundness not in (0.0,):
        raise InvalidParameterError("Cycles supports circles and straight blades only; got a kernel or roundness")
    python = Path(python)
    if not python.exists():
        raise MissingDependencyError(
            f"no Blender Python at {python}: create one with `python3.11 -m venv .venv-blender && "
            ".venv-blender/bin/pip install bpy` (about 820 MB), or pass python=PATH")
    camera = cycles_camera(scene, strength_px=strength_px, focus_disparity=focus_disparity)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder = Path(tmp)
        layers = []
        for i, (layer, depth) in enumerate(zip(scene.layers, camera["depths_m"], strict=True)):
            rgba = layer.rgba.copy()
            rgba[..., :3] = np.maximum(rgba[..., :3], 0.0) ** gamma  # the emission is linear light
            np.save(folder / f"layer{i}.npy", rgba)
            layers.append({"texture": f"layer{i}.npy", "depth_m": depth})
        spec = {
            "width": scene.width, "height": scene.height, "margin": scene.margin, "samples": int(samples),
            "focal_length_mm": camera["focal_length_mm"], "sensor_width_mm": camera["sensor_width_mm"],
            "f_number": camera["f_number"], "focus_distance_m": camera["focus_distance_m"],
            "blades": int(aperture.blades or 0), "rotation_deg": float(aperture.rotation_deg), "layers": layers,
        }
        (folder / "spec.json").write_text(json.dumps(spec, indent=1))
        run = subprocess.run([str(python), str(SCRIPT), str(folder / "spec.json")], capture_output=True, text=True,
                             timeout=timeout_s)
        if run.returncode != 0 or not (folder / "cycles.npy").exists():
            raise RuntimeError(f"Blender failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
        return np.load(folder / "cycles.npy")

