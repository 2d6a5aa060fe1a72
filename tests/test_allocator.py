"""The opt-in allocator setting of lensblur's own processes, and how training reports name the hardware."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lensblur.training._device import device_name


def test_device_name_names_the_cpu():
    import torch

    assert device_name(torch.device("cpu")).startswith("cpu: ") and torch.__version__ in device_name(torch.device("cpu"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_stops_large_tensors_costing_fresh_pages():
    """With the setting, freeing and re-allocating a 64 MB tensor reuses the same pages: no new page faults
    (minor faults counted by the kernel), where glibc's default unmaps and faults them in again."""
    code = """
import resource, sys, torch
from lensblur._allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(3):
    torch.ones(16 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.ones(16 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    faults = {mode: int(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "keep")}
    assert faults["default"] > 20 * 16_000 * 0.5   # ~16k 4-KiB pages per 64 MB tensor, every time
    assert faults["keep"] < 1_000


def test_the_lensblur_program_tunes_the_allocator_only_for_network_commands(monkeypatch):
    """``lensblur render --refine-depth`` (or a hybrid/neural render) keeps freed memory; a plain scatter
    render, the learned refiner's guided alternative and ``main()`` called in-process leave it alone."""
    import lensblur._allocator
    import lensblur.cli as cli

    calls = []
    monkeypatch.setattr(lensblur._allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(cli, "_run", lambda args: 0)
    cases = {("render", "p.jpg", "-o", "o.jpg", "--refine-depth"): 1,
             ("render", "p.jpg", "-o", "o.jpg", "--renderer", "hybrid"): 1,
             ("depth", "p.jpg", "-o", "d.png", "--refine-depth"): 1,
             ("render", "p.jpg", "-o", "o.jpg"): 0,
             ("render", "p.jpg", "-o", "o.jpg", "--refine-depth", "--refine-method", "guided"): 0}
    for argv, expected in cases.items():
        calls.clear()
        monkeypatch.setattr(sys, "argv", ["lensblur", *argv])
        assert cli.command() == 0
        assert len(calls) == expected, argv
    calls.clear()
    assert cli.main(["render", "p.jpg", "-o", "o.jpg", "--refine-depth"]) == 0 and not calls
