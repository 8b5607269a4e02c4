"""GEMM roofline: time, attainable TFLOPS and bound of ``C[M,N] = A[M,K] @ B[K,N]`` per GPU and
precision, next to the article's GEMM table and to published measurements.

Formulas (TFLOPS = 1e12 FLOP/s, GB/s = 1e9 B/s):

* FLOPs = 2 x M x N x K (one multiply and one add for each of the K terms of each of the M x N
  outputs).
* bytes moved = (M x K + K x N) x input bytes per element + M x N x output bytes per element: each
  operand read from memory once and the result written once (perfect on-chip reuse, so a lower
  bound on DRAM traffic). FP16/BF16: 2 bytes in and out; TF32/FP32: 4; FP8: 1 in, 2 out (BF16
  result); INT8: 1 in, 4 out (INT32 result).
* time = max(FLOPs / (peak x ``achievable_tflops_fraction``),
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
import statistics
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.core.errors import InputError, unknown
from gpucompare.data import catalog, claims
from gpucompare.sections.figures import colour, new


@dataclass(frozen=True)
class GemmPrecision:
    """A GEMM data type: which catalog peak applies and bytes per input and output element."""

    id: str
    peak_field: str
    input_bytes: int
    output_bytes: int
    label: str


#: GEMM precisions; ``fp16`` is FP16 inputs with FP32 accumulation, what PyTorch's cuBLAS call uses.
GEMM_PRECISIONS: dict[str, GemmPrecision] = {
    p.id: p
    for p in (
        GemmPrecision("fp16", "fp16_tensor_fp32acc_tflops", 2, 2, "FP16, FP32 accumulate"),
        GemmPrecision("fp16_fp16acc", "fp16_tensor_fp16acc_tflops", 2, 2, "FP16, FP16 accumulate"),
        GemmPrecision("bf16", "bf16_tensor_tflops", 2, 2, "BF16, FP32 accumulate"),
        GemmPrecision("tf32", "tf32_tensor_tflops", 4, 4, "TF32 tensor (FP32 storage)"),
        GemmPrecision("fp32", "fp32_tflops", 4, 4, "FP32, CUDA cores"),
        GemmPrecision("fp8", "fp8_tensor_tflops", 1, 2, "FP8, BF16 output"),
        GemmPrecision("int8", "int8_tensor_tops", 1, 4, "INT8, INT32 output"),
    )
}
#: Precisions shown in the ridge table.
RIDGE_PRECISIONS = ("fp16", "fp16_fp16acc", "tf32", "fp8")
#: A claim within this fraction of a measurement of the same GEMM on the same GPU is "ok".
MEASURED_TOLERANCE = 0.15
#: A claim within this fraction of the roofline prediction is "ok" (no measurement of that GEMM).
ROOFLINE_TOLERANCE = 0.25
#: Square sizes of the roofline-against-size chart.
FIGURE_SQUARE_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384)


def gemm_precision(precision: str, key: str = "precision") -> GemmPrecision:
    """The GEMM precision ``precision``; unknown ids raise InputError naming the allowed ones."""
    if precision not in GEMM_PRECISIONS:
        raise unknown("GEMM precision", key, precision, GEMM_PRECISIONS)
    return GEMM_PRECISIONS[precision]


def _check_dims(m: int, n: int, k: int) -> None:
    for name, v in (("m", m), ("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{name}: must be a positive integer (got {v!r})")


def _check_fraction(name: str, v: float) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v <= 1):
        raise InputError(f"{name}: must be in (0, 1] (got {v!r})")


def flops(m: int, n: int, k: int) -> float:
    """Floating-point operations of an (M, N, K) GEMM: 2 x M x N x K."""
    _check_dims(m, n, k)
    return 2.0 * m * n * k


def bytes_moved(m: int, n: int, k: int, precision: str) -> float:
    """DRAM bytes of an (M, N, K) GEMM with each operand read once and the result written once."""
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
    _check_fraction("tflops_fraction", tflops_fraction)
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
    _check_fraction("tflops_fraction", tflops_fraction)
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
    m, n, k = (np.asarray(x, dtype=float) for x in (m, n, k))
    f = 2 * m * n * k
    b = (m * k + k * n) * input_bytes + m * n * output_bytes
    t = np.maximum(
        f / (peak_tflops_ * units.FLOPS_PER_TFLOPS), b / (bandwidth_gb_s_ * units.BYTES_PER_GB)
    )
    return f / t / units.FLOPS_PER_TFLOPS


# --- Measurements ------------------------------------------------------------------------------


def article_shapes() -> list[tuple[int, int, int]]:
    """The (M, N, K) shapes of the article's GEMM table, in its order."""
    out: list[tuple[int, int, int]] = []
    for c in claims.claims(kind="gemm"):
        s = (int(c.check["m"]), int(c.check["n"]), int(c.check["k"]))
        if s not in out:
            out.append(s)
    return out


def measured_tflops(gpu_id: str, m: int, n: int, k: int, precision: str) -> list[dict]:
    """Measurements of this GEMM on this GPU in ``data/measurements/kernels*.csv`` at any precision
    with the same datasheet peak (BF16 and FP16-with-FP32-accumulate share one rate on every catalog
    GPU): ``[{"tflops", "precision", "source", "date"}]``, sorted by source."""
    from gpucompare import measure

    frame = measure.load_kernel_measurements()
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


def measurement_table() -> pd.DataFrame:
    """Every kernel measurement with the datasheet ceiling it is measured against and the fraction
    of it attained: the evidence for the achievable-fraction parameters."""
    from gpucompare import measure

    rows = []
    for _, r in measure.load_kernel_measurements().iterrows():
        gpu = catalog.get_gpu(r["gpu_id"]) if r["gpu_id"] else None
        if r["benchmark"] == "gemm":
            what = f"GEMM {r['precision']} {int(r['m'])}x{int(r['n'])}x{int(r['k'])}"
            value, ceiling = (
                r["tflops"],
                (peak_tflops(r["gpu_id"], r["precision"]) if gpu else None),
            )
            unit = "TFLOPS"
        else:
            what = "device-to-device copy (read + written)"
            value = r["bandwidth_gb_s"]
            ceiling = gpu.spec("memory_bandwidth_gb_s") if gpu else None
            unit = "GB/s"
        rows.append(
            {
                "gpu": gpu.name if gpu else r["gpu_name"],
                "benchmark": what,
                "measured": float(value),
                "datasheet": ceiling,
                "unit": unit,
                "fraction of datasheet": None if ceiling is None else float(value) / ceiling,
                "software": " ".join(
                    s
                    for s in (
                        f"PyTorch {r['torch_version']}" if r["torch_version"] else "",
                        f"CUDA {r['cuda_version']}" if r["cuda_version"] else "",
                    )
                    if s
                ),
                "date": r["date"],
                "source": r["source"],
            }
        )
    frame = pd.DataFrame(rows).set_index(["gpu", "benchmark"]).astype(object)
    return frame.where(frame.notna(), None)


def measurement_caption(p) -> str:
    """One sentence: the measured fractions of the datasheet next to the parameters' defaults."""
    t = measurement_table()
    tensor = t[(t["unit"] == "TFLOPS") & t.index.get_level_values("benchmark").str.contains("8192")]
    tensor = tensor[~tensor.index.get_level_values("benchmark").str.contains("fp32|tf32")]
    copy = t[t["unit"] == "GB/s"]
    return (
        f"Large 16-bit GEMMs reach {_span(tensor['fraction of datasheet'])} of the dense tensor peak and "
        f"copies {_span(copy['fraction of datasheet'])} of the datasheet bandwidth; the model uses "
        f"{p.achievable_tflops_fraction:.0%} and {p.achievable_bandwidth_fraction:.0%}."
    )


def _span(values: pd.Series) -> str:
    """ "a% to b%" of a series of fractions, or "a%" when they round to one value."""
    lo, hi = f"{float(values.min()):.0%}", f"{float(values.max()):.0%}"
    return lo if lo == hi else f"{lo} to {hi}"


# --- Tables and figures for the notebook -------------------------------------------------------


def gemm_table(p) -> pd.DataFrame:
    """The article's GEMM table, one row per shape and GPU: its TFLOPS, the roofline prediction with
    the parameters' achievable fractions, the bound, intensity and ridge point, the median of any
    measurement, and the article's figure as a fraction of each."""
    rows = []
    for c in claims.claims(kind="gemm"):
        chk = c.check
        m, n, k, gid, prec = chk["m"], chk["n"], chk["k"], chk["gpu"], chk["precision"]
        est = roofline(
            m, n, k, gid, prec, p.achievable_tflops_fraction, p.achievable_bandwidth_fraction
        )
        meas = measured_tflops(gid, m, n, k, prec)
        med = statistics.median([x["tflops"] for x in meas]) if meas else None
        rows.append(
            {
                "shape (M x N x K)": f"{m} x {n} x {k}",
                "gpu": catalog.get_gpu(gid).name,
                "article_tflops": float(c.value),
                "roofline_tflops": est.tflops,
                "bound": est.bound,
                "intensity_flop_per_byte": est.intensity_flop_per_byte,
                "ridge_flop_per_byte": est.ridge_flop_per_byte,
                "measured_tflops": med,
                "article / roofline": float(c.value) / est.tflops,
                "article / measured": None if med is None else float(c.value) / med,
            }
        )
    frame = pd.DataFrame(rows).set_index(["shape (M x N x K)", "gpu"]).astype(object)
    return frame.where(frame.notna(), None)


def gemm_caption(p) -> str:
    """One sentence: how far the article's figures sit below the roofline, and the measured cases."""
    t = gemm_table(p)
    ratio = t["article / roofline"].astype(float)
    measured = t[t["measured_tflops"].notna()]
    parts = [
        f"{row['article_tflops']:g} where {row['measured_tflops']:.0f} was measured ({shape}, {gpu})"
        for (shape, gpu), row in measured.iterrows()
    ]
    return (
        f"The article's GEMM figures are {ratio.min():.0%} to {ratio.max():.0%} of the roofline "
        f"(median {ratio.median():.0%}); it prints " + "; ".join(parts) + "."
    )


def ridge_table(p) -> pd.DataFrame:
    """Per GPU and precision: datasheet and achievable peak and bandwidth, and the ridge points."""
    rows = []
    for gid in p.gpus:
        gpu = catalog.get_gpu(gid)
        for prec in RIDGE_PRECISIONS:
            if gpu.spec(GEMM_PRECISIONS[prec].peak_field) is None:
                continue
            rows.append(
                {
                    "gpu": gpu.name,
                    "precision": GEMM_PRECISIONS[prec].label,
                    "peak_tflops": peak_tflops(gid, prec),
                    "achievable_tflops": peak_tflops(gid, prec) * p.achievable_tflops_fraction,
                    "bandwidth_gb_s": bandwidth_gb_s(gid),
                    "achievable_bandwidth_gb_s": bandwidth_gb_s(gid)
                    * p.achievable_bandwidth_fraction,
                    "ridge_flop_per_byte": ridge_flop_per_byte(gid, prec),
                    "achievable_ridge_flop_per_byte": ridge_flop_per_byte(
                        gid, prec, p.achievable_tflops_fraction, p.achievable_bandwidth_fraction
                    ),
                }
            )
    return pd.DataFrame(rows).set_index(["gpu", "precision"])


def ridge_caption(p) -> str:
    """One sentence: the FP16 ridge points and what M a square-ish GEMM needs to cross them."""
    t = ridge_table(p).xs(GEMM_PRECISIONS["fp16"].label, level="precision")
    parts = [f"{gpu} {v:.0f}" for gpu, v in t["achievable_ridge_flop_per_byte"].items()]
    return (
        "Achievable ridge points at FP16 with FP32 accumulate (FLOP/byte): "
        + ", ".join(parts)
        + "; an M x 4096 x 4096 FP16 GEMM has an intensity of about M FLOP/byte for small M, so "
        "decode-sized GEMMs (M up to a few dozen) are memory-bound on every GPU."
    )


def gemm_figure(p):
    """Attainable FP16 TFLOPS against arithmetic intensity (log-log): each GPU's achievable roofline,
    the article's figures (circles) and the measurements (crosses) at their shapes' intensities."""
    fig, ax = new(
        "GEMM roofline (FP16, FP32 accumulate): article vs model vs measured",
        "arithmetic intensity (FLOP/byte)",
        "attainable throughput (TFLOPS)",
    )
    intensity = np.logspace(-0.5, 4, 300)
    t = gemm_table(p)
    for i, gid in enumerate(p.gpus):
        gpu = catalog.get_gpu(gid)
        peak = peak_tflops(gid, "fp16") * p.achievable_tflops_fraction
        bw_tb_s = bandwidth_gb_s(gid) * p.achievable_bandwidth_fraction / 1e3
        ax.loglog(
            intensity,
            np.minimum(peak, intensity * bw_tb_s),
            color=colour(i),
            label=f"{gpu.name} roofline",
        )
        if gpu.name in t.index.get_level_values("gpu"):
            rows = t.xs(gpu.name, level="gpu")
            ax.scatter(
                rows["intensity_flop_per_byte"].astype(float),
                rows["article_tflops"].astype(float),
                color=colour(i),
                marker="o",
                facecolors="none",
                label=f"{gpu.name} article",
            )
            meas = rows[rows["measured_tflops"].notna()]
            if len(meas):
                ax.scatter(
                    meas["intensity_flop_per_byte"].astype(float),
                    meas["measured_tflops"].astype(float),
                    color=colour(i),
                    marker="x",
                    label=f"{gpu.name} measured",
                )
    ax.legend(fontsize=7, loc="lower right")
    return fig


def gemm_figure_caption(p) -> str:
    """One sentence on the figure: how many article points sit below their GPU's roofline."""
    t = gemm_table(p)
    below = int((t["article / roofline"].astype(float) < 1 - ROOFLINE_TOLERANCE).sum())
    return (
        f"{below} of the article's {len(t)} GEMM figures lie more than {ROOFLINE_TOLERANCE:.0%} under "
        "their GPU's achievable roofline; where a measurement exists it sits on the roofline, not on the "
        "article's point."
    )


def square_sweep_table(p) -> pd.DataFrame:
    """Roofline TFLOPS of square FP16 GEMMs (M = N = K) per GPU, with the bound."""
    rows = []
    for s in FIGURE_SQUARE_SIZES:
        row = {"size (M = N = K)": s}
        for gid in p.gpus:
            est = roofline(
                s, s, s, gid, "fp16", p.achievable_tflops_fraction, p.achievable_bandwidth_fraction
            )
            name = catalog.get_gpu(gid).name
            row[f"{name} tflops"] = est.tflops
            row[f"{name} bound"] = est.bound
        rows.append(row)
    return pd.DataFrame(rows).set_index("size (M = N = K)")


def square_sweep_caption(p) -> str:
    """One sentence: the smallest square size that is compute-bound on each GPU."""
    t = square_sweep_table(p)
    parts = []
    for gid in p.gpus:
        name = catalog.get_gpu(gid).name
        cb = t.index[t[f"{name} bound"] == "compute"]
        parts.append(f"{name} from {cb.min():,}" if len(cb) else f"{name} never")
    return "Square FP16 GEMMs become compute-bound: " + "; ".join(parts) + " (M = N = K)."


# --- Claims audit -----------------------------------------------------------------------------


def _check_gemm(c):
    """A GEMM TFLOPS figure: wrong if above the datasheet roofline; else against the median of the
    measurements of that GEMM on that GPU, if any; else against the roofline with the default
    achievable fractions, where a figure far below it is unverifiable (a kernel can fall short of
    the roofline; only a measurement can refute it)."""
    from gpucompare import params
    from gpucompare.audit import Finding, relative_verdict

    p = params.validate(params.defaults_dict())
    chk = c.check
    m, n, k, gid, prec = chk["m"], chk["n"], chk["k"], chk["gpu"], chk["precision"]
    claimed = float(c.value)
    hard = roofline(m, n, k, gid, prec)
    est = roofline(
        m, n, k, gid, prec, p.achievable_tflops_fraction, p.achievable_bandwidth_fraction
    )
    shape = f"{m}x{n}x{k} on the {catalog.get_gpu(gid).name}"
    if claimed > hard.tflops * (1 + ROOFLINE_TOLERANCE):
        return Finding(
            hard.tflops,
            "wrong",
            f"{claimed:g} TFLOPS exceeds the datasheet roofline of {hard.tflops:.3g} ({hard.bound}-bound) for {shape}",
        )
    meas = measured_tflops(gid, m, n, k, prec)
    if meas:
        med = statistics.median([x["tflops"] for x in meas])
        listed = "; ".join(
            f"{x['tflops']:g} ({x['precision']}, {x['source']}, {x['date']})" for x in meas
        )
        return Finding(
            med,
            relative_verdict(claimed, med, MEASURED_TOLERANCE),
            f"measured {listed}; the article's {claimed:g} is {claimed / med:.0%} of the median "
            f"{med:.0f}; roofline {est.tflops:.0f} ({est.bound}-bound)",
        )
    verdict = relative_verdict(claimed, est.tflops, ROOFLINE_TOLERANCE)
    why = (
        f"roofline {est.tflops:.3g} TFLOPS ({est.bound}-bound, intensity "
        f"{est.intensity_flop_per_byte:.0f} FLOP/byte vs ridge {est.ridge_flop_per_byte:.0f}) for {shape}; "
        f"the article's {claimed:g} is {claimed / est.tflops:.0%} of it"
    )
    if verdict == "wrong" and claimed < est.tflops:
        verdict = "unverifiable"
        why += "; no measurement of this GEMM on this GPU in data/measurements (run `gpucompare measure`)"
    return Finding(est.tflops, verdict, why)


CLAIM_CHECKS = {"gemm": _check_gemm}
