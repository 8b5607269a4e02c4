"""Specification formulas: time to read all of memory, ridge points, the roofline, and peak tensor
throughput derived from compute units (SMs, CUs), per-unit rate and clock.

* full-memory read (ms) = capacity (GiB -> decimal GB) / bandwidth (GB/s) x 1e3: the floor of one
  decode step of a model that fills the GPU.
* ridge point (FLOP/byte) = peak (TFLOPS x 1e12) / bandwidth (GB/s x 1e9); a kernel with fewer
  operations per byte moved is memory-bound (Williams, Waterman & Patterson, "Roofline", CACM 2009).
* attainable (TFLOPS) = min(peak, intensity x bandwidth (TB/s)) (the same paper).
* peak (TFLOPS) = compute units x dense FMA/clock/unit x clock x 2
  (:func:`gpucompare.core.units.peak_tflops`), with the per-unit rates of ``data/architectures.yaml``
  (the architecture whitepapers and vendor documentation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.data.architectures import TENSOR_RATES


def full_memory_read_ms(memory_gib: float, bandwidth_gb_s: float) -> float:
    """Milliseconds to read ``memory_gib`` GiB once at ``bandwidth_gb_s`` decimal GB/s."""
    return units.gib_to_gb(memory_gib) / bandwidth_gb_s * 1e3


def ridge_point(peak_tflops: float, bandwidth_gb_s: float) -> float:
    """Ridge point in FLOP (or OP) per byte: peak operations/s over memory bytes/s."""
    return peak_tflops * units.FLOPS_PER_TFLOPS / (bandwidth_gb_s * units.BYTES_PER_GB)


def attainable_tflops(
    intensity_flop_per_byte: np.ndarray, peak_tflops: float, bandwidth_tb_s: float
) -> np.ndarray:
    """Roofline: attainable TFLOPS = min(peak, arithmetic intensity x bandwidth in TB/s)."""
    return np.minimum(peak_tflops, intensity_flop_per_byte * bandwidth_tb_s)


def peak_clock_mhz(gpu: catalog.Gpu) -> float:
    """The clock the vendor used for its peak figures where the catalog states it, else the boost clock
    (MHz)."""
    return gpu.spec("peak_tflops_clock_mhz") or gpu.spec("boost_clock_mhz")


def tensor_derivation(gpu_ids: list[str]) -> pd.DataFrame:
    """Peak tensor throughput derived as compute units x dense FMA/clock/unit x clock x 2, per GPU and
    data type.

    The per-unit rates come from ``data/architectures.yaml``; the clock is :func:`peak_clock_mhz`.
    ``error_pct`` = (derived / datasheet - 1) x 100; ``implied_clock_mhz`` solves the same
    formula for the clock that reproduces the datasheet figure exactly."""
    rows = []
    for g in gpu_ids:
        gpu = catalog.get_gpu(g)
        variant = catalog.arch_variant(g)
        sms = gpu.spec("compute_units")
        clock = peak_clock_mhz(gpu)
        for field, rate_key in TENSOR_RATES.items():
            rate = variant.fma_per_clock_per_unit.get(rate_key)
            sheet = gpu.spec(field)
            if rate is None or rate.value is None or sheet is None:
                continue
            derived = units.peak_tflops(sms, rate.value, clock)
            rows.append(
                {
                    "gpu": gpu.name,
                    "data type": field.removesuffix("_tflops").removesuffix("_tops"),
                    "compute_units": sms,
                    "fma_per_clock_per_unit": rate.value,
                    "clock_mhz": clock,
                    "derived_tflops": derived,
                    "datasheet_tflops": sheet,
                    "error_pct": (derived / sheet - 1) * 100,
                    "implied_clock_mhz": units.implied_clock_mhz(sheet, sms, rate.value),
                }
            )
    return pd.DataFrame(rows).set_index(["gpu", "data type"])


def whitepaper_fma_per_clock_per_unit(gpu_id: str, field: str) -> float | None:
    """The architecture documentation's dense FMA/clock per compute unit of ``gpu_id`` for the spec
    ``field``."""
    return catalog.arch_variant(gpu_id).fma_per_clock_per_unit[TENSOR_RATES[field]].value


#: Former name of :func:`whitepaper_fma_per_clock_per_unit` (NVIDIA's compute unit is the SM).
whitepaper_fma_per_clock_per_sm = whitepaper_fma_per_clock_per_unit
