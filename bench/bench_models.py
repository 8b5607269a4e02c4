"""Time the vectorized sweeps the issues set targets for (a benchmark, not a test):

* memory fit sweep: all catalog models x 6 precisions x all GPUs x contexts 512..131072 x
  batches 1..256 (target: well under a second);
* Monte Carlo: 100,000 draws for all default workloads on the default GPUs (target: < 2 s on one core).

Results: bench/results/models.json. Usage: ``make bench``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from gpucompare import params
from gpucompare.data import catalog
from gpucompare.model import cost, memory, tco

ROOT = Path(__file__).resolve().parents[1]


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = params.make()
    ov = memory.Overheads.from_params(p)
    contexts = [512 * 2**i for i in range(9)]  # 512 .. 131072
    batches = [2**i for i in range(9)]  # 1 .. 256
    precisions = ["fp32", "bf16", "fp16", "fp8", "int8", "int4"]
    sweep_args = (catalog.model_ids(), precisions, catalog.gpu_ids(), contexts, batches, "fp16", ov)
    cells = (
        len(catalog.model_ids())
        * len(precisions)
        * len(catalog.gpu_ids())
        * len(contexts)
        * len(batches)
    )
    sweep_s = _best_of(lambda: memory.fit_sweep(*sweep_args))

    tps = np.array(
        [[cost.workload_tokens_per_s(p, wl, g) or np.nan for g in p.gpus] for wl in p.workloads],
        dtype=float,
    )
    mc_s = _best_of(
        lambda: tco.monte_carlo_summary(
            tco.monte_carlo_cost(p, tps, list(p.gpus)), [w.name for w in p.workloads], list(p.gpus)
        )
    )
    result = {
        "memory_fit_sweep_cells": cells,
        "memory_fit_sweep_s": round(sweep_s, 4),
        "monte_carlo_draws": p.mc_draws,
        "monte_carlo_workloads": len(p.workloads),
        "monte_carlo_gpus": len(p.gpus),
        "monte_carlo_s": round(mc_s, 4),
        "cpu_count": os.cpu_count(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "models.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
