"""The coverage-guided fuzz of the embedded-depth readers (tests/fuzz/fuzz_embedded.py), run for a bounded
time in the slow tier from a seed corpus of valid GDepth, Dynamic Depth, plain JPEG and HEIC files."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from embedded_builders import _dynamic_depth_jpeg, _gdepth_jpeg, _jpeg

pytest.importorskip("atheris")

FUZZ_SECONDS = int(os.environ.get("LENSBLUR_FUZZ_SECONDS", "90"))


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
    run = subprocess.run([sys.executable, str(harness), str(corpus), f"-max_total_time={FUZZ_SECONDS}",
                          "-rss_limit_mb=3072", "-timeout=20", "-seed=1", f"-artifact_prefix={tmp_path}/"],
                         capture_output=True, text=True, timeout=FUZZ_SECONDS + 240,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    tail = run.stderr[-3000:]
    assert run.returncode == 0, tail
    done = re.findall(r"Done (\d+) runs in (\d+) second", run.stderr)
    assert done and int(done[-1][0]) > 100, tail      # it really ran
