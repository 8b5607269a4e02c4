"""GEMM roofline: time, attainable TFLOPS and bound of ``C[M,N] = A[M,K] @ B[K,N]`` per GPU and
precision.

Formulas (TFLOPS = 1e12 FLOP/s, GB/s = 1e9 B/s):

* FLOPs = 2 x M x N x K (one multiply and one add for each of the K terms of each of the M x N
  outputs).
* bytes moved = (M x K + K x N) x input bytes per element + M x N x output bytes per element: each
  operand read from memory once and the result written once (perfect on-chip reuse, so a lower
  bound on DRAM traffic). FP16/BF16: 2 bytes in and out; TF32/FP32: 4; FP8: 1 in, 2 out (BF16
  result); INT8: 1 in, 4 out (INT32 result) (``data.gemm_precisions``).
* time = max(FLOPs / (peak x sustained fraction of the GPU's segment, ``sustained_fraction_*``),
  bytes / (bandwidth x ``achievable_bandwidth_fraction``)): the roofline of Williams, Waterman and
  Patterson ("Roofline", CACM 52(4), 2009) with achievable rather than datasheet ceilings. Peak is the
  catalog's dense tensor figure for the precision, bandwidth the datasheet's (``data/gpus.yaml``).
* attainable TFLOPS = FLOPs / time; bound = "compute" when the FLOP term is the larger, else "memory".
* arithmetic intensity = FLOPs / bytes (FLOP/byte); ridge point = achievable FLOP/s / achievable
  B/s. A GEMM with intensity below the ridge is memory-bound.

The achievable fractions default to a measured H100 SXM GEMM and copy (``data/measurements/``).
Launch latency (a few microseconds) is not modelled, so for tiny GEMMs the roofline is optimistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.core.guards import require_positive_int
from gpucompare.data import catalog
from gpucompare.data.gemm_precisions import GEMM_PRECISIONS, GemmPrecision, gemm_precision
from gpucompare.data.measurements import load_kernel_measurements

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "GEMM_PRECISIONS",
    "GemmEstimate",
    "GemmPrecision",
    "arithmetic_intensity",
    "bandwidth_gb_s",
    "bytes_moved",
    "flops",
    "gemm_precision",
    "measured_tflops",
    "peak_tflops",
    "ridge_flop_per_byte",
    "roofline",
    "roofline_tflops_array",
]


def _check_dims(m: int, n: int, k: int) -> None:
    for name, v in (("m", m), ("n", n), ("k", k)):
        require_positive_int(name, v)


#: Largest achievable share of a datasheet peak: a GeForce card boosts above the clock its peak is
#: rated at (the ``sustained_fraction_*`` parameters allow up to 1.5); bandwidth never exceeds 1.
MAX_TFLOPS_FRACTION = 1.5


def _check_fraction(name: str, v: float, high: float = 1.0) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v <= high):
        raise InputError(f"{name}: must be in (0, {high:g}] (got {v!r})")


def flops(m: int, n: int, k: int) -> float:
    """Floating-point operations of an (M, N, K) GEMM: 2 x M x N x K (FLOP)."""
    _check_dims(m, n, k)
    return 2.0 * m * n * k


def bytes_moved(m: int, n: int, k: int, precision: str) -> float:
    """DRAM bytes of an (M, N, K) GEMM with each operand read once and the result written once:
    (M x K + K x N) x input bytes + M x N x output bytes (B)."""
    _check_dims(m, n, k)
    fmt = gemm_precision(precision)
    return float((m * k + k * n) * fmt.input_bytes + m * n * fmt.output_bytes)


def arithmetic_intensity(m: int, n: int, k: int, precision: str) -> float:
    """FLOPs per byte moved (FLOP/byte)."""
    return flops(m, n, k) / bytes_moved(m, n, k, precision)


def peak_tflops(gpu_id: str, precision: str) -> float:
    """Datasheet dense peak (TFLOPS, or TOPS for INT8) of ``gpu_id`` at ``precision``."""
    gpu = catalog.get_gpu(gpu_id)
    peak = gpu.spec(gemm_precision(precision).peak_field)
    if peak is None:
        raise InputError(f"precision: {gpu.name} has no {precision} tensor rate in data/gpus.yaml")
    return float(peak)


def bandwidth_gb_s(gpu_id: str) -> float:
    """Datasheet memory bandwidth (GB/s)."""
    return float(catalog.get_gpu(gpu_id).spec("memory_bandwidth_gb_s"))


def ridge_flop_per_byte(
    gpu_id: str, precision: str, tflops_fraction: float = 1.0, bandwidth_fraction: float = 1.0
) -> float:
    """Ridge point (FLOP/byte) = peak x tflops_fraction / (bandwidth x bandwidth_fraction)."""
    _check_fraction("tflops_fraction", tflops_fraction, MAX_TFLOPS_FRACTION)
    _check_fraction("bandwidth_fraction", bandwidth_fraction)
    return (
        peak_tflops(gpu_id, precision)
        * tflops_fraction
        * units.FLOPS_PER_TFLOPS
        / (bandwidth_gb_s(gpu_id) * bandwidth_fraction * units.BYTES_PER_GB)
    )


@dataclass(frozen=True)
class GemmEstimate:
    """The roofline of one GEMM on one GPU (seconds, TFLOPS, FLOP/byte)."""

    compute_s: float
    memory_s: float
    time_s: float
    tflops: float
    bound: str
    intensity_flop_per_byte: float
    ridge_flop_per_byte: float


def roofline(
    m: int,
    n: int,
    k: int,
    gpu_id: str,
    precision: str,
    tflops_fraction: float = 1.0,
    bandwidth_fraction: float = 1.0,
) -> GemmEstimate:
    """Time, attainable TFLOPS and bound of an (M, N, K) GEMM (module docstring formulas); with the
    default fractions of 1 this is the datasheet roofline, a hard upper bound."""
    _check_fraction("tflops_fraction", tflops_fraction, MAX_TFLOPS_FRACTION)
    _check_fraction("bandwidth_fraction", bandwidth_fraction)
    f = flops(m, n, k)
    b = bytes_moved(m, n, k, precision)
    compute_s = f / (peak_tflops(gpu_id, precision) * tflops_fraction * units.FLOPS_PER_TFLOPS)
    memory_s = b / (bandwidth_gb_s(gpu_id) * bandwidth_fraction * units.BYTES_PER_GB)
    t = max(compute_s, memory_s)
    return GemmEstimate(
        compute_s,
        memory_s,
        t,
        f / t / units.FLOPS_PER_TFLOPS,
        "compute" if compute_s >= memory_s else "memory",
        f / b,
        ridge_flop_per_byte(gpu_id, precision, tflops_fraction, bandwidth_fraction),
    )


def roofline_tflops_array(
    m, n, k, input_bytes: int, output_bytes: int, peak_tflops_: float, bandwidth_gb_s_: float
) -> np.ndarray:
    """Vectorized attainable TFLOPS for arrays of (M, N, K) at given ceilings (same formulas)."""
    import numpy as np

    m, n, k = (np.asarray(x, dtype=float) for x in (m, n, k))
    f = 2 * m * n * k
    b = (m * k + k * n) * input_bytes + m * n * output_bytes
    t = np.maximum(
        f / (peak_tflops_ * units.FLOPS_PER_TFLOPS), b / (bandwidth_gb_s_ * units.BYTES_PER_GB)
    )
    return f / t / units.FLOPS_PER_TFLOPS


def measured_tflops(gpu_id: str, m: int, n: int, k: int, precision: str) -> list[dict]:
    """Measurements of this GEMM on this GPU in ``data/measurements/kernels*.csv`` at any precision
    with the same datasheet peak (BF16 and FP16-with-FP32-accumulate share one rate on every catalog
    GPU): ``[{"tflops", "precision", "source", "date"}]``, sorted by source."""
    frame = load_kernel_measurements()
    rows = frame[
        (frame["benchmark"] == "gemm")
        & (frame["gpu_id"] == gpu_id)
        & (frame["m"] == m)
        & (frame["n"] == n)
        & (frame["k"] == k)
    ]
    want = peak_tflops(gpu_id, precision)
    out = []
    for _, r in rows.iterrows():
        try:
            same = peak_tflops(gpu_id, r["precision"]) == want
        except InputError:
            same = False
        if same:
            out.append(
                {
                    "tflops": float(r["tflops"]),
                    "precision": r["precision"],
                    "source": r["source"],
                    "date": r["date"],
                }
            )
    return sorted(out, key=lambda d: (d["source"], d["precision"]))
