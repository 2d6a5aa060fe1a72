"""HDR scenes for highlight reconstruction: each kind holds what its name promises."""

import numpy as np
import pytest

from lensblur.synth import HDR_KINDS, make_hdr_scene, make_scene, trace_all_in_focus
from lensblur.synth.hdr import GAMMA


def _radiance(kind: str, seed: int = 1) -> np.ndarray:
    scene = make_hdr_scene(seed, kind, "test", 64, 64, margin=8)
    return trace_all_in_focus(scene, (GAMMA,)).all_in_focus_linear[0]


def test_without_highlights_a_scene_is_the_same_scene_less_its_highlights():
    with_them = make_scene(4, "test", 48, 48, margin=6)
    without = make_scene(4, "test", 48, 48, margin=6, highlights=False)
    assert [layer.plane for layer in with_them.layers] == [layer.plane for layer in without.layers]
    assert max(float(layer.rgba[..., :3].max()) for layer in without.layers) <= 1.0
    assert max(float(layer.rgba[..., :3].max()) for layer in with_them.layers) > 1.0
    np.testing.assert_array_equal(with_them.layers[-1].rgba[..., 3], without.layers[-1].rgba[..., 3])


def test_light_kinds_hold_lights_brighter_than_white_and_the_traps_hold_what_they_claim():
    for kind in ("street", "coloured", "lamps"):
        assert _radiance(kind).max() > 2.0, kind
    surface = _radiance("bright-surface")
    assert 0.5 < surface.max() < 0.96  # bright, never clipped
    sky = _radiance("sky")
    assert (sky.max(-1) > 1.1).sum() > 64 * 10  # a large area above white...
    assert sky.max() < 3.01  # ...of modest brightness
    blown = _radiance("blown-surface")
    assert 1.05 < blown.max() < 1.61 and (blown.max(-1) > 1.0).sum() > 20  # texture barely over white
    np.testing.assert_allclose(blown / blown.max(), surface / surface.max(), atol=1e-5)  # the same scene, brighter


def test_kinds_are_deterministic_and_checked():
    np.testing.assert_array_equal(make_hdr_scene(2, "street", height=32, width=32, margin=4).layers[0].rgba,
                                  make_hdr_scene(2, "street", height=32, width=32, margin=4).layers[0].rgba)
    with pytest.raises(ValueError, match="kind must be one of"):
        make_hdr_scene(0, "nightclub")
    assert len(HDR_KINDS) == 8
