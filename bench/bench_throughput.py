"""Time the vectorized decode-throughput grid (``gpucompare.throughput.decode_grid``) over every
catalog model x weight precision x GPU x context x batch, and the same cells one by one with the
scalar function for comparison. Results: bench/results/throughput.json.

Usage: ``.venv/bin/python bench/bench_throughput.py``. A benchmark, not a test: it asserts nothing;
the target is under one second for the whole grid.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from gpucompare import params
from gpucompare.data import catalog
from gpucompare.model import throughput

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ["fp16", "int8", "int4"]
REPEATS = 5


def main() -> None:
    p = params.validate(params.defaults_dict())
    contexts = list(p.sweep_context_tokens)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        grid = throughput.decode_grid(p, weights=WEIGHTS, contexts=contexts)
        best = min(best, time.perf_counter() - start)
    # The scalar function on a 1-in-20 sample, scaled to the whole grid.
    sample = grid.index[::20]
    start = time.perf_counter()
    for m, w, g, c, b in sample:
        throughput.decode_tokens_per_s(p, m, w, "fp16", b, c, g)
    scalar = (time.perf_counter() - start) * len(grid) / len(sample)
    result = {
        "cells": len(grid),
        "models": len(catalog.model_ids()),
        "gpus": len(catalog.gpu_ids()),
        "weights": WEIGHTS,
        "contexts": len(contexts),
        "batches": len(p.decode_batch_sizes),
        "grid_s_best_of_5": round(best, 4),
        "scalar_loop_s_estimated": round(scalar, 2),
        "speedup": round(scalar / best, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = ROOT / "bench" / "results" / "throughput.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
