"""Specifications section (``notebooks/01_specs.ipynb``): the spec table with ratios, the article's
spec figures against the datasheets, bandwidth per capacity, ridge points and the roofline, and the
per-SM derivation of peak tensor throughput, each a ready table or figure. The formulas are in
:mod:`gpucompare.model.specs`.

Units are in every column name. Ratios are "reference / other", the reference being the
first GPU of the ``gpus`` parameter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog, claims, spec_labels
from gpucompare.model import specs as spec_model
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import colour, legend, new, series
from gpucompare.sections.prose import fmt_extremes, fmt_range, join_words

#: Bandwidths per GiB within this factor of each other read as "the same rate" in captions.
SAME_RATE = 1.1

#: Rows whose ratio means nothing (identifiers and generations, not amounts).
NO_RATIO_ROWS = {
    "compute_capability",
    "pcie_generation",
    "memory_bus_width_bits",
    "mig_max_instances",
}

#: Precisions for ridge points: spec field -> label.
RIDGE_PRECISIONS: dict[str, str] = {
    "bf16_tensor_tflops": "BF16 tensor",
    "fp8_tensor_tflops": "FP8 tensor",
    "int8_tensor_tops": "INT8 tensor",
    "fp32_tflops": "FP32",
}


#: What a cell of a vendor-specific row (MIG, CUDA compute capability) shows for another vendor's GPU.
NOT_APPLICABLE = "not applicable"


def _cell(gpu_id: str, field: str) -> object:
    """One spec value; :data:`NOT_APPLICABLE` for a vendor-specific field the GPU does not have."""
    gpu = catalog.get_gpu(gpu_id)
    if field in catalog.NVIDIA_ONLY_FIELDS and gpu.vendor != catalog.NVIDIA:
        return NOT_APPLICABLE
    return gpu.spec(field)


def _names(gpu_ids: list[str]) -> dict[str, str]:
    return {g: catalog.get_gpu(g, "gpus").name for g in gpu_ids}


def _ratio(a: object, b: object) -> float | None:
    """a / b for two positive numbers; None when either is missing, zero or not a number."""
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if not numeric or not a or not b:
        return None
    return float(a) / float(b)


def _spec_frame(p: Params) -> pd.DataFrame:
    """Datasheet figures of the chosen GPUs, one row per quantity, plus the price in USD and
    ratio columns "reference / other" (the reference is ``p.gpus[0]``)."""
    names = _names(p.gpus)
    rows = {
        spec_labels.spec_label(field, p.gpus): {names[g]: _cell(g, field) for g in p.gpus}
        for field, _ in spec_labels.SPEC_LABELS
    }
    rows["price (USD)"] = {names[g]: p.price_of(g) for g in p.gpus}
    frame = pd.DataFrame.from_dict(rows, orient="index").astype(object)
    ref = names[p.gpus[0]]
    for g in p.gpus[1:]:
        frame[f"ratio {ref} / {names[g]}"] = [
            _ratio(a, b) for a, b in zip(frame[ref], frame[names[g]], strict=True)
        ]
    frame.index.name = "quantity"
    return frame.replace({np.nan: None})


def spec_table(p: Params) -> display.Table:
    """The spec table (see :func:`_spec_frame`); the caption quotes its biggest and smallest
    numeric ratios."""
    frame = _spec_frame(p)
    if len(p.gpus) < 2:
        caption = f"Datasheet figures of {catalog.get_gpu(p.gpus[0]).name}."
    else:
        col = frame.columns[len(p.gpus)]
        ratios = frame[col].dropna().astype(float)
        hi, lo = ratios.idxmax(), ratios.idxmin()
        caption = (
            f"Against {frame.columns[1]}, {frame.columns[0]} has {ratios[hi]:.1f}x the {hi} "
            f"but {ratios[lo]:.2f}x the {lo}; counts of cores hide the gaps in rates."
        )
    return display.table(frame, "spec_table", caption)


def _spec_claims_frame() -> pd.DataFrame:
    """The article's spec-table figures next to the catalog's datasheet values."""
    rows = []
    for c in claims.claims(kind="spec"):
        gpu = catalog.get_gpu(c.check["gpu"])
        sheet = gpu.spec(c.check["field"])
        same = (
            sheet == c.value
            if isinstance(c.value, bool) or isinstance(sheet, bool)
            else (
                sheet is not None and abs(float(c.value) - float(sheet)) <= 0.02 * abs(float(sheet))
            )
        )
        rows.append(
            {
                "claim": c.id,
                "gpu": gpu.name,
                "quantity": c.check["field"],
                "article": c.value,
                "datasheet": sheet,
                "agrees (within 2%)": bool(same),
            }
        )
    return pd.DataFrame(rows).set_index("claim")


def spec_claims() -> display.Table:
    """The article's spec figures against the datasheets; the caption names those that depart."""
    t = _spec_claims_frame()
    off = t.index[~t["agrees (within 2%)"]].tolist()
    caption = f"{len(off)} of the article's {len(t)} specification figures depart from the datasheets: {', '.join(off)}."
    return display.table(t, "spec_claims", caption)


def _bandwidth_frame(p: Params) -> pd.DataFrame:
    """Memory capacity and bandwidth per GPU, with bandwidth per GiB of capacity, the time to read
    the whole memory once (:func:`gpucompare.model.specs.full_memory_read_ms`) and bandwidth per
    thousand USD."""
    rows = []
    for g in p.gpus:
        gpu = catalog.get_gpu(g)
        gib = gpu.spec("memory_gib")
        bw = gpu.spec("memory_bandwidth_gb_s")
        rows.append(
            {
                "gpu": gpu.name,
                "memory_gib": gib,
                "memory_gb": units.gib_to_gb(gib),
                "memory_bandwidth_gb_s": bw,
                "bandwidth_per_capacity_gb_s_per_gib": bw / gib,
                "full_memory_read_ms": spec_model.full_memory_read_ms(gib, bw),
                "bandwidth_per_kusd_gb_s": bw / (p.price_of(g) / 1e3),
            }
        )
    return pd.DataFrame(rows).set_index("gpu")


def bandwidth_per_capacity(p: Params) -> display.Table:
    """Bandwidth per capacity (see :func:`_bandwidth_frame`); the caption quotes the spread of
    bandwidth per GiB and of the full-memory read time."""
    t = _bandwidth_frame(p)
    per = t["bandwidth_per_capacity_gb_s_per_gib"]
    read = t["full_memory_read_ms"]
    same = per.max() <= per.min() * SAME_RATE
    caption = (
        f"Bandwidth per GiB of memory is {fmt_extremes(per, 'GB/s', '.1f')}. Reading all of memory once "
        f"takes {fmt_range(read.min(), read.max(), 'ms')}"
        + (
            " on every GPU: what differs is how much memory there is to read, not how fast it is read."
            if same
            else "."
        )
    )
    return display.table(t, "bandwidth_per_capacity", caption)


def _ridge_frame(p: Params) -> pd.DataFrame:
    """Ridge point per GPU and precision (:func:`gpucompare.model.specs.ridge_point`, FLOP/byte)."""
    rows = []
    for g in p.gpus:
        gpu = catalog.get_gpu(g)
        bw = gpu.spec("memory_bandwidth_gb_s")
        row = {"gpu": gpu.name, "memory_bandwidth_gb_s": bw}
        for field, label in RIDGE_PRECISIONS.items():
            peak = gpu.spec(field)
            row[f"{label} ridge (FLOP/byte)"] = (
                None if peak is None else spec_model.ridge_point(peak, bw)
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("gpu").replace({np.nan: None})


def ridge_points(p: Params) -> display.Table:
    """Ridge points per GPU and precision, no decimals."""
    return display.table(
        _ridge_frame(p),
        "ridge_points",
        "A kernel below a GPU's ridge point is limited by memory bandwidth, not by tensor throughput.",
        digits=0,
    )


def _roofline_caption(t: pd.DataFrame, field: str) -> str:
    """One sentence quoting the ridge points of the chosen GPUs (``t`` from :func:`_ridge_frame`)."""
    col = f"{RIDGE_PRECISIONS[field]} ridge (FLOP/byte)"
    parts = [f"{gpu} {v:.0f}" for gpu, v in t[col].items() if v is not None]
    return (
        f"Ridge points ({RIDGE_PRECISIONS[field]}, FLOP/byte): {', '.join(parts)}; "
        "batch-1 decode (about 1 FLOP/byte) sits far left of every ridge, so it is bandwidth-bound on all of them."
    )


def roofline(p: Params, field: str = "bf16_tensor_tflops") -> display.Figure:
    """Attainable throughput against arithmetic intensity (log-log) for each chosen GPU at one
    precision (:func:`gpucompare.model.specs.attainable_tflops`); the caption quotes the ridge points."""
    label = RIDGE_PRECISIONS.get(field, field)
    fig, ax = new(
        f"Roofline, {label} (dense peak)",
        "arithmetic intensity (FLOP/byte)",
        "attainable throughput (TFLOPS)",
    )
    intensity = np.logspace(0, 4, 200)
    for i, g in enumerate(p.gpus):
        gpu = catalog.get_gpu(g)
        peak = gpu.spec(field)
        if peak is None:
            continue
        bw_tb_s = gpu.spec("memory_bandwidth_gb_s") / 1e3
        ax.loglog(
            intensity,
            spec_model.attainable_tflops(intensity, peak, bw_tb_s),
            label=gpu.name,
            **series(i, markers=False),
        )
        ridge = peak / bw_tb_s
        ax.axvline(ridge, color=colour(i), linestyle=":", linewidth=1)
    legend(ax, loc="lower right")
    return display.figure(fig, "roofline_bf16", _roofline_caption(_ridge_frame(p), field))


def tensor_derivation(p: Params) -> display.Table:
    """Peak tensor throughput derived from compute units (SMs, CUs), per-unit rate and clock against
    the datasheets (:func:`gpucompare.model.specs.tensor_derivation`); the caption quotes the worst
    error."""
    t = spec_model.tensor_derivation(p.gpus)
    worst = t["error_pct"].abs().max()
    unit = catalog.vendor_label(p.gpus, "compute_unit")
    vendors = list(dict.fromkeys(catalog.get_gpu(g).vendor for g in p.gpus))
    caption = (
        f"With the whitepapers' per-{unit} rates the formula reproduces all {len(t)} datasheet peaks "
        f"within {worst:.2f}%, when the clock is the one {join_words(vendors)} used for "
        f"{'its' if len(vendors) == 1 else 'their'} peak figures."
    )
    return display.table(t, "tensor_derivation", caption)


def _article_derivation_frame() -> pd.DataFrame:
    """The article's own derivation recomputed with its inputs, next to its result and the datasheet."""
    rows = []
    for c in claims.claims(kind="derivation"):
        chk = c.check
        recomputed = units.peak_tflops(
            chk["sm_count"], chk["fma_per_clock_per_sm"], chk["clock_mhz"]
        )
        gpu = catalog.get_gpu(chk["gpu"])
        rows.append(
            {
                "claim": c.id,
                "article's inputs": f"{chk['sm_count']} SMs x {chk['fma_per_clock_per_sm']} FMA/clock x {chk['clock_mhz']} MHz x 2",
                "article's result (TFLOPS)": c.value,
                "inputs actually give (TFLOPS)": recomputed,
                "datasheet (TFLOPS)": gpu.spec(chk["field"]),
                "article result / recomputed": c.value / recomputed,
            }
        )
    return pd.DataFrame(rows).set_index("claim")


def _article_derivation_caption(t: pd.DataFrame) -> str:
    """One sentence: how far the article's derivation misses its own result."""
    worst = t["article result / recomputed"].max()
    return (
        f"The article's per-SM arithmetic does not produce its own totals: its inputs give "
        f"{worst:.0f}x less than it states at worst, because it uses per-tensor-core rates as per-SM rates."
    )


def article_derivation() -> display.Table:
    """The article's derivation recomputed (see :func:`_article_derivation_frame`)."""
    t = _article_derivation_frame()
    return display.table(t, "article_derivation", _article_derivation_caption(t))


def _article_derivation_figure_caption(t: pd.DataFrame, names: dict[str, str]) -> str:
    """What the bars show, per GPU: the article's total, what its inputs give, and whether its totals
    are the datasheet's."""
    stated = t["article's result (TFLOPS)"].astype(float)
    given = t["inputs actually give (TFLOPS)"].astype(float)
    parts = [
        f"{names[claim]} {stated[claim]:,.0f} stated, {given[claim]:,.0f} from its inputs"
        for claim in t.index
    ]
    sheet = t["datasheet (TFLOPS)"].astype(float)
    match = bool(((stated / sheet - 1).abs() <= 0.02).all())
    return (
        "Per GPU: the article's total, what its own per-SM inputs give, and the datasheet. "
        + "; ".join(parts)
        + "."
        + (
            " Its totals are the datasheet's, so only the derivation is wrong."
            if match
            else " Its totals also depart from the datasheet."
        )
    )


def article_derivation_figure() -> display.Figure:
    """Bars: the article's stated FP16 peak, what its own per-SM inputs give, and the datasheet, one
    group per GPU of the article's derivations."""
    t = _article_derivation_frame()
    names = {c.id: catalog.get_gpu(c.check["gpu"]).name for c in claims.claims(kind="derivation")}
    fig, ax = new(
        "Peak FP16 tensor throughput: article vs its own inputs",
        "GPU",
        "peak FP16 tensor throughput (TFLOPS, dense)",
    )
    x = np.arange(len(t))
    bars = [
        ("article's result (TFLOPS)", "article states"),
        ("inputs actually give (TFLOPS)", "article's inputs give"),
        ("datasheet (TFLOPS)", "datasheet"),
    ]
    width = 0.27
    for i, (col, label) in enumerate(bars):
        ax.bar(x + (i - 1) * width, t[col].astype(float), width, label=label, color=colour(i))
    ax.set_xticks(x, [names[c] for c in t.index])
    legend(ax)
    return display.figure(fig, "article_derivation", _article_derivation_figure_caption(t, names))


def sources(p: Params) -> display.Table:
    """The documents cited by the chosen GPUs' figures (``data/gpus.yaml``, ``data/architectures.yaml``)."""
    return display.table(catalog.gpu_sources_frame(p.gpus), "specs_sources")
