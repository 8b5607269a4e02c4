"""Time report builds on this machine (a benchmark, not a test; figures go into the README):

* baseline: every section notebook executed one by one with ``jupyter nbconvert --to html --execute``;
* cold full build: ``gpucompare report --force`` into an empty folder (all sections run, in parallel);
* rebuild with nothing changed: ``gpucompare report`` again (the up-to-date check answers);
* price-only change: ``--set price_usd.h100-sxm=...`` (only sections that read prices re-run).

Results: bench/results/build.json. Usage: ``make bench``.
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
    gpucompare = str(bindir / "gpucompare")
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
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
        out = f"{tmp}/reports/latest"
        cold = _time([gpucompare, "report", "--out", out, "--force"])
        unchanged = _time([gpucompare, "report", "--out", out])
        price = _time([gpucompare, "report", "--out", out, "--set", "price_usd.h100-sxm=25000"])
        manifest = json.loads((Path(out) / "manifest.json").read_text())
    rerun = sorted(s["notebook"] for s in manifest["sections"] if not s["cached"])
    result = {
        "sections": len(notebooks),
        "baseline_nbconvert_one_by_one_s": round(baseline, 2),
        "cold_full_build_s": round(cold, 2),
        "cold_over_baseline": round(cold / baseline, 2),
        "rebuild_unchanged_s": round(unchanged, 2),
        "price_change_rebuild_s": round(price, 2),
        "price_change_reexecuted": rerun,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "build.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
