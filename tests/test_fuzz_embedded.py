"""The coverage-guided fuzz of the embedded-depth readers (tests/fuzz/fuzz_embedded.py), run for a fixed
number of inputs (libFuzzer seed 1, PYTHONHASHSEED 0: the same inputs on every run) in the slow tier, from a
seed corpus of valid GDepth, Dynamic Depth, plain JPEG and HEIC files. Longer runs by hand find more: see
docs/bad_input.md."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from embedded_builders import _dynamic_depth_jpeg, _gdepth_jpeg, _jpeg

pytest.importorskip("atheris")

FUZZ_RUNS = int(os.environ.get("LENSBLUR_FUZZ_RUNS", "120000"))   # ~70 s here; a fixed count keeps CI repeatable


def _corpus(folder: Path) -> None:
    folder.mkdir()
    ramp = np.linspace(0.2, 1.0, 8 * 12).reshape(8, 12)
    seeds = {"gdepth.jpg": _gdepth_jpeg(ramp, chunk=200), "dynamic.jpg": _dynamic_depth_jpeg(ramp),
             "plain.jpg": _jpeg(), "gdepth_linear.jpg": _gdepth_jpeg(ramp, fmt="RangeLinear", chunk=5000)}
    try:
        import pillow_heif
        from PIL import Image

        pillow_heif.register_heif_opener()
        heic = folder / "photo.heic"
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(heic, format="HEIF")
    except Exception:  # noqa: BLE001 - no HEIC encoder here: the JPEG seeds still run
        pass
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


@pytest.mark.slow
def test_embedded_depth_readers_survive_a_coverage_guided_fuzz(tmp_path):
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    harness = Path(__file__).parent / "fuzz" / "fuzz_embedded.py"
    run = subprocess.run([sys.executable, str(harness), str(corpus), f"-runs={FUZZ_RUNS}",
                          "-rss_limit_mb=3072", "-timeout=20", "-seed=1", f"-artifact_prefix={tmp_path}/"],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "PYTHONHASHSEED": "0"})
    tail = run.stderr[-3000:]
    assert run.returncode == 0, tail
    done = re.findall(r"Done (\d+) runs in (\d+) second", run.stderr)
    assert done and int(done[-1][0]) == FUZZ_RUNS, tail      # it really ran, all of it
