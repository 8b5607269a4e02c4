"""GEMM part of the GEMM and throughput section (``notebooks/03_gemm.ipynb``): the kernel
measurements behind the achievable fractions, ridge points, the article's GEMM table against the
roofline, the roofline figure and the square-size sweep, each a ready table or figure. The formulas
are in :mod:`gpucompare.model.gemm`; the throughput results in :mod:`gpucompare.sections.throughput`."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd

from gpucompare.audit.gemm import ROOFLINE_TOLERANCE
from gpucompare.data import catalog, claims
from gpucompare.data.measurements import load_kernel_measurements
from gpucompare.model import gemm
from gpucompare.model.sustained import sustained_fraction
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import colour, legend, new, series

#: Precisions shown in the ridge table.
RIDGE_PRECISIONS = ("fp16", "fp16_fp16acc", "tf32", "fp8")
#: Square sizes of the roofline-against-size table.
FIGURE_SQUARE_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384)


# --- Measurements ------------------------------------------------------------------------------


def _measurement_frame() -> pd.DataFrame:
    """Every kernel measurement with the datasheet ceiling it is measured against and the fraction
    of it attained: the evidence for the achievable-fraction parameters."""
    rows = []
    for _, r in load_kernel_measurements().iterrows():
        gpu = catalog.get_gpu(r["gpu_id"]) if r["gpu_id"] else None
        if r["benchmark"] == "gemm":
            what = f"GEMM {r['precision']} {int(r['m'])}x{int(r['n'])}x{int(r['k'])}"
            value, ceiling = (
                r["tflops"],
                (gemm.peak_tflops(r["gpu_id"], r["precision"]) if gpu else None),
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
    return display.nones(pd.DataFrame(rows).set_index(["gpu", "benchmark"]))


def _span(values: pd.Series) -> str:
    """ "a% to b%" of a series of fractions, or "a%" when they round to one value."""
    lo, hi = f"{float(values.min()):.0%}", f"{float(values.max()):.0%}"
    return lo if lo == hi else f"{lo} to {hi}"


def kernel_measurements(p: Params) -> display.Table:
    """The kernel measurements (see :func:`_measurement_frame`); the caption sets the measured
    fractions of the datasheet next to the parameters' achievable fractions."""
    t = _measurement_frame()
    tensor = t[(t["unit"] == "TFLOPS") & t.index.get_level_values("benchmark").str.contains("8192")]
    tensor = tensor[~tensor.index.get_level_values("benchmark").str.contains("fp32|tf32")]
    copy = t[t["unit"] == "GB/s"]
    caption = (
        f"Large 16-bit GEMMs reach {_span(tensor['fraction of datasheet'])} of the dense tensor peak and "
        f"copies {_span(copy['fraction of datasheet'])} of the datasheet bandwidth; the model uses "
        f"the sustained fractions {p.sustained_fraction_datacenter:.0%} (datacenter) and "
        f"{p.sustained_fraction_consumer:.0%} (consumer) of the tensor peak, as the reliability section "
        f"does, and {p.achievable_bandwidth_fraction:.0%} of the bandwidth."
    )
    return display.table(t, "kernel_measurements", caption, **{"fraction of datasheet": 3})


# --- Ridge points and the article's GEMM table -------------------------------------------------


def _ridge_frame(p: Params) -> pd.DataFrame:
    """Per GPU and precision: datasheet and achievable peak and bandwidth, and the ridge points."""
    rows = []
    for gid in p.gpus:
        gpu = catalog.get_gpu(gid)
        for prec in RIDGE_PRECISIONS:
            if gpu.spec(gemm.GEMM_PRECISIONS[prec].peak_field) is None:
                continue
            rows.append(
                {
                    "gpu": gpu.name,
                    "precision": gemm.GEMM_PRECISIONS[prec].label,
                    "peak_tflops": gemm.peak_tflops(gid, prec),
                    "achievable_tflops": gemm.peak_tflops(gid, prec) * sustained_fraction(p, gid),
                    "bandwidth_gb_s": gemm.bandwidth_gb_s(gid),
                    "achievable_bandwidth_gb_s": gemm.bandwidth_gb_s(gid)
                    * p.achievable_bandwidth_fraction,
                    "ridge_flop_per_byte": gemm.ridge_flop_per_byte(gid, prec),
                    "achievable_ridge_flop_per_byte": gemm.ridge_flop_per_byte(
                        gid, prec, sustained_fraction(p, gid), p.achievable_bandwidth_fraction
                    ),
                }
            )
    return pd.DataFrame(rows).set_index(["gpu", "precision"])


def ridge_points(p: Params) -> display.Table:
    """Ridge points per GPU and precision (see :func:`_ridge_frame`); the caption gives the FP16
    ones and what M a square-ish GEMM needs to cross them."""
    t = _ridge_frame(p)
    fp16 = t.xs(gemm.GEMM_PRECISIONS["fp16"].label, level="precision")
    parts = [f"{gpu} {v:.0f}" for gpu, v in fp16["achievable_ridge_flop_per_byte"].items()]
    caption = (
        "Achievable ridge points at FP16 with FP32 accumulate (FLOP/byte): "
        + ", ".join(parts)
        + "; an M x 4096 x 4096 FP16 GEMM has an intensity of about M FLOP/byte for small M, so "
        "decode-sized GEMMs (M up to a few dozen) are memory-bound on every GPU."
    )
    return display.table(t, "gemm_ridge", caption)


def _article_frame(p: Params) -> pd.DataFrame:
    """The article's GEMM table, one row per shape and GPU: its TFLOPS, the roofline prediction with
    the parameters' achievable fractions, the bound, intensity and ridge point, the median of any
    measurement, and the article's figure as a fraction of each."""
    rows = []
    for c in claims.claims(kind="gemm"):
        chk = c.check
        m, n, k, gid, prec = chk["m"], chk["n"], chk["k"], chk["gpu"], chk["precision"]
        est = gemm.roofline(
            m, n, k, gid, prec, sustained_fraction(p, gid), p.achievable_bandwidth_fraction
        )
        meas = gemm.measured_tflops(gid, m, n, k, prec)
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
    return display.nones(pd.DataFrame(rows).set_index(["shape (M x N x K)", "gpu"]))


def article_gemms(p: Params) -> display.Table:
    """The article's GEMM table against the roofline (see :func:`_article_frame`); the caption
    says how far its figures sit below the roofline and lists the measured cases."""
    t = _article_frame(p)
    ratio = t["article / roofline"].astype(float)
    measured = t[t["measured_tflops"].notna()]
    parts = [
        f"{row['article_tflops']:g} where {row['measured_tflops']:.0f} was measured ({shape}, {gpu})"
        for (shape, gpu), row in measured.iterrows()
    ]
    caption = (
        f"The article's GEMM figures are {_span(ratio)} of the roofline "
        f"(median {ratio.median():.0%}); it prints " + "; ".join(parts) + "."
    )
    return display.table(
        t,
        "gemm_article",
        caption,
        **{"intensity_flop_per_byte": 0, "ridge_flop_per_byte": 0},
    )


def roofline_figure(p: Params) -> display.Figure:
    """Attainable FP16 TFLOPS against arithmetic intensity (log-log): each GPU's achievable roofline,
    the article's figures (circles) and the measurements (crosses) at their shapes' intensities;
    the caption counts the article's points far below their GPU's roofline."""
    fig, ax = new(
        "GEMM roofline (FP16, FP32 accumulate): article vs model vs measured",
        "arithmetic intensity (FLOP/byte)",
        "attainable throughput (TFLOPS)",
    )
    intensity = np.logspace(-0.5, 4, 300)
    t = _article_frame(p)
    for i, gid in enumerate(p.gpus):
        gpu = catalog.get_gpu(gid)
        peak = gemm.peak_tflops(gid, "fp16") * sustained_fraction(p, gid)
        bw_tb_s = gemm.bandwidth_gb_s(gid) * p.achievable_bandwidth_fraction / 1e3
        ax.loglog(
            intensity,
            np.minimum(peak, intensity * bw_tb_s),
            label=f"{gpu.name} roofline",
            **series(i, markers=False),
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
    legend(ax, loc="lower right")
    below = int((t["article / roofline"].astype(float) < 1 - ROOFLINE_TOLERANCE).sum())
    caption = (
        f"{below} of the article's {len(t)} GEMM figures lie more than {ROOFLINE_TOLERANCE:.0%} under "
        "their GPU's achievable roofline; where a measurement exists it sits on the roofline, not on the "
        "article's point."
    )
    return display.figure(fig, "gemm_roofline", caption)


# --- Square GEMMs ------------------------------------------------------------------------------


def _square_sweep_frame(p: Params) -> pd.DataFrame:
    """Roofline TFLOPS of square FP16 GEMMs (M = N = K) per GPU, with the bound."""
    rows = []
    for s in FIGURE_SQUARE_SIZES:
        row = {"size (M = N = K)": s}
        for gid in p.gpus:
            est = gemm.roofline(
                s, s, s, gid, "fp16", sustained_fraction(p, gid), p.achievable_bandwidth_fraction
            )
            name = catalog.get_gpu(gid).name
            row[f"{name} tflops"] = est.tflops
            row[f"{name} bound"] = est.bound
        rows.append(row)
    return pd.DataFrame(rows).set_index("size (M = N = K)")


def square_sweep(p: Params) -> display.Table:
    """Square FP16 GEMMs against size (see :func:`_square_sweep_frame`); the caption gives the
    smallest compute-bound size on each GPU."""
    t = _square_sweep_frame(p)
    parts = []
    for gid in p.gpus:
        name = catalog.get_gpu(gid).name
        cb = t.index[t[f"{name} bound"] == "compute"]
        parts.append(f"{name} from {cb.min():,}" if len(cb) else f"{name} never")
    caption = "Square FP16 GEMMs become compute-bound: " + "; ".join(parts) + " (M = N = K)."
    return display.table(t, "gemm_square_sweep", caption)
