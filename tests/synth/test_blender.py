"""The tracer against Blender Cycles (slow; needs a bpy venv at .venv-blender, skipped otherwise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lensblur.evaluation import psnr
from lensblur.synth import make_scene, trace_defocus
from lensblur.synth.blender import cycles_camera, render_with_cycles
from lensblur.types import Aperture

BLENDER_PYTHON = Path(__file__).resolve().parents[2] / ".venv-blender" / "bin" / "python"


def test_camera_translation_follows_cycles_fixed_sensor_convention():
    scene = make_scene(0, "test", 64, 64, margin=8, slanted=False)
    cam = cycles_camera(scene, strength_px=12.0, focus_disparity=0.5, near_far_m=(1.0, 10.0))
    # r = (f^2 / 2N) * (W / sensor) * |1/z - 1/S| in px, with f and the sensor in mm and z, S in mm
    f, n, w, sw = cam["focal_length_mm"], cam["f_number"], 64, cam["sensor_width_mm"]
    for layer, z in zip(scene.layers, cam["depths_m"], strict=True):
        r = f * f / (2 * n) * w / sw * abs(1 / (z * 1000) - 1 / (cam["focus_distance_m"] * 1000))
        assert r == pytest.approx(12.0 * abs(layer.plane[0] - 0.5), rel=1e-9)
    with pytest.raises(ValueError, match="fronto-parallel"):
        cycles_camera(_slanted(), strength_px=1, focus_disparity=0)


def _slanted():
    from lensblur.synth import Layer, LayeredScene

    rgba = np.ones((20, 20, 4), np.float32)
    return LayeredScene((Layer(rgba, (0.5, 0.01, 0.0), "slanted"),), 16, 16, 2, 0, "test")


@pytest.mark.slow
@pytest.mark.skipif(not BLENDER_PYTHON.exists(), reason="no bpy venv at .venv-blender")
def test_tracer_matches_cycles_within_35_db():
    scene = make_scene(101, "test", 64, 64, margin=14, slanted=False)
    ours = trace_defocus(scene, strength_px=10.0, focus_disparity=0.05, gammas=(2.2,)).image(2.2)
    cycles = render_with_cycles(scene, strength_px=10.0, focus_disparity=0.05, aperture=Aperture(),
                                samples=1024, python=BLENDER_PYTHON)
    assert psnr(ours, np.clip(np.maximum(cycles, 0) ** (1 / 2.2), 0, 1)) >= 35.0
