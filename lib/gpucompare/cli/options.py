"""Options shared by the commands that read parameters: ``--params FILE`` and ``--set KEY=VALUE``,
resolved by :func:`gpucompare.report.preflight.resolve` the same way for every command."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_params_options(
    parser: argparse.ArgumentParser, set_help: str = "override a parameter"
) -> None:
    """``--params FILE`` (repeatable) and ``--set KEY=VALUE`` (repeatable) on ``parser``."""
    parser.add_argument(
        "--params", action="append", default=[], type=Path, metavar="FILE", help="parameters file"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
