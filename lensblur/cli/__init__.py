"""``lensblur`` command line: one module per subcommand (``cli/render.py``, ``cli/depth.py``, ...), each with
``add_parser(sub)`` and ``run(args)``. Parses arguments and calls the public API only."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings

import lensblur as lb  # noqa: F401  (the package first; the subcommands use its public API)
from lensblur.errors import WeightsUnavailableError, cli_messages

from . import apply, demo, depth, env, export, render, synth, ui
from . import eval as evaluate

__all__ = ["main", "command", "build_parser"]


COMMANDS = {"render": render, "demo": demo, "synth": synth, "eval": evaluate, "depth": depth, "apply": apply,
            "export": export, "env": env, "ui": ui}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lensblur`` command."""
    parser = argparse.ArgumentParser(prog="lensblur", description="Realistic shallow depth of field from a photo and its depth.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def command() -> int:
    """The ``lensblur`` program (console script and ``python -m lensblur.cli``): :func:`main` in a process
    of its own. When the command runs a network on full-size photos (learned depth refinement, the
    hybrid or neural renderer), the process's allocator is told to keep freed memory
    (``lensblur._allocator``): refining a 1536x2048 depth map measured 1.9x faster
    (benchmarks/bench_depth_refinement.py --keep-freed-memory). Plain scatter renders keep glibc's
    default, which returns freed memory and so keeps 24 MP renders further inside their memory budget."""
    args = build_parser().parse_args()
    runs_networks = args.command in ("render", "depth") and (
        (args.refine_depth and args.refine_method == "learned") or getattr(args, "renderer", "scatter") in ("hybrid", "neural"))
    if runs_networks:
        from lensblur._allocator import keep_freed_memory

        keep_freed_memory()
    return _run(args)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run one ``lensblur`` command; returns the exit status.
    Leaves the process's allocator alone (tests and embedding applications call this)."""
    return _run(build_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    with cli_messages(), _plain_warnings(args.command):
        try:
            return COMMANDS[args.command].run(args)
        except (ValueError, FileExistsError, FileNotFoundError, ImportError, WeightsUnavailableError) as err:
            print(f"lensblur {args.command}: error: {err}", file=sys.stderr)  # flag names, not arguments
            return 2


@contextlib.contextmanager
def _plain_warnings(command: str):
    """Warnings as one line each, ``lensblur render: warning: ...``, without Python's file and line, once."""
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in seen:
            seen.add(text)
            print(f"lensblur {command}: warning: {text}", file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
