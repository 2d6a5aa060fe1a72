"""The weights shipped in the package: they load with their model card, and on held-out ray-traced scenes the
hybrid renderer is never worse than the classical scatter it starts from."""

import numpy as np
import pytest

from lensblur.evaluation.harness import BenchmarkConfig, classical_renderers, neural_renderers, run_benchmark
from lensblur.render.hybrid import DEFAULT_WEIGHTS, default_nets


def test_shipped_weights_load_with_a_model_card():
    nets = default_nets()
    assert DEFAULT_WEIGHTS.stat().st_size < 8_000_000
    assert "training" in nets.metadata
    assert (DEFAULT_WEIGHTS.parent / "MODEL_CARD.md").exists()


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    # 2 test-split scenes (never trained on) at 128 px, the hard case: focus on the far side behind blurry edges
    config = BenchmarkConfig(size=128, scenes=2, strengths_px=(12.0, 24.0), focus_quantiles=(0.1, 0.5), seed_start=40)
    renderers = {"scatter": classical_renderers()["scatter"], **neural_renderers()}
    result = run_benchmark(config, renderers, cache_dir=tmp_path_factory.mktemp("cases"))
    return {name: {key: float(np.mean([r[key] for r in result["rows"] if r["renderer"] == name]))
                   for key in ("psnr", "psnr_band")} for name in renderers}


def test_hybrid_is_not_worse_than_the_classical_scatter(scores):
    """The error map must keep the scatter wherever the neural result is not better."""
    assert scores["hybrid"]["psnr"] > scores["scatter"]["psnr"] - 0.05
    assert scores["hybrid"]["psnr_band"] > scores["scatter"]["psnr_band"] - 0.05


def test_neural_renderer_alone_is_a_usable_renderer(scores):
    assert scores["neural"]["psnr"] > scores["scatter"]["psnr"] - 3.0


@pytest.mark.xfail(strict=True, reason="issue #4 is open: the CPU-trained weights do not yet beat the scatter by the "
                                       "margins BokehMe reports; see lensblur/models/weights/MODEL_CARD.md")
def test_hybrid_beats_the_classical_scatter(scores):
    assert scores["hybrid"]["psnr"] > scores["scatter"]["psnr"] + 0.3
    assert scores["hybrid"]["psnr_band"] > scores["scatter"]["psnr_band"] + 0.5
