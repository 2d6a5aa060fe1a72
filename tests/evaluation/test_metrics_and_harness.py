"""Metrics against known values, the discontinuity band, and the benchmark harness on a tiny test set."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lensblur.cli import main
from lensblur.evaluation import discontinuity_band, masked_psnr, psnr, ssim
from lensblur.evaluation.harness import BenchmarkConfig, benchmark_cases, classical_renderers, run_benchmark, summarise
from lensblur.evaluation.protocols import blb_disparity, blb_display, focus_from_box


def test_psnr_known_values():
    a = np.zeros((4, 4, 3))
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf
    mask = np.zeros((4, 4), bool)
    mask[0] = True
    b = a.copy()
    b[1:] = 1.0
    assert masked_psnr(a, b, mask) == math.inf and math.isnan(masked_psnr(a, b, np.zeros((4, 4), bool)))


def test_ssim_properties():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (32, 32, 3))
    assert ssim(a, a) == pytest.approx(1.0)
    noisy = [ssim(a, np.clip(a + rng.normal(0, s, a.shape), 0, 1)) for s in (0.02, 0.1, 0.3)]
    assert noisy[0] > noisy[1] > noisy[2]
    with pytest.raises(ValueError, match="at least 11 x 11"):
        ssim(a[:8, :8], a[:8, :8])


def test_ssim_known_values_pin_its_constants_and_window():
    # two flat images: only the luminance term is left, (2·0.2·0.5 + C1) / (0.2² + 0.5² + C1), C1 = 0.01²
    assert ssim(np.full((16, 16), 0.2), np.full((16, 16), 0.5)) == pytest.approx((0.2 + 1e-4) / (0.29 + 1e-4),
                                                                                   rel=1e-12)
    # and structure: scikit-image's SSIM with the reference settings (Gaussian σ 1.5, 11 px window, C2 = 0.03²,
    # population covariance), an independent implementation
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (40, 48, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    expected = metrics.structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=1.0)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-9)


def test_discontinuity_band_is_the_larger_radius_around_a_depth_step():
    coc = np.zeros((40, 40))
    coc[:, 20:] = 6.0  # a step between r = 0 and r = 6 at the column boundary 19|20
    band = discontinuity_band(coc)
    row = band[20]
    assert row[20 - 7:20 + 7].all() and not row[:11].any() and not row[29:].any()
    slope = np.tile(np.linspace(0, 10, 40), (40, 1))  # a slanted plane: no discontinuity
    assert not discontinuity_band(slope).any()


def test_blb_protocol_helpers():
    np.testing.assert_allclose(blb_display(np.array([[[-1.0, 0.25, 4.0]]])), [[[0.0, 0.25 ** (1 / 2.2), 1.0]]])
    disparity = blb_disparity(np.array([[1.0, 2.0], [4.0, 65504.0]]))
    np.testing.assert_allclose(disparity, [[1.0, 0.5], [0.25, 0.0]])
    assert focus_from_box(np.arange(16.0).reshape(4, 4), (1, 1, 3, 3)) == pytest.approx(7.5)


TINY = BenchmarkConfig(size=24, scenes=1, strengths_px=(3.0, 6.0), focus_quantiles=(0.1, 0.9))


def test_harness_scores_identity_below_the_scatter_and_caches_the_test_set(tmp_path):
    result = run_benchmark(TINY, classical_renderers(), cache_dir=tmp_path)
    assert len(result["rows"]) == 2 * 2 * 2
    by = {(s["renderer"], s["strength_px"]): s for s in summarise(result)}
    for k in (3.0, 6.0):
        assert by[("scatter", k)]["psnr"] > by[("identity", k)]["psnr"]
    assert by[("identity", 6.0)]["psnr"] < by[("identity", 3.0)]["psnr"]  # more blur, farther from the input
    cached = benchmark_cases(TINY, tmp_path)
    fresh = benchmark_cases(TINY, None)
    np.testing.assert_array_equal(cached[3].target, fresh[3].target)
    assert len(list(tmp_path.glob("testset-*.npz"))) == 1


def test_cli_eval_writes_table_json_and_rejects_unknown_renderers(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LENSBLUR_CACHE", str(tmp_path / "no-weights"))
    out = tmp_path / "eval"
    assert main(["eval", "--size", "24", "--scenes", "1", "--blur", "4", "--out", str(out), "--cache",
                 str(tmp_path / "cache"), "--quiet"]) == 0
    assert "| scatter | 4 |" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["config"]["size"] == 24
    assert (out / "psnr_vs_K.png").exists()
    assert main(["eval", "--renderers", "scater", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'scatter'" in err and "no LPIPS column" in err
