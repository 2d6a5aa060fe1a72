"""How a training report names the hardware it ran on."""

from __future__ import annotations

import os
import platform

import torch

__all__ = ["device_name"]


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture, core count and torch version."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
