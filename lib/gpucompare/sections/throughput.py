"""Throughput part of the GEMM and throughput section (``notebooks/03_gemm.ipynb``): decode of the
parameters' workloads, decode against batch, prefill, the article's throughput figures, the model
against published measurements, the audit of the section's claims and its sources, each a ready
table or figure. The formulas are in :mod:`gpucompare.model.throughput`."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from gpucompare.data import catalog, claims
from gpucompare.data.measurements import load_inference, load_kernel_measurements
from gpucompare.model import memory
from gpucompare.model import throughput as tp
from gpucompare.params import Params
from gpucompare.sections import display, verdicts
from gpucompare.sections.figures import new_row, overlaps, row_legend, series
from gpucompare.sections.prose import fmt_range, join_words, overlap_sentence


def _unique_configs(p: Params) -> list[tuple[str, str, str]]:
    """The distinct (model, weights, KV cache) of the parameters' workloads, in their order."""
    out = []
    for wl in p.workloads:
        key = (wl.model, wl.weights, wl.kv_cache)
        if key not in out:
            out.append(key)
    return out


# --- Decode ------------------------------------------------------------------------------------


def _decode_frame(p: Params) -> pd.DataFrame:
    """One row per workload (``p.workloads``) and GPU (``p.gpus``) with the parameter ``engine``:
    bytes read, step time, tokens/s (None = does not fit on one GPU or cannot run), per-sequence
    tokens/s, bound (memory, compute, overhead, does not fit, unsupported) and max batch."""
    rows = []
    for wl in p.workloads:
        for gid in p.gpus:
            s = tp.decode_step(
                p, wl.model, wl.weights, wl.kv_cache, wl.batch_size, wl.context_tokens, gid
            )
            rows.append(
                {
                    "workload": wl.name,
                    "gpu": gid,
                    "model": wl.model,
                    "weights": wl.weights,
                    "kv_cache": wl.kv_cache,
                    "batch": wl.batch_size,
                    "context_tokens": wl.context_tokens,
                    "weights_read_gb": s["weights_read_gb"],
                    "kv_read_gb": s["kv_read_gb"],
                    "step_ms": s["step_ms"] if s["tokens_per_s"] is not None else None,
                    "tokens_per_s": s["tokens_per_s"],
                    "per_sequence_tokens_per_s": s["per_sequence_tokens_per_s"],
                    "bound": s["bound"],
                    "max_batch": s["max_batch"],
                }
            )
    return display.nones(pd.DataFrame(rows).set_index(["workload", "gpu"]))


def decode_workloads(p: Params) -> display.Table:
    """Decode of the parameters' workloads (see :func:`_decode_frame`); the caption names the
    workloads that do not fit and counts the memory-bound ones."""
    t = _decode_frame(p)
    nofit = [f"{w} on {g}" for (w, g), r in t.iterrows() if r["bound"] == "does not fit"]
    ran = t[t["tokens_per_s"].notna()]
    mem = int((ran["bound"] == "memory").sum())
    over = int((ran["bound"] == "overhead").sum())
    caption = (
        f"With {p.engine}, {mem} of the {len(ran)} workload-GPU pairs that run are bandwidth-bound and "
        f"{over} overhead-bound; "
        + (f"does not fit on one GPU: {', '.join(nofit)}." if nofit else "every workload fits.")
    )
    return display.table(t, "decode_workloads", caption)


def _sweep_frame(p: Params) -> pd.DataFrame:
    """Decode tokens/s per (model, weights, KV) of the workloads and GPU (rows) and batch size
    (columns, ``p.decode_batch_sizes``) at ``p.decode_context_tokens``; None = does not fit."""
    rows = []
    for model_id, w, kv in _unique_configs(p):
        for gid in p.gpus:
            row = {"model": model_id, "weights": w, "kv_cache": kv, "gpu": gid}
            for b in p.decode_batch_sizes:
                row[f"batch {b}"] = tp.decode_tokens_per_s(
                    p, model_id, w, kv, b, p.decode_context_tokens, gid
                )
            rows.append(row)
    return display.nones(pd.DataFrame(rows).set_index(["model", "weights", "kv_cache", "gpu"]))


def _sweep_caption(p: Params, t: pd.DataFrame) -> str:
    """One sentence on the sweep ``t``: the best tokens/s per GPU and how many cells do not fit."""
    parts = []
    for gid in p.gpus:
        sub = t.xs(gid, level="gpu").astype(float)
        best = np.nanmax(sub.to_numpy()) if sub.notna().to_numpy().any() else None
        parts.append(f"{gid} {best:,.0f}" if best is not None else f"{gid} none fit")
    missing = int(t.isna().to_numpy().sum())
    return (
        f"At {p.decode_context_tokens:,} tokens per sequence the highest decode throughput is "
        + ", ".join(parts)
        + f" tokens/s; {missing} of {t.size} cells (—) do not fit on one GPU."
    )


def decode_batch_sweep(p: Params) -> display.Table:
    """Decode tokens/s against batch (see :func:`_sweep_frame`)."""
    t = _sweep_frame(p)
    return display.table(t, "decode_batch_sweep", _sweep_caption(p, t), digits=0)


def decode_vs_batch(p: Params) -> display.Figure:
    """Decode tokens/s against batch (log-log), one panel per GPU, one line per (model, weights);
    batches that do not fit on one GPU are left out (no point)."""
    gpus = [catalog.get_gpu(g) for g in p.gpus]
    fig, axes = new_row(
        f"Decode throughput at {p.decode_context_tokens:,} tokens per sequence",
        [g.name for g in gpus],
        "batch (concurrent sequences)",
        "decode throughput (tokens/s, all sequences)",
    )
    t = _sweep_frame(p)
    batches = np.asarray(p.decode_batch_sizes, dtype=float)
    for ax, gpu in zip(axes, gpus, strict=True):
        for i, (model_id, w, kv) in enumerate(_unique_configs(p)):
            y = np.array(
                [np.nan if v is None else v for v in t.loc[(model_id, w, kv, gpu.id)]],
                dtype=float,
            )
            if np.isfinite(y).any():
                ax.plot(batches, y, label=f"{model_id} {w}", **series(i, len(batches)))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [f"{int(b)}" for b in batches])
        ax.minorticks_off()
        if not ax.get_legend_handles_labels()[0]:  # no workload fits this GPU at any batch
            ax.text(
                0.5, 0.5, "does not fit one GPU", ha="center", va="center", transform=ax.transAxes
            )
    row_legend(fig, axes, ncols=4)
    return display.figure(fig, "decode_vs_batch", _decode_vs_batch_caption(p, t, fig))


def _decode_vs_batch_caption(p: Params, t: pd.DataFrame, fig) -> str:
    """What the figure adds to the sweep table: the largest batch each GPU fits (and for which
    workload), how much a doubling of the batch gains, and the lines that lie on each other."""
    ends, gains = [], []
    for gid in p.gpus:
        sub = t.xs(gid, level="gpu").astype(float)
        fits = sub.notna()
        if not fits.to_numpy().any():
            ends.append(f"{gid} none")
            continue
        last = {
            k: max(b for b, ok in zip(p.decode_batch_sizes, row, strict=True) if ok)
            for k, row in zip(sub.index, fits.to_numpy(), strict=True)
            if row.any()
        }
        top = max(last.values())
        who = join_words(f"{m} {w}" for (m, w, _), b in last.items() if b == top)
        ends.append(f"{gid} batch {top:,} ({who})")
        y = sub.to_numpy()
        gains += [g for g in (y[:, 1:] / y[:, :-1]).ravel() if np.isfinite(g)]
    gain = (
        f" Each doubling of the batch gains {fmt_range(min(gains), max(gains), 'x', '.1f')} in "
        "throughput while the weights dominate the bytes read."
        if gains and all(b2 == 2 * b1 for b1, b2 in itertools.pairwise(p.decode_batch_sizes))
        else ""
    )
    same = overlap_sentence(overlaps(fig), "sequences")
    return (
        f"Each line ends at the largest batch that fits one GPU: {'; '.join(ends)}.{gain} {same}"
    ).strip()


# --- Prefill -----------------------------------------------------------------------------------


def _prefill_frame(p: Params) -> pd.DataFrame:
    """Per (model, weights, KV) of the workloads and GPU: one prompt of ``p.prefill_prompt_tokens``:
    time to first token (ms, queueing excluded), prompt tokens/s and bound; None = does not fit."""
    rows = []
    for model_id, w, kv in _unique_configs(p):
        for gid in p.gpus:
            tps = tp.prefill_tokens_per_s(p, model_id, w, kv, 1, p.prefill_prompt_tokens, gid)
            bound = tp.prefill_bound(p, model_id, w, kv, 1, p.prefill_prompt_tokens, gid)
            rows.append(
                {
                    "model": model_id,
                    "weights": w,
                    "kv_cache": kv,
                    "gpu": gid,
                    "prompt_tokens": p.prefill_prompt_tokens,
                    "time_to_first_token_ms": p.prefill_prompt_tokens / tps * 1e3
                    if tps is not None
                    else None,
                    "prefill_tokens_per_s": tps,
                    "bound": bound if tps is not None or bound == "unsupported" else "does not fit",
                }
            )
    return display.nones(pd.DataFrame(rows).set_index(["model", "weights", "kv_cache", "gpu"]))


def prefill(p: Params) -> display.Table:
    """Prefill of one prompt (see :func:`_prefill_frame`); the caption counts the compute-bound
    cases and gives the range of prompt tokens/s."""
    t = _prefill_frame(p)
    fit = t[t["prefill_tokens_per_s"].notna()]
    if fit.empty:
        caption = "No workload's prefill fits and runs on the chosen GPUs with this engine."
        return display.table(t, "prefill", caption, digits=0)
    comp = int((fit["bound"] == "compute").sum())
    caption = (
        f"{comp} of {len(fit)} prefill cases that fit are compute-bound at {p.prefill_prompt_tokens:,}-token "
        f"prompts. Prompt tokens are processed at "
        f"{fmt_range(fit['prefill_tokens_per_s'].astype(float).min(), fit['prefill_tokens_per_s'].astype(float).max(), 'per second', ',.0f')}, "
        "far faster than tokens are generated."
    )
    return display.table(t, "prefill", caption, digits=0)


# --- The article's throughput figures ----------------------------------------------------------


def _article_frame(p: Params) -> pd.DataFrame:
    """Each throughput figure of the article next to the model (None = does not fit on one GPU),
    the datasheet bandwidth bound (no overhead, full bandwidth), the fraction of that bound the
    article's figure implies, the bound and the longest context at which the batch fits."""
    rows = []
    for c in claims.claims(kind="throughput"):
        chk = c.check
        args = (chk["model"], chk["weights"], chk["kv"], chk["batch"], chk["context_tokens"])
        s = tp.decode_step(p, *args, chk["gpu"])
        hard = tp.hard_bound_tokens_per_s(*args, chk["gpu"])
        rows.append(
            {
                "claim": c.id,
                "gpu": chk["gpu"],
                "workload": f"{chk['model']} {chk['weights']} batch {chk['batch']} x {chk['context_tokens']:,} tokens",
                "article_tokens_per_s": float(c.value),
                "model_tokens_per_s": s["tokens_per_s"],
                "datasheet_bandwidth_bound_tokens_per_s": hard,
                "article / bandwidth bound": float(c.value) / hard,
                "bound": s["bound"],
                "max_context_tokens_at_batch": memory.max_context(
                    catalog.get_model(chk["model"]),
                    chk["weights"],
                    chk["kv"],
                    chk["batch"],
                    catalog.get_gpu(chk["gpu"]),
                    memory.Overheads.from_params(p),
                ),
            }
        )
    return display.nones(pd.DataFrame(rows).set_index("claim"))


def article_throughput(p: Params) -> display.Table:
    """The article's throughput figures (see :func:`_article_frame`); the caption names those that
    exceed the bandwidth bound or do not fit."""
    t = _article_frame(p)
    over = t.index[t["article / bandwidth bound"].astype(float) > 1].tolist()
    nofit = t.index[t["bound"] == "does not fit"].tolist()
    caption = (
        f"{len(over)} of the article's {len(t)} throughput figures exceed what the datasheet bandwidth "
        f"allows ({', '.join(over) or 'none'}) and {len(nofit)} are for batches that do not fit on one GPU "
        f"({', '.join(nofit) or 'none'})."
    )
    return display.table(t, "throughput_article", caption, **{"article / bandwidth bound": 3})


def model_within_bandwidth_bound(p: Params) -> bool:
    """Whether the model's tokens/s of every article figure that fits is at most the datasheet
    bandwidth bound (a check of the article table)."""
    t = _article_frame(p)
    return all(
        v is None or v <= b
        for v, b in zip(
            t["model_tokens_per_s"], t["datasheet_bandwidth_bound_tokens_per_s"], strict=True
        )
    )


# --- Published measurements, audit and sources -------------------------------------------------


def claims_audit() -> display.Table:
    """The audit of the section's claims (GEMM and throughput)."""
    return verdicts.claims_table(
        ["gemm", "throughput"],
        "gemm_throughput_audit",
        "GEMM and throughput",
        note="Unverifiable means below the roofline with no measurement of that case to settle it.",
    )


def _sources_frame() -> pd.DataFrame:
    """Every source of this section's measurements: kernel measurements and published inference
    speeds, one row per source document (sorted)."""
    rows = []
    k = load_kernel_measurements()
    for (src, url), g in k.groupby(["source", "url"], sort=True):
        rows.append(
            {
                "source": src,
                "url": url or None,
                "used for": "GEMM and copy measurements (data/measurements/kernels.csv)",
                "date": ", ".join(sorted(set(g["date"]))),
                "rows": len(g),
            }
        )
    d = load_inference()
    for (src, url), g in d.groupby(["source", "url"], sort=True):
        rows.append(
            {
                "source": src,
                "url": url,
                "used for": f"published {', '.join(sorted(set(g['engine'])))} speeds ({', '.join(sorted(set(g['file'])))})",
                "date": ", ".join(sorted(set(g["date"]))),
                "rows": len(g),
            }
        )
    return display.nones(pd.DataFrame(rows).set_index("source"))


def sources() -> display.Table:
    """The sources of the section's measurements (see :func:`_sources_frame`)."""
    return display.table(_sources_frame(), "gemm_throughput_sources")
