"""Time a cold full build of the default report (and, for comparison, the sections run one by
one with ``jupyter nbconvert --to html --execute``). Results: bench/results/build.json.

Usage: ``make bench`` (or ``.venv/bin/python bench/bench_build.py``). A benchmark, not a test:
it asserts nothing and its figures go into the README by hand.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        cold = _time([str(bindir / "gpucompare"), "report", "--out", f"{tmp}/report"])
        notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        baseline = sum(
            _time(
                [
                    str(bindir / "jupyter"),
                    "nbconvert",
                    "--to",
                    "html",
                    "--execute",
                    "--output-dir",
                    tmp,
                    str(nb),
                ]
            )
            for nb in notebooks
        )
    result = {
        "cold_full_build_s": round(cold, 2),
        "nbconvert_one_by_one_s": round(baseline, 2),
        "ratio": round(cold / baseline, 2),
        "sections": len(notebooks),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "build.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
