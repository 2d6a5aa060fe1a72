"""``lensblur env``: print versions for bug reports."""

from __future__ import annotations

import argparse

import lensblur as lb

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``env`` subcommand (no arguments)."""
    sub.add_parser("env", help="print versions for bug reports")


def run(args: argparse.Namespace) -> int:
    import platform

    import numba
    import numpy
    import torch

    print(f"lensblur {lb.__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}), numpy {numpy.__version__}, "
          f"numba {numba.__version__} ({numba.get_num_threads()} threads)")
    return 0
