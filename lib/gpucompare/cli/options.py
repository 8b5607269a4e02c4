"""Options shared by the commands that read parameters: ``--params FILE`` and ``--set KEY=VALUE``,
resolved by :func:`resolve` the same way for every command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gpucompare import params


def add_params_options(
    parser: argparse.ArgumentParser, set_help: str = "override a parameter"
) -> None:
    """``--params FILE`` (repeatable) and ``--set KEY=VALUE`` (repeatable) on ``parser``."""
    parser.add_argument(
        "--params", action="append", default=[], type=Path, metavar="FILE", help="parameters file"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def _preflight(p: params.Params) -> None:
    # Imported only when the check runs: the preflight loads the audit and every model (~0.15 s).
    from gpucompare.report import preflight

    preflight.preflight(p)


def resolve(files: list[Path] = (), sets: list[str] = ()) -> tuple[params.Params, dict[str, Any]]:
    """What :func:`gpucompare.report.preflight.resolve` returns (bad input exits 2 the same way),
    with the preflight's data checks (~1 s) skipped when exactly these parameters, data and library
    passed them before (:func:`gpucompare.report.cache.checked`)."""
    return checked(*params.resolve(files, sets))


def checked(p: params.Params, data: dict[str, Any]) -> tuple[params.Params, dict[str, Any]]:
    """``(p, data)`` once they passed the preflight (remembered per parameters, data and library:
    :func:`gpucompare.report.cache.checked`); bad input raises InputError (exit 2)."""
    from gpucompare.report import cache

    cache.checked(p, _preflight)
    return p, data
