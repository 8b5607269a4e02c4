"""The ``gpucompare preview`` command: serve the report on localhost and rebuild it while the
parameters, data or notebooks are edited; open pages reload by themselves
(:mod:`gpucompare.report.preview`). Bad arguments or parameters exit 2 before anything is served;
Ctrl-C or SIGTERM stops it with exit code 130, a build under way removing its temporary folder
(the previous report stays). Like the rest of the command line, the report stack loads only when
the command runs."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gpucompare.cli import options
from gpucompare.cli.options import add_params_options
from gpucompare.core.guards import positive_int

#: The default port (``--port 0`` takes any free one).
DEFAULT_PORT = 8000
#: The largest TCP port number.
MAX_PORT = 65535


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"port {value} is not in 0..{MAX_PORT}")
    return value


def _say(message: str, error: bool) -> None:
    stream = sys.stderr if error else sys.stdout
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=stream, flush=True)


def _cmd_preview(args: argparse.Namespace) -> int:
    # The report stack (papermill, nbconvert: seconds to import) loads only for this command.
    from gpucompare.report import preview

    # Bad input (a missing file, a bad value) exits 2 here, before anything is served; later
    # bad edits show on the page instead.
    options.resolve(args.params, args.set)
    server = preview.Preview(
        args.out,
        args.params,
        args.set,
        nb_dir=args.notebooks,
        host=args.host,
        port=args.port,
        jobs=args.jobs,
        timeout_s=args.timeout,
        say=_say,
    )
    watched = ", ".join(str(f) for f in args.params)
    print(
        f"previewing {server.out} at {server.url}\n"
        f"watching params/, data/, the notebooks{' and ' + watched if watched else ''}; "
        "Ctrl-C stops",
        flush=True,
    )
    server.run()  # until Ctrl-C or SIGTERM (KeyboardInterrupt: exit code 130 in cli.main)
    return 0


def add_cli(sub) -> None:
    """Add the ``preview`` subcommand."""
    pv = sub.add_parser(
        "preview",
        help="serve the report on localhost and rebuild it as parameters, data or notebooks change",
    )
    add_params_options(
        pv, "override one parameter (fixed while the preview runs; edit a --params file instead)"
    )
    pv.add_argument(
        "--out",
        default="reports/preview",
        help="report folder the preview builds and serves (default: reports/preview)",
    )
    pv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    pv.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port to listen on; 0 takes any free port (default: {DEFAULT_PORT})",
    )
    pv.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of section notebooks (default: the repository's notebooks/)",
    )
    pv.add_argument(
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="notebooks run in parallel (default: the core count)",
    )
    pv.add_argument("--timeout", type=positive_int, default=300, help="per-cell timeout in seconds")
    pv.set_defaults(func=_cmd_preview)
