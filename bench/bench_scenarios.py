"""Time the scenario round trip of issue 21 (a benchmark, not a test), with the command line in
subprocesses, a fresh cache and a fresh output folder:

* build scenario A (the defaults) into ``--out``, then B (``params/scenarios/cloud-rental.yaml``)
  into the same folder (cold: every section of A runs, then the sections B changes);
* return to A: ``gpucompare report`` with A's inputs again (target: at most 1 s; the report
  built first is restored from the report store);
* ``--compare A B`` after both were built, into a new folder (both reports restored, the
  comparison page rendered), then the same comparison again (target: at most 2 s).

Results: bench/results/scenarios.json. Usage: ``make bench`` (a few minutes: two cold builds), or
``python bench/bench_scenarios.py --root DIR`` for another checkout of the project.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Issue 21's targets, in seconds of wall time.
RETURN_TARGET_S = 1.0
COMPARE_TARGET_S = 2.0


def _timed(argv: list[str], root: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return took, res.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to time (default: this one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    root = args.root.resolve()
    b_file = root / "params" / "scenarios" / "cloud-rental.yaml"
    with tempfile.TemporaryDirectory(prefix="gpucompare-bench-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(root / "lib"),
            "GPUCOMPARE_CACHE_DIR": f"{tmp}/cache",
            "OPENBLAS_NUM_THREADS": "1",
            # The kernel server the builds start ends a minute after the run, not ten.
            "GPUCOMPARE_KERNEL_SERVER_IDLE_S": "60",
        }
        # A as a file for --compare: one default value set again, so A's report is the defaults'.
        a_file = Path(tmp) / "defaults.yaml"
        a_file.write_text(_same_as_default(root))
        gc = [sys.executable, "-m", "gpucompare", "report", "--jobs", str(args.jobs)]
        out = [*gc, "--out", f"{tmp}/out/latest"]
        cmp = [*gc, "--out", f"{tmp}/out/cmp", "--compare", str(a_file), str(b_file)]
        steps = {
            "build A (cold)": out,
            "build B": [*out, "--params", str(b_file)],
            "return to A": out,
            "return to B": [*out, "--params", str(b_file)],
            "compare A B, both built": cmp,
            "compare A B again": cmp,
        }
        rows = {}
        for name, argv in steps.items():
            took, said = _timed(argv, root, env)
            rows[name] = {"s": round(took, 2), "said": said}
            print(f"{name:<26}{took:>8.2f} s  {said}")
    targets = {
        "return to A": RETURN_TARGET_S,
        "return to B": RETURN_TARGET_S,
        "compare A B, both built": COMPARE_TARGET_S,
        "compare A B again": COMPARE_TARGET_S,
    }
    for name, target in targets.items():
        rows[name]["target_s"] = target
        rows[name]["meets_target"] = rows[name]["s"] <= target
        verdict = "ok" if rows[name]["meets_target"] else "over"
        print(f"  {name}: {rows[name]['s']:.2f} s against {target:g} s: {verdict}")
    result = {
        "root": str(root),
        "steps": rows,
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
    }
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenarios.json").write_text(json.dumps(result, indent=2) + "\n")


def _same_as_default(root: Path) -> str:
    """A parameters file that changes nothing: the default ``years`` set again."""
    for line in (root / "params" / "default.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("years:"):
            return line + "\n"
    raise SystemExit("params/default.yaml has no top-level 'years'")


if __name__ == "__main__":
    main()
