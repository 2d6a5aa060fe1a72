"""``lensblur ui``: start the local web app and print its address."""

from __future__ import annotations

import argparse
from pathlib import Path

import lensblur as lb
from lensblur._optional import require

from ._common import HelpFormatter

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """The ``ui`` subcommand's arguments."""
    parser = sub.add_parser("ui", help="open the web app: click to focus, drag the blur, download",
                            formatter_class=HelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; the default is this computer only. 0.0.0.0 lets other machines "
                             "on your network in (there is no password)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (0: any free port)")
    parser.add_argument("--depth-model-dir", type=Path, default=None,
                        help="local folder with the depth estimator's weights (default: the Hugging Face cache)")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise lb.InvalidParameterError(f"--port must be in [0, 65535]; got {args.port}.")
    require("gradio", extra="ui", feature="the web app")
    from lensblur.ui.app import launch

    port = args.port or _free_port(args.host)
    print(f"lensblur ui: starting on http://{args.host}:{port} (Ctrl+C stops it)", flush=True)
    launch(host=args.host, port=port, estimator_dir=None if args.depth_model_dir is None else str(args.depth_model_dir),
           quiet=True)
    return 0


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
