"""Specification comparison: the spec table with ratios, bandwidth per capacity, ridge points,
and the per-SM derivation of peak tensor throughput.

Units are in every column name. Ratios are "reference / other", the reference being the
first GPU of the ``gpus`` parameter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog, claims
from gpucompare.params import Params
from gpucompare.sections.figures import colour, new

#: (spec field, row label with unit) shown in the spec table, in order.
SPEC_ROWS: list[tuple[str, str]] = [
    ("architecture", "architecture"),
    ("chip", "chip"),
    ("compute_capability", "compute capability"),
    ("sm_count", "SMs"),
    ("cuda_cores", "CUDA cores (FP32 lanes)"),
    ("tensor_cores", "tensor cores"),
    ("boost_clock_mhz", "boost clock (MHz)"),
    ("fp16_tensor_fp32acc_tflops", "FP16 tensor, FP32 accumulate (TFLOPS, dense)"),
    ("fp16_tensor_fp16acc_tflops", "FP16 tensor, FP16 accumulate (TFLOPS, dense)"),
    ("bf16_tensor_tflops", "BF16 tensor (TFLOPS, dense)"),
    ("tf32_tensor_tflops", "TF32 tensor (TFLOPS, dense)"),
    ("fp8_tensor_tflops", "FP8 tensor (TFLOPS, dense)"),
    ("int8_tensor_tops", "INT8 tensor (TOPS, dense)"),
    ("fp32_tflops", "FP32 non-tensor (TFLOPS)"),
    ("fp64_tflops", "FP64 non-tensor (TFLOPS)"),
    ("fp64_tensor_tflops", "FP64 tensor (TFLOPS)"),
    ("memory_gib", "memory (GiB)"),
    ("memory_type", "memory type"),
    ("memory_bus_width_bits", "memory bus (bits)"),
    ("memory_bandwidth_gb_s", "memory bandwidth (GB/s)"),
    ("nvlink_bandwidth_total_gb_s", "NVLink, both directions (GB/s)"),
    ("nvlink_bandwidth_per_direction_gb_s", "NVLink, per direction (GB/s)"),
    ("pcie_generation", "PCIe generation"),
    ("pcie_lanes", "PCIe lanes"),
    ("tdp_w", "TDP (W)"),
    ("ecc", "ECC memory"),
    ("mig_max_instances", "MIG instances (max)"),
]

#: Rows whose ratio means nothing (identifiers and generations, not amounts).
NO_RATIO_ROWS = {
    "compute_capability",
    "pcie_generation",
    "memory_bus_width_bits",
    "mig_max_instances",
}

#: Throughput spec fields and the key of their per-SM rate in ``data/architectures.yaml``.
TENSOR_RATES: dict[str, str] = {
    "fp16_tensor_fp32acc_tflops": "fp16_fp32acc",
    "fp16_tensor_fp16acc_tflops": "fp16_fp16acc",
    "bf16_tensor_tflops": "bf16_fp32acc",
    "tf32_tensor_tflops": "tf32",
    "fp8_tensor_tflops": "fp8_fp32acc",
    "int8_tensor_tops": "int8",
}

#: Precisions for ridge points: spec field -> label.
RIDGE_PRECISIONS: dict[str, str] = {
    "bf16_tensor_tflops": "BF16 tensor",
    "fp8_tensor_tflops": "FP8 tensor",
    "int8_tensor_tops": "INT8 tensor",
    "fp32_tflops": "FP32",
}


def _names(gpu_ids: list[str]) -> dict[str, str]:
    return {g: catalog.get_gpu(g, "gpus").name for g in gpu_ids}


def _ratio(a: object, b: object) -> float | None:
    """a / b for two positive numbers; None when either is missing, zero or not a number."""
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if not numeric or not a or not b:
        return None
    return float(a) / float(b)


def spec_table(p: Params) -> pd.DataFrame:
    """Datasheet figures of the chosen GPUs, one row per quantity, plus the price in USD and
    ratio columns "reference / other" (the reference is ``p.gpus[0]``)."""
    names = _names(p.gpus)
    rows = {
        label: {names[g]: catalog.get_gpu(g).spec(field) for g in p.gpus}
        for field, label in SPEC_ROWS
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


def spec_caption(p: Params) -> str:
    """One sentence quoting the biggest and smallest numeric ratios of the spec table."""
    if len(p.gpus) < 2:
        return f"Datasheet figures of {catalog.get_gpu(p.gpus[0]).name}."
    frame = spec_table(p)
    col = frame.columns[len(p.gpus)]
    ratios = frame[col].dropna().astype(float)
    hi, lo = ratios.idxmax(), ratios.idxmin()
    return (
        f"Against {frame.columns[1]}, {frame.columns[0]} has {ratios[hi]:.1f}x the {hi} "
        f"but {ratios[lo]:.2f}x the {lo}; counts of cores hide the gaps in rates."
    )


def bandwidth_table(p: Params) -> pd.DataFrame:
    """Memory capacity and bandwidth per GPU, with bandwidth per GiB of capacity and the time
    to read the whole memory once (ms) = capacity (bytes) / bandwidth (bytes/s): the floor
    of one decode step of a model that fills the GPU."""
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
                "full_memory_read_ms": units.gib_to_gb(gib) / bw * 1e3,
                "bandwidth_per_kusd_gb_s": bw / (p.price_of(g) / 1e3),
            }
        )
    return pd.DataFrame(rows).set_index("gpu")


def bandwidth_caption(p: Params) -> str:
    """One sentence quoting the spread of bandwidth per GiB and of the full-memory read time."""
    t = bandwidth_table(p)
    per = t["bandwidth_per_capacity_gb_s_per_gib"]
    read = t["full_memory_read_ms"]
    return (
        f"Bandwidth per GiB of memory ranges from {per.min():.1f} ({per.idxmin()}) to {per.max():.1f} GB/s "
        f"({per.idxmax()}), so reading all of memory once takes {read.min():.1f} to {read.max():.1f} ms on every GPU: "
        "what differs is how much memory there is to read, not how fast it is read."
    )


def ridge_table(p: Params) -> pd.DataFrame:
    """Ridge point per GPU and precision: peak ops/s / memory bytes/s (FLOP per byte).

    A kernel with fewer operations per byte moved than the ridge point is memory-bound on
    that GPU (Williams, Waterman & Patterson, "Roofline", CACM 2009)."""
    rows = []
    for g in p.gpus:
        gpu = catalog.get_gpu(g)
        bw = gpu.spec("memory_bandwidth_gb_s")
        row = {"gpu": gpu.name, "memory_bandwidth_gb_s": bw}
        for field, label in RIDGE_PRECISIONS.items():
            peak = gpu.spec(field)
            row[f"{label} ridge (FLOP/byte)"] = (
                None if peak is None else peak * units.FLOPS_PER_TFLOPS / (bw * units.BYTES_PER_GB)
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("gpu").replace({np.nan: None})


def derivation_table(p: Params) -> pd.DataFrame:
    """Peak tensor throughput derived as SMs x dense FMA/clock/SM x clock x 2, per GPU and data type.

    The per-SM rates come from ``data/architectures.yaml``; the clock is the one NVIDIA
    used for its peak figures where the catalog states it, else the boost clock. The
    ``implied_clock_mhz`` column solves the same formula for the clock that reproduces the
    datasheet figure exactly."""
    rows = []
    for g in p.gpus:
        gpu = catalog.get_gpu(g)
        variant = catalog.arch_variant(g)
        sms = gpu.spec("sm_count")
        clock = gpu.spec("peak_tflops_clock_mhz") or gpu.spec("boost_clock_mhz")
        for field, rate_key in TENSOR_RATES.items():
            rate = variant.fma_per_clock_per_sm.get(rate_key)
            sheet = gpu.spec(field)
            if rate is None or rate.value is None or sheet is None:
                continue
            derived = units.peak_tflops(sms, rate.value, clock)
            rows.append(
                {
                    "gpu": gpu.name,
                    "data type": field.removesuffix("_tflops").removesuffix("_tops"),
                    "sm_count": sms,
                    "fma_per_clock_per_sm": rate.value,
                    "clock_mhz": clock,
                    "derived_tflops": derived,
                    "datasheet_tflops": sheet,
                    "error_pct": (derived / sheet - 1) * 100,
                    "implied_clock_mhz": units.implied_clock_mhz(sheet, sms, rate.value),
                }
            )
    return pd.DataFrame(rows).set_index(["gpu", "data type"])


def derivation_caption(p: Params) -> str:
    """One sentence quoting how close the derivation comes to the datasheets."""
    t = derivation_table(p)
    worst = t["error_pct"].abs().max()
    return (
        f"With the whitepapers' per-SM rates the formula reproduces all {len(t)} datasheet peaks within "
        f"{worst:.2f}%, when the clock is the one NVIDIA used for its peak figures."
    )


def article_derivation_table() -> pd.DataFrame:
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


def article_derivation_caption() -> str:
    """One sentence: how far the article's derivation misses its own result."""
    t = article_derivation_table()
    worst = t["article result / recomputed"].max()
    return (
        f"The article's per-SM arithmetic does not produce its own totals: its inputs give "
        f"{worst:.0f}x less than it states at worst, because it uses per-tensor-core rates as per-SM rates."
    )


def spec_claims_table(p: Params) -> pd.DataFrame:
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


def spec_claims_caption(p: Params) -> str:
    """One sentence naming the article's spec figures that depart from the datasheets."""
    t = spec_claims_table(p)
    off = t.index[~t["agrees (within 2%)"]].tolist()
    return f"{len(off)} of the article's {len(t)} specification figures depart from the datasheets: {', '.join(off)}."


def roofline_figure(p: Params, field: str = "bf16_tensor_tflops"):
    """Attainable throughput = min(peak, intensity x bandwidth) against arithmetic intensity
    (log-log) for each chosen GPU, at one precision."""
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
        ax.loglog(intensity, np.minimum(peak, intensity * bw_tb_s), color=colour(i), label=gpu.name)
        ridge = peak / bw_tb_s
        ax.axvline(ridge, color=colour(i), linestyle=":", linewidth=1)
    ax.legend(loc="lower right")
    return fig


def roofline_caption(p: Params, field: str = "bf16_tensor_tflops") -> str:
    """One sentence quoting the ridge points of the chosen GPUs."""
    t = ridge_table(p)
    col = f"{RIDGE_PRECISIONS[field]} ridge (FLOP/byte)"
    parts = [f"{gpu} {v:.0f}" for gpu, v in t[col].items() if v is not None]
    return (
        f"Ridge points ({RIDGE_PRECISIONS[field]}, FLOP/byte): {', '.join(parts)}; "
        "batch-1 decode (about 1 FLOP/byte) sits far left of every ridge, so it is bandwidth-bound on all of them."
    )


def derivation_figure():
    """Bars: the article's stated FP16 peak, what its own per-SM inputs give, and the datasheet."""
    t = article_derivation_table()
    fig, ax = new(
        "Peak FP16 tensor throughput: article vs its own inputs",
        "GPU (article claim)",
        "TFLOPS (dense)",
    )
    x = np.arange(len(t))
    series = [
        ("article's result (TFLOPS)", "article states"),
        ("inputs actually give (TFLOPS)", "article's inputs give"),
        ("datasheet (TFLOPS)", "datasheet"),
    ]
    width = 0.27
    for i, (col, label) in enumerate(series):
        ax.bar(x + (i - 1) * width, t[col].astype(float), width, label=label, color=colour(i))
    ax.set_xticks(x, t.index)
    ax.legend()
    return fig


# --- Claims audit -----------------------------------------------------------------------------

#: Relative tolerance for a spec figure to count as the datasheet's (datasheets round to 3 digits).
SPEC_TOLERANCE = 0.02


def _check_spec(c):
    """A spec-table figure against the catalog's datasheet value; a figure that matches another
    field instead (``check.alternatives``) is misleading: right number, wrong quantity."""
    from gpucompare.audit import Finding, relative_verdict

    gpu = catalog.get_gpu(c.check["gpu"])
    field = c.check["field"]
    sheet = gpu.spec(field)
    if isinstance(sheet, bool) or isinstance(c.value, bool):
        verdict = "ok" if sheet == c.value else "wrong"
        note = getattr(gpu.specs, field).note
        return Finding(
            sheet,
            verdict,
            f"datasheet: {field} = {sheet} for {gpu.name}" + (f" ({note})" if note else ""),
        )
    verdict = relative_verdict(float(c.value), float(sheet), SPEC_TOLERANCE)
    if verdict == "wrong":
        for alt in c.check.get("alternatives", []):
            alt_value = gpu.spec(alt)
            if (
                alt_value
                and relative_verdict(float(c.value), float(alt_value), SPEC_TOLERANCE) == "ok"
            ):
                return Finding(
                    sheet,
                    "misleading",
                    f"{c.value} is {gpu.name}'s {alt} ({alt_value}), not its {field} ({sheet})",
                )
    return Finding(sheet, verdict, f"datasheet {field} of {gpu.name}: {sheet}")


def _check_derivation(c):
    """The article's SMs x rate x clock x 2 with its own inputs, against the total it states."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    computed = units.peak_tflops(chk["sm_count"], chk["fma_per_clock_per_sm"], chk["clock_mhz"])
    sheet = catalog.get_gpu(chk["gpu"]).spec(chk["field"])
    return Finding(
        computed,
        relative_verdict(float(c.value), computed, SPEC_TOLERANCE),
        f"its inputs give {computed:.1f} TFLOPS, {c.value / computed:.1f}x less than it states; the datasheet's "
        f"{sheet} needs the whitepaper's per-SM rate ({catalog.arch_variant(chk['gpu']).fma_per_clock_per_sm[TENSOR_RATES[chk['field']]].value:.0f} FMA/clock/SM)",
    )


CLAIM_CHECKS = {"spec": _check_spec, "derivation": _check_derivation}
