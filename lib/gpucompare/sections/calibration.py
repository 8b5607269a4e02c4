"""Engine calibration part of the GEMM and throughput section (``notebooks/03_gemm.ipynb``): the
engines, their fitted rates, predicted against measured speeds, the held-out error, the rows the
model leaves out, and how the H100:RTX 4090 ratio depends on the engine. The fit is in
:mod:`gpucompare.model.calibration`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.data import engines
from gpucompare.data.measurements import load_exclusions, load_inference
from gpucompare.model import calibration, calibration_data
from gpucompare.model import throughput as tp
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import marker, new_row, row_legend
from gpucompare.sections.prose import fmt_extremes

#: Batch sizes of the engine ratio table: one user, and a served batch.
RATIO_BATCHES = (1, 32)
#: Context of the ratio table (tokens per sequence): a chat turn, so that batch 32 fits a 24 GB card.
RATIO_CONTEXT_TOKENS = 1024
#: The 4-bit weight format the ratio table gives each engine: the first of these it runs.
FOUR_BIT_FORMATS = ("int4", "q4_k_m", "q4f16_1", "q4_0")


def engines_table() -> display.Table:
    """One row per engine of ``data/engines.yaml``: split, formats, measurements behind its fit."""
    _, rows = calibration.fitted()
    counts = rows.groupby("engine").size()
    t = pd.DataFrame(
        [
            {
                "engine": e.id,
                "name": e.name,
                "multi-GPU split": e.split,
                "weight formats": ", ".join(e.weights),
                "KV-cache formats": ", ".join(e.kv_cache),
                "measurements fitted": int(counts.get(e.id, 0)),
                "source": e.source,
            }
            for e in engines.engine_catalog().engines
        ]
    ).set_index("engine")
    none = t.index[t["measurements fitted"] == 0].tolist()
    caption = f"{len(t) - len(none)} of {len(t)} engines have measurements behind their fit; " + (
        f"{', '.join(none)} use every engine's typical values." if none else "all are fitted."
    )
    return display.table(t, "engines", caption)


def _parameters_frame(p: Params) -> pd.DataFrame:
    rows = []
    for e in engines.engine_ids():
        for g in p.gpus:
            prm = calibration.parameters(e, g)
            rows.append({"engine": e, "gpu": g, **prm})
    return pd.DataFrame(rows).set_index(["engine", "gpu"])


def fitted_parameters(p: Params) -> display.Table:
    """The fitted rates of every engine on the report's GPUs, with their provenance."""
    t = _parameters_frame(p)
    fitted = int((t["fitted_on_rows"] > 0).sum())
    caption = (
        f"{fitted} of the {len(t)} engine-GPU pairs are fitted on measurements of that pair; the others "
        "fall back to the engine's values with the GPU's segment and memory technology, or to every "
        "engine's typical values (provenance column)."
    )
    return display.table(
        t,
        "engine_parameters",
        caption,
        # The provenance sentence gives the counts ("fitted on 11 measurements of ...").
        hidden=("fitted_on_rows", "engine_rows"),
        achieved_bandwidth_fraction=2,
        achieved_compute_fraction=2,
        attention_compute_fraction=2,
        communication_scale=2,
    )


def _summary() -> pd.DataFrame:
    return calibration.error_summary(calibration.cross_validate())


def _meets(value: float, target: float) -> str:
    return "meets" if value <= target else "misses"


def residuals() -> display.Table:
    """Median and worst |error| per engine, in sample and held out (one GPU or one source out)."""
    t = _summary()
    row = t.loc["all"]
    med = max(row["median_abs_error_held_out_gpu"], row["median_abs_error_held_out_source"])
    worst = max(row["worst_abs_error_held_out_gpu"], row["worst_abs_error_held_out_source"])
    caption = (
        f"Over {int(row['measurements'])} measurements the model is off by a median "
        f"{row['median_abs_error_in_sample']:.0%} in sample, {row['median_abs_error_held_out_gpu']:.0%} "
        f"when a whole GPU is left out of the fit and {row['median_abs_error_held_out_source']:.0%} when "
        f"a whole source is; the larger held-out median {_meets(med, calibration.TARGET_MEDIAN)} the "
        f"{calibration.TARGET_MEDIAN:.0%} target, the worst held-out error ({worst:.0%}) "
        f"{_meets(worst, calibration.TARGET_WORST)} the {calibration.TARGET_WORST:.0%} target."
    )
    shown = t.rename(columns={c: f"{c}_pct" for c in t.columns if c != "measurements"})
    for c in shown.columns:
        if c.endswith("_pct"):
            shown[c] = shown[c] * 100
    return display.table(shown, "calibration_errors", caption, digits=0)


def predicted_vs_measured() -> display.Figure:
    """Predicted against measured tokens/s (log-log), coloured by engine: in sample, and with
    each GPU left out of the fit."""
    cv = calibration.cross_validate()
    fig, axes = new_row(
        "Throughput model against public measurements",
        ["fitted on all measurements", "each GPU left out of the fit"],
        "measured (tokens/s)",
        "predicted (tokens/s)",
    )
    lo, hi = cv["measured_tokens_per_s"].min() / 2, cv["measured_tokens_per_s"].max() * 2
    for ax, col in zip(axes, ["predicted_tokens_per_s", "held_out_gpu_tokens_per_s"], strict=True):
        for i, (eng, g) in enumerate(sorted(cv.groupby("engine"))):
            ax.scatter(g["measured_tokens_per_s"], g[col], s=12, alpha=0.7, label=eng, **marker(i))
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.fill_between(
            [lo, hi], [lo * 0.7, hi * 0.7], [lo * 1.3, hi * 1.3], color="grey", alpha=0.15
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
    row_legend(fig, axes, ncols=6)
    within = float((cv["error_held_out_gpu"].abs() <= 0.3).mean())
    caption = (
        f"Each point is one published measurement, its engine told by colour and marker; the grey "
        f"band is ±30%. With each GPU left out of the fit, {within:.0%} of the {len(cv)} predictions "
        "stay within it."
    )
    return display.figure(fig, "calibration_scatter", caption)


def not_modelled() -> display.Table:
    """Measurements kept in the data but not in the fit, each with the reason."""
    frame = load_inference()
    excluded = load_exclusions(known_ids=tuple(frame["id"]))
    rows = []
    for row in frame.itertuples(index=False):
        r = row._asdict()
        reason = calibration_data.not_modelled_reason(r) or excluded.get(r["id"])
        if reason:
            rows.append(
                {
                    "id": r["id"],
                    "engine": r["engine"],
                    "gpu": r["gpu_id"],
                    "gpus": r["gpus"],
                    "split": r["split"],
                    "weights": r["weights"],
                    "metric": r["metric"],
                    "measured_tokens_per_s": r["measured_tokens_per_s"],
                    "reason": reason,
                }
            )
    t = pd.DataFrame(rows).set_index("id")
    caption = (
        f"{len(t)} of {len(frame)} measurements are not in the fit. The reason column says why: a "
        "multi-GPU split the engine no longer uses by default, FP8 on GPUs without FP8 tensor cores "
        "(the report marks it unsupported), or a result that contradicts the same source's other runs."
    )
    return display.table(t, "calibration_not_modelled", caption, digits=0)


def ratio_frame(p: Params) -> pd.DataFrame:
    """Per engine: decode tokens/s of the first two GPUs and their ratio at batch 1 and 32."""
    ref, other = p.gpus[0], p.gpus[1] if len(p.gpus) > 1 else p.gpus[0]
    model, kv, ctx = p.workloads[0].model, p.workloads[0].kv_cache, RATIO_CONTEXT_TOKENS
    rows = []
    for e in engines.engine_ids():
        q = p.model_copy(update={"engine": e})
        fmt = next((f for f in FOUR_BIT_FORMATS if engines.runs(e, f, kv)), None)
        row = {"engine": e, "weights": fmt}
        for b in RATIO_BATCHES:
            ta = tc = None
            if fmt is not None:  # an engine with no 4-bit format for this KV cache: empty row
                ta = tp.decode_step(q, model, fmt, kv, b, ctx, ref)["tokens_per_s"]
                tc = tp.decode_step(q, model, fmt, kv, b, ctx, other)["tokens_per_s"]
            row[f"{ref} batch {b} (tokens/s)"] = ta
            row[f"{other} batch {b} (tokens/s)"] = tc
            row[f"ratio batch {b}"] = ta / tc if ta and tc else None
        prov = [calibration.provenance(calibration.base_fit(), e, g) for g in (ref, other)]
        row["fitted on"] = ", ".join(f"{x.gpu}: {x.rows_pair}" for x in prov)
        rows.append(row)
    return display.nones(pd.DataFrame(rows).set_index("engine"))


def engine_ratio(p: Params) -> display.Table:
    """The first GPU's decode speed over the second's for the first workload's model in each
    engine's 4-bit format at :data:`RATIO_CONTEXT_TOKENS`, at batch 1 and 32, by engine."""
    t = ratio_frame(p)
    ref, other = p.gpus[0], p.gpus[1] if len(p.gpus) > 1 else p.gpus[0]
    parts = []
    for b in RATIO_BATCHES:
        r = pd.to_numeric(t[f"ratio batch {b}"], errors="coerce").dropna()
        if len(r):
            parts.append(f"{fmt_extremes(r, 'x', '.1f')} at batch {b}")
    if ref == other:
        caption = f"Only {ref} is chosen: each engine's speed on it, no ratio to show."
        pct = {c: 2 for c in t.columns if c.startswith("ratio")}
        return display.table(t, "engine_ratio", caption, digits=0, **pct)
    caption = (
        f"{ref} over {other} for {p.workloads[0].model} in 4-bit weights at {RATIO_CONTEXT_TOKENS:,} "
        "tokens per sequence: "
        + ("; ".join(parts) if parts else "no engine runs this workload on both GPUs")
        + ". The engine moves the answer; empty cells: the engine does not run the format or it does not fit."
    )
    pct = {c: 2 for c in t.columns if c.startswith("ratio")}
    return display.table(t, "engine_ratio", caption, digits=0, **pct)


def held_out_within(limit: float = 0.3) -> float:
    """Share of measurements whose leave-one-GPU-out prediction is within ``limit`` (fraction)."""
    cv = calibration.cross_validate()
    return float(np.mean(cv["error_held_out_gpu"].abs() <= limit))
