"""The engine calibration against its targets (issue 17): fit and cross-validation time, and the
held-out error of the throughput model per engine, printed with the targets (held-out median
|error| <= 15%, worst <= 40%). Also times the scalar decode model over a grid of cells.
Results: bench/results/throughput.json.

Usage: ``.venv/bin/python bench/bench_throughput.py``. A benchmark, not a test: the test that can
fail is tests/model/test_calibration.py (held-out median above 25%).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from gpucompare import params
from gpucompare.model import calibration, throughput

ROOT = Path(__file__).resolve().parents[1]
GRID = {"weights": ["fp16", "int4"], "batches": [1, 8, 64], "contexts": [1024, 8192]}


def main() -> None:
    p = params.validate(params.defaults_dict())
    start = time.perf_counter()
    fit, rows = calibration.fitted()
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    cv = calibration.cross_validate()
    cv_s = time.perf_counter() - start
    summary = calibration.error_summary(cv)
    start = time.perf_counter()
    grid = throughput.decode_grid(p, **GRID)
    grid_s = time.perf_counter() - start
    overall = summary.loc["all"]
    held_median = max(
        overall["median_abs_error_held_out_gpu"], overall["median_abs_error_held_out_source"]
    )
    held_worst = max(
        overall["worst_abs_error_held_out_gpu"], overall["worst_abs_error_held_out_source"]
    )
    result = {
        "measurements_fitted": len(rows),
        "parameters": int(fit.layout.n),
        "fit_s": round(fit_s, 2),
        "cross_validation_s": round(cv_s, 2),
        "held_out_median_abs_error": round(float(held_median), 3),
        "held_out_worst_abs_error": round(float(held_worst), 3),
        "target_median": calibration.TARGET_MEDIAN,
        "target_worst": calibration.TARGET_WORST,
        "median_target_met": bool(held_median <= calibration.TARGET_MEDIAN),
        "worst_target_met": bool(held_worst <= calibration.TARGET_WORST),
        "within_30pct_held_out_gpu": round(
            float((cv["error_held_out_gpu"].abs() <= 0.3).mean()), 3
        ),
        "per_engine": json.loads(summary.round(3).to_json(orient="index")),
        "grid_cells": len(grid),
        "grid_s": round(grid_s, 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = ROOT / "bench" / "results" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(summary.round(3).to_string())
    print(
        f"held-out median |error| {held_median:.1%} (target {calibration.TARGET_MEDIAN:.0%}: "
        f"{'met' if result['median_target_met'] else 'MISSED'}), worst {held_worst:.0%} "
        f"(target {calibration.TARGET_WORST:.0%}: {'met' if result['worst_target_met'] else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
