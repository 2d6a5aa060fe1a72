"""How much memory a render needs, measured, and the refusal when it would not fit.

Peak resident memory of ``lensblur render`` (read, depth, render, highlights, write) on this project's
machine, fitted as a process base plus bytes per pixel (``benchmarks``-style measurement with
``/usr/bin/time -f %M`` on 1.5, 6 and 12 MP photos at blur radius 25; the blur radius does not change the
scatter's memory, and radii are clamped to the image diagonal; the hybrid's process keeps freed memory for
its networks, ``lensblur._allocator``, which the others do not):

| renderer | base (MB) | bytes per pixel | measured 1.5 / 6 / 12 MP (MB) |
|---|---:|---:|---|
| scatter | 680 | 72 | 781 / 1041 / 1538 |
| layered | 920 | 85 | - / 1368 / 1841 (24 MP: 2889) |
| hybrid, neural | 1070 | 190 | 1350 / 2188 / - |

The layered row (2026-12-07, ``benchmarks/bench_memory.py --renderers layered --sizes 6 12 24``, the process's
own VmHWM) is the Middlebury Motorcycle resized to 3000x2000, 4256x2832 and 6000x4000 with its disparity (depth
jumps over a third of the frame): a line through the 6 and 24 MP peaks is 861 MB + 84.5 B/px, and the model
adds about 60 MB (1.04-1.06x the measured peaks). Its strips hold about 8 MP each whatever the photo's size
(with 4 MP strips: 1193 / 1685 / 2702 MB, but 24 MP renders about 2 s slower); the compiled CPU path keeps few
full-strip temporaries (before it: 1335 MB + 70 B/px, 1799 / 2104 MB measured at 6 / 12 MP).
A photo without depth jumps skips the strips and needs the scatter's memory.

``render()`` checks the per-pixel part and the renderer's fixed working set beyond the scatter's against
the memory still available to the process (the smaller of the system's MemAvailable and the container's
cgroup limit less its usage) before it allocates anything large, and refuses with a message naming
``max_memory_gb`` (CLI: ``--max-memory``) when it exceeds 75 % of it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidParameterError, hint

__all__ = ["BYTES_PER_PIXEL", "PROCESS_BASE_BYTES", "available_bytes", "check_memory", "estimate_bytes"]

BYTES_PER_PIXEL = {"scatter": 72, "layered": 85, "hybrid": 190, "neural": 190}
PROCESS_BASE_BYTES = {"scatter": 680e6, "layered": 920e6, "hybrid": 1070e6, "neural": 1070e6}
DEFAULT_SHARE = 0.75


def estimate_bytes(height: int, width: int, renderer: str, *, whole_process: bool = False) -> float:
    """Peak memory of a render of ``height`` x ``width`` pixels: the per-pixel part plus the renderer's fixed
    working memory beyond a scatter process's (the layered renderer's strips, the hybrid's networks), or with
    ``whole_process`` the peak resident memory of a ``lensblur render`` process."""
    per_pixel = BYTES_PER_PIXEL.get(renderer, max(BYTES_PER_PIXEL.values())) * height * width
    base = PROCESS_BASE_BYTES.get(renderer, max(PROCESS_BASE_BYTES.values()))
    return per_pixel + (base if whole_process else base - PROCESS_BASE_BYTES["scatter"])


def available_bytes() -> float | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup (v2 or v1) limit less its usage."""
    candidates = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(float(line.split()[1]) * 1024)
    except OSError:
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit != "max" and float(limit) < 1e18:
                candidates.append(float(limit) - float(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(candidates) if candidates else None


def check_memory(height: int, width: int, renderer: str, max_memory_gb: float | None = None) -> float:
    """Refuse a render that would need more than ``max_memory_gb`` (default: 75 % of :func:`available_bytes`);
    returns the estimate in bytes."""
    needed = estimate_bytes(height, width, renderer)
    if max_memory_gb is not None:
        if not (isinstance(max_memory_gb, (int, float)) and max_memory_gb > 0):
            raise InvalidParameterError(f"max_memory_gb must be a positive number of GB; got {max_memory_gb!r}.")
        allowed, source = max_memory_gb * 1e9, "the limit given"
    else:
        free = available_bytes()
        if free is None:
            return needed
        allowed, source = DEFAULT_SHARE * free, f"75 % of the {free / 1e9:.1f} GB available to this process"
    if needed > allowed:
        raise InvalidParameterError(
            f"rendering {width}x{height} px with the {renderer} renderer needs about {needed / 1e9:.1f} GB, more than "
            f"{allowed / 1e9:.1f} GB ({source}). Downscale the photo, use renderer 'scatter' (the leanest), or "
            f"allow more with {hint('max_memory_gb=GB', '--max-memory GB')}.")
    return needed
