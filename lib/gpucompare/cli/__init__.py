"""Command line: ``gpucompare report|audit|check-data|cost|throughput|memory|gpus|models|notebooks``.

Bad input exits with code 2 and one message on stderr; a failed build exits with 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from gpucompare import params
from gpucompare.cli import listing, options, preview, speed, train
from gpucompare.cli import models as models_cli
from gpucompare.cli.options import add_params_options
from gpucompare.core import caches, jsonout
from gpucompare.core.errors import EXIT_BAD_INPUT, GpucompareError
from gpucompare.core.guards import bounded_int, positive_int
from gpucompare.data import catalog

#: Section modules that add subcommands through ``add_cli(subparsers)``.
SECTION_CLI_MODULES: tuple[str, ...] = ("measure",)


def _cmd_report(args: argparse.Namespace) -> int:
    # The report stack (papermill, nbconvert: seconds to import) loads only for the commands that
    # build; an up-to-date report, or one restored from the report store, never loads it.
    from gpucompare.report import cache, publish

    if args.compare:
        return _compare(args)
    out = publish.check_out(args.out)  # a folder that is not a report: exit 2, nothing touched
    # Resolved once: a bad file or value exits 2 here, before anything else; the build reuses it.
    p, data = params.resolve(args.params, args.set)
    values = p.model_dump(mode="json")
    if args.pdf:
        from gpucompare.report.pdf import require_chromium

        # Checked first, whether or not a build is needed: --pdf without Chromium is the same
        # exit 2 every time, and the report at --out is left as it is.
        require_chromium()
    if not args.force:
        if cache.up_to_date(out, values, p.title, args.pdf, args.notebooks):
            print(
                f"report up to date: {Path(args.out) / 'index.html'} "
                "(inputs unchanged; --force rebuilds)"
            )
            return 0
        restored = cache.restore(out, values, p.title, args.pdf, args.notebooks)
        if restored is not None:
            print(
                f"report restored from the cache: {Path(args.out) / 'index.html'} (built "
                f"{restored['provenance']['built_at']} UTC from the same inputs; --force rebuilds)"
            )
            return 0
    # A report kept or restored above was built from exactly these inputs, so they passed the
    # checks then. A build starts its kernels now: they start (~1-2 s) while the rest of the report
    # stack loads (~0.4 s: papermill, nbformat) and the data and the parameters are checked (bad
    # ones exit 2 before anything is written).
    from gpucompare.report import kernels

    jobs = args.jobs or os.cpu_count() or 1
    with kernels.KernelPool(jobs) as pool:
        wanted = cache.sections_to_run(values, args.notebooks, force=args.force)
        pool.prestart(cache.inputs_fingerprint(), min(jobs, wanted))
        from gpucompare.report import build

        resolved = options.checked(p, data)
        manifest = build.build(
            Path(args.out),
            args.params,
            args.set,
            jobs=args.jobs,
            timeout_s=args.timeout,
            pdf=args.pdf,
            force=args.force,
            show_progress=True,
            nb_dir=args.notebooks,
            resolved=resolved,
            kernels=pool,
            release_kernels=True,
        )
    ran = [s for s in manifest["sections"] if not s["cached"]]
    total = sum(s["seconds"] for s in ran)
    print(
        f"report written to {Path(args.out) / 'index.html'} ({len(manifest['sections'])} sections: "
        f"{len(ran)} executed in {total:.1f} s of notebook time, {len(manifest['sections']) - len(ran)} from cache)"
    )
    repaired = [s["notebook"] for s in manifest["sections"] if s.get("cache_repaired")]
    if repaired:
        print(f"re-ran {', '.join(repaired)}: corrupt cache entries were removed")
    if manifest["pages"]["pdf"]:
        print(f"PDF written to {Path(args.out) / manifest['pages']['pdf']}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """``report --compare A B``: nothing loads beyond the parameters when the comparison at
    ``--out`` already compares exactly these scenarios."""
    from gpucompare.report import cache, publish

    out = publish.check_out(args.out, publish.COMPARE)
    scenarios = []
    for f in args.compare:
        p, _ = options.resolve([*args.params, f], args.set)
        scenarios.append((cache.folder_name(Path(f).stem), p.model_dump(mode="json"), p.title))
    if not args.force and cache.compare_up_to_date(out, scenarios, args.notebooks):
        print(f"comparison up to date: {out / 'index.html'} (inputs unchanged; --force rebuilds)")
        return 0
    from gpucompare.report import compare

    page = compare.build_compare(
        Path(args.out),
        [Path(f) for f in args.compare],
        args.params,
        args.set,
        jobs=args.jobs,
        timeout_s=args.timeout,
        force=args.force,
        show_progress=True,
        nb_dir=args.notebooks,
    )
    print(f"comparison written to {page}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from gpucompare.report import build

    for path in build.refresh_notebooks(timeout_s=args.timeout, only=args.only):
        print(f"re-executed {path}")
    return 0


def _cmd_cost(args: argparse.Namespace) -> int:
    # Imported here like the other commands' modules: each command loads only the models it needs.
    from gpucompare.model import cost

    p, _ = options.resolve(args.params, args.set)
    r = cost.cost_of(p, args.gpu, args.model, args.weights, args.kv, args.batch, args.context)
    if args.json:
        jsonout.print_json(r)
        return 0
    if not r["fits_one_gpu"]:
        print(
            f"{args.model} ({args.weights}, batch {args.batch} x {args.context} tokens) does not fit one {args.gpu}: no cost per token"
        )
    else:
        print(
            f"{args.gpu}, {args.model} {args.weights}, batch {args.batch}: {r['tokens_per_s']:,.0f} tokens/s; "
            f"TCO ${r['tco_usd']:,.0f} over {p.years:g} years -> ${r['usd_per_million_tokens']:.3f} per million tokens "
            f"(renting: ${r['usd_per_million_tokens_rent']:.3f})"
        )
    return 0


def _cmd_memory(args: argparse.Namespace) -> int:
    from gpucompare.model import memory

    p, _ = options.resolve(args.params, args.set)
    catalog.get_model(args.model, "--model")
    catalog.weight_format(args.weights, "--weights")
    catalog.kv_format(args.kv, "--kv")
    gpu_ids = args.gpu or p.gpus
    for g in gpu_ids:
        catalog.get_gpu(g, "--gpu")
    result = memory.requirement(
        args.model,
        args.weights,
        args.kv,
        args.batch,
        args.context,
        gpu_ids,
        memory.Overheads.from_params(p),
    )
    if args.json:
        jsonout.print_json(result)
        return 0
    print(
        f"{args.model}: weights {args.weights} {result['weights_gb']:.2f} GB + KV cache {args.kv} "
        f"{result['kv_cache_gb']:.2f} GB (batch {args.batch} x {args.context} tokens) = {result['total_gb']:.2f} GB"
    )
    for g in result["gpus"]:
        need = g["gpus_needed"] if g["gpus_needed"] is not None else "more than 8"
        print(
            f"  {g['gpu']:<14} usable {g['usable_gb']:.1f} GB  fits: {'yes' if g['fits'] else 'no '}  "
            f"headroom {g['headroom_gb']:+.1f} GB  max batch {g['max_batch']}  GPUs needed {need}"
        )
    return 0


def _cmd_check_data(args: argparse.Namespace) -> int:
    from gpucompare.core import paths
    from gpucompare.data import checkdata
    from gpucompare.report import preflight

    data = paths.data_dir()
    problems = preflight.check_all()
    for x in problems:
        print(x)
    if problems:
        files = len({x.file for x in problems})
        print(
            f"gpucompare: error: {len(problems)} problem(s) in {files} data file(s) under {data}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(
        f"{data}: {len(checkdata.DATA_FILES)} data files and folders checked (schema, units, "
        f"sources, cross-field sanity of {len(catalog.gpu_ids())} GPUs): no problems"
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and a one-line message on bad arguments (its default too)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"gpucompare: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    top = _Parser(
        prog="gpucompare", description="Which GPU, for which LLM workload, at what price."
    )
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    rep = sub.add_parser("report", help="build the HTML report")
    rep.add_argument(
        "--params",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="parameters file over the defaults (repeatable; later wins)",
    )
    rep.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. price_usd.h100-sxm=25000 (repeatable; applied last)",
    )
    rep.add_argument(
        "--out", default="reports/latest", help="output folder (default: reports/latest)"
    )
    rep.add_argument(
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="notebooks run in parallel (default: the core count)",
    )
    rep.add_argument(
        "--force", action="store_true", help="re-execute every section, ignoring the cache"
    )
    rep.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of section notebooks (default: the repository's notebooks/)",
    )
    rep.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.yaml", "B.yaml"),
        help="build two scenarios (each over the defaults and --params) and a page comparing them",
    )
    rep.add_argument(
        "--timeout", type=positive_int, default=300, help="per-cell timeout in seconds"
    )
    rep.add_argument(
        "--pdf",
        action="store_true",
        help="also print the whole report to report.pdf with headless Chromium "
        "(without Chromium: exit code 2 before anything is built)",
    )
    rep.set_defaults(func=_cmd_report)

    nbs = sub.add_parser(
        "notebooks", help="re-execute the committed notebooks with the default parameters"
    )
    nbs.add_argument("--timeout", type=int, default=300, help="per-cell timeout in seconds")
    nbs.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only notebooks whose file name contains NAME (repeatable)",
    )
    nbs.set_defaults(func=_cmd_notebooks)

    listing.add_audit_cli(sub)

    chk = sub.add_parser(
        "check-data",
        help="validate every data file (schema, units, sources, cross-field sanity); exit 2 on problems",
    )
    chk.set_defaults(func=_cmd_check_data)

    # Section modules add their own subcommands (``add_cli(subparsers)``).
    for name in SECTION_CLI_MODULES:
        importlib.import_module(f"gpucompare.{name}").add_cli(sub)

    c = sub.add_parser(
        "cost", help="TCO, tokens/s and cost per million tokens of one configuration"
    )
    c.add_argument("--gpu", required=True, help="GPU catalog id, e.g. h100-sxm")
    c.add_argument("--model", required=True, help="model catalog id, e.g. llama-2-7b")
    c.add_argument(
        "--weights", default="fp16", help="weight precision (fp32, bf16, fp16, fp8, int8, int4)"
    )
    c.add_argument("--kv", default="fp16", help="KV-cache precision")
    c.add_argument("--batch", type=positive_int, default=1, help="concurrent sequences")
    c.add_argument("--context", type=positive_int, default=4096, help="tokens per sequence")
    add_params_options(c, "override a parameter, e.g. price_usd.h100-sxm=25000")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.set_defaults(func=_cmd_cost)

    speed.add_cli(sub)
    train.add_cli(sub)
    preview.add_cli(sub)

    mem = sub.add_parser("memory", help="memory needed by one workload, and fit per GPU")
    mem.add_argument("--model", required=True, help="model catalog id, e.g. llama-2-7b")
    mem.add_argument(
        "--weights", default="fp16", help="weight precision (fp32, bf16, fp16, fp8, int8, int4)"
    )
    mem.add_argument(
        "--kv", default="fp16", help="KV-cache precision (fp32, bf16, fp16, fp8, int8, int4)"
    )
    mem.add_argument(
        "--context",
        type=bounded_int(params.MAX_CONTEXT_TOKENS, "the longest context of any model"),
        default=4096,
        help=f"tokens per sequence (at most {params.MAX_CONTEXT_TOKENS:,})",
    )
    mem.add_argument(
        "--batch",
        type=bounded_int(params.MAX_BATCH, "far beyond any serving engine's batch"),
        default=1,
        help=f"concurrent sequences (at most {params.MAX_BATCH:,})",
    )
    mem.add_argument(
        "--gpu",
        action="append",
        default=[],
        help="GPU catalog id (repeatable; default: the gpus parameter)",
    )
    add_params_options(mem, "override one parameter")
    mem.add_argument("--json", action="store_true", help="JSON output (decimal GB)")
    mem.set_defaults(func=_cmd_memory)

    listing.add_catalog_cli(sub)
    models_cli.add_cli(sub)  # `models import` under the `models` listing
    return top


#: Exit code after Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130
#: Exit code when the reader of the output went away (``gpucompare gpus --json | head -1``):
#: 128 + SIGPIPE, what a process killed by SIGPIPE reports to the shell.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpucompare`` console script."""
    args = parser().parse_args(argv)
    # SIGTERM ends a build like Ctrl-C does, so its temporary folder is removed and the
    # previous report stays in place (the default action would kill the process outright).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        if code == 0:
            caches.flush()  # what this command parsed and computed, for the next one
        return code
    except BrokenPipeError:
        return _reader_gone()
    except GpucompareError as exc:
        print(f"gpucompare: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "gpucompare: interrupted; nothing was replaced and temporary files were removed",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def _reader_gone() -> int:
    """The output's reader closed the pipe (``| head``): stop quietly, like other command-line
    tools. Python ignores SIGPIPE, so the write raised BrokenPipeError; stdout is pointed at
    ``/dev/null`` so the interpreter's final flush of what is still buffered cannot raise again
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
