"""Time report builds on this machine (a benchmark, not a test; figures go into the README).
Issue 21's targets 1 and 2, each a ratio of two figures measured in this one run:

* baseline: every section notebook executed one by one with ``jupyter nbconvert --to html
  --execute`` (a kernel each), starting from an empty cache folder;
* cold full build: ``gpucompare report`` into an empty folder with another empty cache folder
  (every section runs; no calibration fit or cross-validation on disk). Target: at most 0.25x
  the baseline;
* warm-cache full build: ``--force`` again (every section runs, the fits come from disk): what a
  code or notebook edit costs;
* rebuild with nothing changed: ``gpucompare report`` again (the up-to-date check answers);
* price-only change: ``--set price_usd.h100-sxm=...`` (only sections that read prices re-run).
  Target: at most 0.35x the cold build. Its kernels are forks of the kernel server the builds
  before started (report/forkserver.py), as after any build within the server's idle time; the
  same change with the server turned off is timed too (``price_change_without_server_s``).

The run's builds get an environment variable of their own (``GPUCOMPARE_BENCH_RUN``), so the
cold build finds no kernel server from an earlier run and starts one, as on a fresh machine; the
run's servers are stopped at its end.

Results: bench/results/build.json. Usage: ``make bench``, or ``python bench/bench_build.py
--root DIR`` for another checkout.
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
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Issue 21's targets: cold build over the nbconvert baseline, price change over the cold build.
COLD_TARGET = 0.25
PRICE_TARGET = 0.35


def _time(cmd: list[str], root: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to time (default: this one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    root = args.root.resolve()
    bindir = Path(sys.executable).parent
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="gpucompare-bench-") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(root / "lib"),
            "OPENBLAS_NUM_THREADS": "1",
            "GPUCOMPARE_BENCH_RUN": uuid.uuid4().hex,
        }
        base_env = {**env, "GPUCOMPARE_CACHE_DIR": f"{tmp}/cache-baseline"}
        nbconvert = [str(bindir / "jupyter"), "nbconvert", "--to", "html", "--execute"]
        baseline = sum(
            _time([*nbconvert, "--output-dir", f"{tmp}/html", str(nb)], root, base_env)
            for nb in notebooks
        )
        env = {**env, "GPUCOMPARE_CACHE_DIR": f"{tmp}/cache"}
        gc = [sys.executable, "-m", "gpucompare", "report", "--jobs", str(args.jobs)]
        out = [*gc, "--out", f"{tmp}/reports/latest"]
        cold = _time(out, root, env)
        warm = _time([*out, "--force"], root, env)
        unchanged = _time(out, root, env)
        price = _time([*out, "--set", "price_usd.h100-sxm=25000"], root, env)
        manifest = json.loads(Path(f"{tmp}/reports/latest/manifest.json").read_text())
        no_server = {**env, "GPUCOMPARE_KERNEL_SERVER_IDLE_S": "0"}
        price_no_server = _time([*out, "--set", "price_usd.h100-sxm=26000"], root, no_server)
        stop = "from gpucompare.report import forkserver; forkserver.stop_servers()"
        subprocess.run([sys.executable, "-c", stop], cwd=root, env=env, check=True)
    rerun = sorted(s["notebook"] for s in manifest["sections"] if not s["cached"])
    result = {
        "sections": len(notebooks),
        "jobs": args.jobs,
        "baseline_nbconvert_one_by_one_s": round(baseline, 2),
        "cold_full_build_s": round(cold, 2),
        "cold_over_baseline": round(cold / baseline, 3),
        "cold_target": COLD_TARGET,
        "warm_cache_full_build_s": round(warm, 2),
        "rebuild_unchanged_s": round(unchanged, 2),
        "price_change_rebuild_s": round(price, 2),
        "price_over_cold": round(price / cold, 3),
        "price_change_without_server_s": round(price_no_server, 2),
        "price_target": PRICE_TARGET,
        "price_change_reexecuted": rerun,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "build.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for name, ratio, target in (
        ("cold build / nbconvert baseline", result["cold_over_baseline"], COLD_TARGET),
        ("price change / cold build", result["price_over_cold"], PRICE_TARGET),
    ):
        print(f"  {name}: {ratio:.2f} against {target:g}: {'ok' if ratio <= target else 'over'}")


if __name__ == "__main__":
    main()
