"""Coverage-guided fuzz (atheris / libFuzzer) of the readers of depth stored inside photos.

Each input is written to a file and read as a photo with embedded depth: GDepth and Dynamic Depth in JPEG
XMP (``read_embedded_depth``), the HEIC path (``read_embedded_matte``) and the whole scene loader. A reader
may return a depth map, return None, or raise one of lensblur's errors; anything else (a bare ValueError,
KeyError, zlib.error, a MemoryError, a hang) is a crash that libFuzzer reports with the input that caused
it. Run by ``tests/test_fuzz_embedded.py`` (slow tier) for a bounded time from a seed corpus of valid
files; by hand:

    .venv/bin/python tests/fuzz/fuzz_embedded.py CORPUS_DIR -max_total_time=60 -rss_limit_mb=3072
"""

import os
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["lensblur"]):
    from lensblur.errors import FileFormatError, InputError, InvalidParameterError, MissingDependencyError
    from lensblur.io.embedded import read_embedded_depth, read_embedded_matte
    from lensblur.io.scene import load_scene

ALLOWED = (FileFormatError, InputError, InvalidParameterError, MissingDependencyError)
_PATH = Path(tempfile.mkdtemp(prefix="lensblur-fuzz-")) / "photo.jpg"


def one_input(data: bytes) -> None:
    _PATH.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for read in (read_embedded_depth, read_embedded_matte, load_scene):
            try:
                read(_PATH)
            except ALLOWED:
                pass


if __name__ == "__main__":
    os.environ.setdefault("LENSBLUR_MAX_PIXELS", "4000000")   # keep each decode small: the fuzz runs thousands
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
