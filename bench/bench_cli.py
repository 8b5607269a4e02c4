"""Time the one-line commands against issue 21's target (a benchmark, not a test): each of
``gpucompare memory``, ``cost``, ``throughput`` and ``plan`` run in a fresh interpreter (a
subprocess, as a user runs it), wall time from start to exit; the first run fills the caches
(calibration fit, preflight), then the median of ``--runs`` more. For scale, the same for a bare
interpreter and for importing the dependencies (below).

Bytecode: a user's interpreter compiles the package once and reads ``__pycache__`` afterwards. This
machine sets ``PYTHONDONTWRITEBYTECODE=1``, which makes every run compile every module of the
package again (~0.03 s here); the runs use their own bytecode folder (``PYTHONPYCACHEPREFIX``, in a
temporary directory) instead, filled by the first run, unless ``--no-bytecode-cache``.

CPU seconds (user + system of the command) are recorded beside the wall times: on a machine shared
with other jobs the wall time also measures the waiting for a core, the CPU time much less.

Results: bench/results/cli.json. Usage: ``make bench``, or ``python bench/bench_cli.py --runs 9``;
``--root DIR`` times another checkout of the project (its ``lib/`` first on ``sys.path``), e.g. an
older commit unpacked with ``git archive``, for a before/after figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Issue 21: a one-line answer in at most 0.3 s of wall time.
TARGET_S = 0.3
COMMANDS = {
    "memory": ["memory", "--model", "llama-2-7b", "--gpu", "h100-sxm"],
    "cost": ["cost", "--model", "llama-2-7b", "--gpu", "h100-sxm"],
    "throughput": ["throughput", "--model", "llama-2-7b", "--gpu", "h100-sxm"],
    "plan": [
        "plan",
        "--model",
        "llama-2-7b",
        "--requests-per-s",
        "2",
        "--prompt-tokens",
        "1000",
        "--output-tokens",
        "200",
        "--ttft-ms",
        "1000",
        "--tpot-ms",
        "50",
    ],
}
#: Floors: what a command pays before it runs a line of its own (every command: the interpreter,
#: pydantic and YAML, the command line's modules; the calibrated model: numpy). pandas, for scale:
#: a warm one-line command no longer loads it (the cached fit's rows are read as plain columns).
FLOORS = {
    "python (bare interpreter)": ["-c", "pass"],
    "import pydantic, yaml": ["-c", "import pydantic, yaml"],
    "import gpucompare.cli": ["-c", "import gpucompare.cli"],
    "import gpucompare.cli, numpy": ["-c", "import gpucompare.cli, numpy"],
    "import numpy": ["-c", "import numpy"],
    "import pandas": ["-c", "import pandas"],
}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], root: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``."""
    cpu = _children_cpu_s()
    start = time.perf_counter()
    subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu_s() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per command (after one more)")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to time (default: this one)")
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile the package on every run, as this machine's environment does",
    )
    args = ap.parse_args()
    root = args.root.resolve()
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="gpucompare-bench-cache-") as cache:
        env = {
            **os.environ,
            "PYTHONPATH": str(root / "lib"),
            "GPUCOMPARE_CACHE_DIR": cache,  # empty: the first run of each command fills it
            "OPENBLAS_NUM_THREADS": "1",
        }
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(cache) / "bytecode")
        rows = {}
        for name, cmd in COMMANDS.items():
            argv = [sys.executable, "-m", "gpucompare", *cmd]
            first, _ = _timed(argv, root, env)
            walls, cpus = zip(*(_timed(argv, root, env) for _ in range(args.runs)), strict=True)
            rows[name] = {
                "first_run_s": round(first, 3),
                "median_s": round(statistics.median(walls), 3),
                "min_s": round(min(walls), 3),
                "median_cpu_s": round(statistics.median(cpus), 3),
                "target_s": TARGET_S,
                "meets_target": statistics.median(walls) <= TARGET_S,
            }
        floors = {
            name: round(
                statistics.median(
                    _timed([sys.executable, *argv], root, env)[0] for _ in range(args.runs)
                ),
                3,
            )
            for name, argv in FLOORS.items()
        }
    print(f"{'command':<12}{'first run':>11}{'median':>9}{'min':>8}{'CPU':>8}  target {TARGET_S} s")
    for name, r in rows.items():
        verdict = "ok" if r["meets_target"] else f"over by {r['median_s'] - TARGET_S:.2f} s"
        print(
            f"{name:<12}{r['first_run_s']:>10.2f}s{r['median_s']:>8.2f}s{r['min_s']:>7.2f}s"
            f"{r['median_cpu_s']:>7.2f}s  {verdict}"
        )
    for name, t in floors.items():
        print(f"  floor: {name}: {t:.2f} s")
    load_after = list(os.getloadavg())
    print(f"  load average (1, 5, 15 min): before {load_before}, after {load_after}")
    result = {
        "root": str(root),
        "runs": args.runs,
        "bytecode_cache": not args.no_bytecode_cache,
        "commands": rows,
        "floors_median_s": floors,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average": load_after,
        "python": platform.python_version(),
    }
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cli.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
