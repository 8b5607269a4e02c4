"""Memory section (``notebooks/02_memory.ipynb``): the article's memory figures recomputed, the
parameters' workloads, the fit matrix and the max batch against context, each a ready table or
figure. The formulas are in :mod:`gpucompare.model.memory`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.data import catalog, claims
from gpucompare.model import memory as mem
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import new_row, overlaps, row_legend, series
from gpucompare.sections.prose import join_words, overlap_sentence


def _article_memory_frame() -> pd.DataFrame:
    """Each memory figure the article prints, its own formula with its own inputs, and the exact value."""
    rows = []
    for c in claims.claims(kind="memory"):
        q = c.check["quantity"]
        own = mem.article_formula(**c.check)[q]
        exact = mem.exact_memory(**c.check)[q]
        rows.append(
            {
                "claim": c.id,
                "article (GB)": c.value,
                "article's formula, its inputs (GB)": own,
                "exact config and formats (GB)": exact,
                "article / own formula": c.value / own,
                "article / exact": c.value / exact,
            }
        )
    return pd.DataFrame(rows).set_index("claim")


def article_memory() -> display.Table:
    """The article's memory figures next to its own formula and the exact values; the caption
    counts the claims that their own formula contradicts by more than 5%."""
    t = _article_memory_frame()
    off = t[(t["article / own formula"] - 1).abs() > 0.05]
    worst = off["article / own formula"].min() if len(off) else 1.0
    caption = (
        f"{len(off)} of the article's {len(t)} memory figures disagree with its own formula by more than 5% "
        f"(worst: {worst:.2f}x of what the formula gives); the KV cache of the multi-head 7B model is "
        "understated and that of the grouped-query 70B model overstated."
    )
    return display.table(t, "article_memory", caption)


def _workload_frame(p: Params) -> pd.DataFrame:
    """The parameters' workloads: weights, KV cache and total (GB); per GPU the GPUs needed, and on
    one GPU the max batch at the workload's context and the max context at its batch."""
    ov = mem.Overheads.from_params(p)
    rows = []
    for wl in p.workloads:
        r = mem.requirement(
            wl.model, wl.weights, wl.kv_cache, wl.batch_size, wl.context_tokens, p.gpus, ov
        )
        row = {
            "workload": wl.name,
            "weights_gb": r["weights_gb"],
            "kv_cache_gb": r["kv_cache_gb"],
            "total_gb": r["total_gb"],
        }
        for g in r["gpus"]:
            row[f"{g['gpu']} gpus_needed"] = g["gpus_needed"]
            row[f"{g['gpu']} max_batch"] = g["max_batch"]
            row[f"{g['gpu']} max_context_tokens"] = g["max_context_tokens"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("workload").astype(object).replace({np.nan: None})


def workloads(p: Params) -> display.Table:
    """The parameters' workloads (see :func:`_workload_frame`); the caption counts those that fit
    on one of each GPU."""
    t = _workload_frame(p)
    parts = [f"{int((t[f'{g} gpus_needed'] == 1).sum())} of {len(t)} fit one {g}" for g in p.gpus]
    caption = "Of the parameters' workloads, " + "; ".join(parts) + "."
    return display.table(t, "memory_workloads", caption)


def _fit_frame(p: Params) -> pd.DataFrame:
    """GPUs needed (1, 2, 4, 8 or None) per model x weight precision (rows) and GPU (columns) at the
    parameters' context, batch and KV precision."""
    ov = mem.Overheads.from_params(p)
    sweep = mem.fit_sweep(
        [m for m in catalog.model_ids()],
        p.memory_weight_precisions,
        p.gpus,
        [p.memory_context_tokens],
        [p.memory_batch_size],
        p.memory_kv_cache,
        ov,
    )
    table = sweep["gpus_needed"].unstack("gpu").droplevel(["context_tokens", "batch"])[p.gpus]
    order = pd.MultiIndex.from_product(
        [catalog.model_ids(), p.memory_weight_precisions], names=["model", "weights"]
    )
    table = table.reindex(order).astype("Int64")
    return table.astype(object).where(table.notna(), None)


def fit_matrix(p: Params) -> display.Table:
    """The fit matrix (see :func:`_fit_frame`), coloured by GPUs needed; the caption counts the
    (model, precision) pairs that fit on one of each GPU."""
    t = _fit_frame(p)
    parts = [f"{g}: {int((t[g] == 1).sum())} of {len(t)}" for g in p.gpus]
    caption = (
        f"Model-precision pairs that fit on a single GPU at {p.memory_context_tokens:,} tokens, batch "
        f"{p.memory_batch_size}, KV {p.memory_kv_cache}: {'; '.join(parts)}. Empty cells need more than 8 GPUs."
    )
    return display.table(t, "fit_matrix", caption, cell_class=display.gpus_needed_class)


def _max_batch_frame(p: Params) -> pd.DataFrame:
    """Max batch on one GPU per model (weights at fp16 and int4, KV at the parameters' precision) and context."""
    ov = mem.Overheads.from_params(p)
    rows = []
    for gid in p.gpus:
        gpu = catalog.get_gpu(gid)
        for mid in catalog.model_ids():
            model = catalog.get_model(mid)
            for prec in ("fp16", "int4"):
                row = {"gpu": gid, "model": mid, "weights": prec}
                for ctx in p.sweep_context_tokens:
                    row[f"{ctx} tokens"] = mem.max_batch(
                        model, prec, p.memory_kv_cache, ctx, gpu, ov
                    )
                rows.append(row)
    return pd.DataFrame(rows).set_index(["gpu", "model", "weights"])


def _max_batch_caption(p: Params, weights: str = "fp16") -> str:
    """One sentence: the max batch of the first workload's model at its context on each GPU."""
    ov = mem.Overheads.from_params(p)
    wl = p.workloads[0]
    model = catalog.get_model(wl.model)
    parts = [
        f"{g} {mem.max_batch(model, weights, p.memory_kv_cache, wl.context_tokens, catalog.get_gpu(g), ov)}"
        for g in p.gpus
    ]
    return (
        f"At {wl.context_tokens:,} tokens, {wl.model} with {weights} weights serves at most: {', '.join(parts)} "
        "concurrent sequences; every doubling of context halves the batch once the weights are loaded."
    )


def max_batch(p: Params) -> display.Table:
    """Max batch on one GPU per model, weight precision and context (see :func:`_max_batch_frame`)."""
    return display.table(
        _max_batch_frame(p), "max_batch", _max_batch_caption(p), zero_means="does not fit"
    )


def _max_batch_figure_caption(p: Params, fig, weights: str) -> str:
    """What the figure adds to the table: where a sliding window stops the halving, which models no
    panel shows (they do not fit at any context), and the lines that lie on each other."""
    ov = mem.Overheads.from_params(p)
    windows = [
        f"{m} levels off at its {catalog.get_model(m).sliding_window:,}-token sliding window, which "
        "caps its KV cache"
        for m in catalog.model_ids()
        if catalog.get_model(m).sliding_window
    ]
    missing = []
    for g in p.gpus:
        gpu = catalog.get_gpu(g)
        absent = [
            m
            for m in catalog.model_ids()
            if not any(
                mem.max_batch(catalog.get_model(m), weights, p.memory_kv_cache, c, gpu, ov)
                for c in p.sweep_context_tokens
            )
        ]
        if absent:
            missing.append(f"{g}: {join_words(absent)}")
    text = "Each line halves with every doubling of context until it no longer fits."
    if windows:
        text += " " + "; ".join(windows) + "."
    if missing:
        text += f" Not drawn, as they do not fit at any context: {'; '.join(missing)}."
    same = overlap_sentence(overlaps(fig), "tokens")
    return f"{text} {same}".strip()


def max_batch_vs_context(p: Params, weights: str = "fp16") -> display.Figure:
    """Max batch vs context (log-log) on one GPU, one panel per chosen GPU, one line per model (the
    same colour, marker and line style for a model in every panel)."""
    ov = mem.Overheads.from_params(p)
    gpus = [catalog.get_gpu(g) for g in p.gpus]
    fig, axes = new_row(
        f"Max concurrent sequences on one GPU (weights {weights}, KV {p.memory_kv_cache})",
        [g.name for g in gpus],
        "context (tokens per sequence)",
        "max batch (sequences)",
    )
    ctx = np.asarray(p.sweep_context_tokens)
    for ax, gpu in zip(axes, gpus, strict=True):
        for i, mid in enumerate(catalog.model_ids()):
            model = catalog.get_model(mid)
            mb = np.array(
                [mem.max_batch(model, weights, p.memory_kv_cache, int(c), gpu, ov) for c in ctx],
                dtype=float,
            )
            mb[mb == 0] = np.nan  # does not fit: no point rather than a zero on a log axis
            if np.isfinite(mb).any():
                ax.loglog(ctx, mb, label=mid, **series(i, len(ctx)))
        if not ax.get_legend_handles_labels()[0]:  # no model fits at any context: say so
            ax.text(0.5, 0.5, "no model fits", ha="center", va="center", transform=ax.transAxes)
    row_legend(fig, axes, ncols=4)
    return display.figure(fig, "max_batch_vs_context", _max_batch_figure_caption(p, fig, weights))


def sources() -> display.Table:
    """The sources of the model catalog and of the number formats."""
    return display.table(catalog.model_sources_frame(), "memory_sources")
