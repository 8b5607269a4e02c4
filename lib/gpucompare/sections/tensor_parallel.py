"""The tensor-parallel part of the interconnect section (``notebooks/04_interconnect.ipynb``): the
article's TP table recomputed, TP efficiency of one transformer layer and the "RTX 4090 cluster"; one
function per table or figure, each returning a ready :class:`~gpucompare.sections.display.Table` or
:class:`~gpucompare.sections.display.Figure` whose caption is written from the same frame. The function
names are the report's table and figure names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog, claims
from gpucompare.data import interconnect as data
from gpucompare.model import memory
from gpucompare.model import tensor_parallel as tpm
from gpucompare.model.interconnect import check_tp_degrees, gpu_allreduce_time_us, latency_floor_us
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import new_row, overlaps, row_legend, series
from gpucompare.sections.prose import fmt_extremes, fmt_range, overlap_sentence

# --- The article's tensor-parallel table ------------------------------------------------------


def _gemm_ms_at_peak(chk: dict) -> float:
    """2 x M x N x K at the GPU's datasheet dense peak (check ``field``), in ms."""
    return tpm.gemm_time_ms_at_peak(
        chk["gpu"], chk["m"], chk["n"], chk["k"], chk.get("field", "fp16_tensor_fp32acc_tflops")
    )


def _article_tp_frame(p: Params) -> pd.DataFrame:
    """The article's 4-configuration table (claims of kind tp_*) recomputed two ways: its own formula with
    its inputs, and with catalog figures (datasheet FP16 peak for its 8192^3 GEMM, alpha-beta ring on the
    real link for its 128 MiB all-reduce), plus the activation-based model of a Llama-2-70B layer."""
    by_config: dict[str, dict] = {}
    for c in claims.claims(section="interconnect"):
        if c.check.get("kind") not in (
            "tp_gemm_per_gpu",
            "tp_comm",
            "tp_step_total",
            "tp_efficiency",
        ):
            continue
        entry = by_config.setdefault(c.check["config"], {"check": c.check})
        entry[c.check["kind"]] = c.value
    rows = []
    for config, e in by_config.items():
        chk = e["check"]
        gemm_ms, comm_ms = chk["per_gpu_gemm_ms"], chk["comm_ms"]
        cat_gemm = _gemm_ms_at_peak(chk) / chk["tp"]
        cat_comm = (
            gpu_allreduce_time_us(p, chk["gpu"], chk["tp"], chk["message_bytes"]) / units.US_PER_MS
        )
        prefill_tokens = int(
            chk["message_bytes"]
            // (catalog.get_model(chk["model"]).hidden_size * tpm.ACTIVATION_BYTES)
        )
        rows.append(
            {
                "configuration": config,
                "article per-GPU GEMM (ms)": e.get("tp_gemm_per_gpu"),
                "article comm (ms)": e.get("tp_comm"),
                "article total (ms)": e.get("tp_step_total"),
                "article efficiency (%)": e.get("tp_efficiency"),
                "its formula, its inputs (%)": 100
                * tpm.article_tp_efficiency(gemm_ms * chk["tp"], comm_ms, chk["tp"]),
                "GEMM at datasheet peak (ms)": cat_gemm,
                "comm, ring on catalog link (ms)": cat_comm,
                "catalog figures (%)": 100 * tpm.tp_efficiency(cat_gemm, cat_comm),
                f"Llama layer, prefill {prefill_tokens} (%)": 100
                * tpm.tp_step(
                    p, chk["gpu"], chk["tp"], 1, prefill_tokens, chk["model"], chk["weights"]
                ).efficiency,
                "Llama layer, decode b=1 (%)": 100
                * tpm.tp_step(
                    p, chk["gpu"], chk["tp"], 1, 1, chk["model"], chk["weights"]
                ).efficiency,
            }
        )
    return pd.DataFrame(rows).set_index("configuration")


def article_tp_table(p: Params) -> display.Table:
    """The article's TP table recomputed, captioned with its efficiencies against the catalog ones."""
    t = _article_tp_frame(p)
    art, cat = t["article efficiency (%)"], t["catalog figures (%)"]
    worst = (art - cat).abs().idxmax()
    off = (art - t["its formula, its inputs (%)"]).abs().max()
    layer = t["Llama layer, decode b=1 (%)"]
    caption = (
        f"Its formula reproduces its efficiencies within {off:.1f} points, but with catalog figures its own "
        f"GEMM-plus-all-reduce scenario gives {fmt_range(cat.min(), cat.max(), '%', '.0f')} instead of "
        f"{fmt_range(art.min(), art.max(), '%', '.0f')} (furthest apart for {worst}: {art[worst]:.0f}% vs "
        f"{cat[worst]:.0f}%). A real Llama layer at batch-1 decode keeps "
        f"{fmt_range(layer.min(), layer.max(), '%', '.0f')}."
    )
    return display.table(t, "article_tp_table", caption)


# --- Tensor-parallel efficiency ---------------------------------------------------------------


def _tp_efficiency_frame(p: Params) -> pd.DataFrame:
    """TP efficiency (%) of ``p.tp_model`` at ``p.tp_weights`` per GPU and TP degree: decode at each
    batch of ``p.tp_decode_batches`` and prefill of ``p.tp_prefill_tokens`` tokens, with per-layer
    compute and communication (us) at decode batch 1 and at prefill."""
    check_tp_degrees(p)
    rows = []
    for gid in p.tp_gpus:
        for tp in p.tp_degrees:
            d1 = tpm.tp_step(p, gid, tp, 1, 1)
            pre = tpm.tp_step(p, gid, tp, 1, p.tp_prefill_tokens)
            row = {
                "gpu": gid,
                "tp": tp,
                "link": d1.link.link_id,
                "per_direction_gb_s": d1.link.per_direction_gb_s,
                "fits in memory": tpm.fits_in_memory(p, gid, tp, p.tp_model, p.tp_weights),
                "decode b=1 compute (µs)": d1.compute_us,
                "decode b=1 comm (µs)": d1.comm_us,
            }
            for b in p.tp_decode_batches:
                row[f"decode b={b} (%)"] = 100 * tpm.tp_step(p, gid, tp, b, 1).efficiency
            row[f"prefill {p.tp_prefill_tokens} compute (µs)"] = pre.compute_us
            row[f"prefill {p.tp_prefill_tokens} comm (µs)"] = pre.comm_us
            row[f"prefill {p.tp_prefill_tokens} (%)"] = 100 * pre.efficiency
            rows.append(row)
    return pd.DataFrame(rows).set_index(["gpu", "tp"])


def _tp_efficiency_caption(p: Params, t: pd.DataFrame) -> str:
    """One sentence: best and worst decode batch-1 and prefill efficiency at the largest degree."""
    tp = max(p.tp_degrees)
    if tp == 1:
        return "At TP 1 a single GPU holds the model: there is no all-reduce, so no efficiency is lost."
    batch = min(p.tp_decode_batches)
    at = t.xs(tp, level="tp")
    d = at[f"decode b={batch} (%)"]
    pre = at[f"prefill {p.tp_prefill_tokens} (%)"]
    latency_us = pd.Series(
        [tpm.ALLREDUCES_PER_LAYER * latency_floor_us(p, g, tp) for g in at.index], index=at.index
    )
    comm_us = pd.Series([tpm.tp_step(p, g, tp, batch, 1).comm_us for g in at.index], index=at.index)
    share = latency_us / comm_us
    return (
        f"At TP {tp}, decode at batch {batch} keeps {fmt_extremes(d, '%', '.0f')} of the ideal speed-up; "
        f"latency is {fmt_range(share.min(), share.max(), '%', '.0%')} of its all-reduce time. A "
        f"{p.tp_prefill_tokens:,}-token prefill keeps {fmt_extremes(pre, '%', '.0f')}."
    )


def tp_efficiency(p: Params) -> display.Table:
    """TP efficiency per GPU and degree, captioned with the best and worst at the largest degree."""
    t = _tp_efficiency_frame(p)
    # The page keeps the smallest and largest decode batch (the figure below draws every batch);
    # the link's rate is in the links table. The CSV keeps every column.
    between = sorted(p.tp_decode_batches)[1:-1]
    hidden = ("per_direction_gb_s", *(f"decode b={b} (%)" for b in between))
    return display.table(t, "tp_efficiency", _tp_efficiency_caption(p, t), hidden=hidden)


def tp_efficiency_vs_batch(p: Params) -> display.Figure:
    """TP efficiency (%) against decode batch, one panel per TP degree, one line per GPU; captioned with
    how efficiency moves from the smallest to the largest batch at the largest degree."""
    fig, axes = new_row(
        f"Tensor-parallel efficiency, {p.tp_model} {p.tp_weights} decode",
        [f"TP {tp}" for tp in p.tp_degrees],
        "batch (sequences)",
        "TP efficiency (%)",
    )
    check_tp_degrees(p)
    batches = np.asarray(p.tp_decode_batches)
    for ax, tp in zip(axes, p.tp_degrees, strict=True):
        for i, gid in enumerate(p.tp_gpus):
            eff = [100 * tpm.tp_step(p, gid, tp, int(b), 1).efficiency for b in batches]
            ax.semilogx(batches, eff, label=gid, base=2, **series(i, len(batches)))
        ax.set_ylim(0, 100)
        ax.set_xticks(batches, [f"{int(b)}" for b in batches])
        ax.minorticks_off()
    row_legend(fig, axes, ncols=5)
    t = _tp_efficiency_frame(p).xs(max(p.tp_degrees), level="tp")
    lo, hi = f"decode b={min(p.tp_decode_batches)} (%)", f"decode b={max(p.tp_decode_batches)} (%)"
    change = (t[hi] - t[lo]).round(1)
    caption = (
        f"From batch {min(p.tp_decode_batches)} to {max(p.tp_decode_batches)} at TP {max(p.tp_degrees)}, efficiency "
        f"changes by {fmt_extremes(change, 'points', '+.0f')}: decode "
        "reads the same weights at any batch while the all-reduced activations grow with it, which costs most on "
        "the slowest links."
    )
    same = overlap_sentence(overlaps(fig), "sequences")
    return display.figure(fig, "tp_efficiency_vs_batch", f"{caption} {same}".strip())


# --- The "RTX 4090 cluster" -------------------------------------------------------------------


def _cluster_frame(p: Params) -> pd.DataFrame:
    """The "RTX 4090 cluster" argument for ``p.tp_model``: per weight precision and catalog GPU, the GPUs
    needed (memory.gpus_needed at the memory section's batch, context and KV precision), the link at that
    degree, decode batch-1 and prefill TP efficiency (%), and the decode time per token (ms) over all layers."""
    ov = memory.Overheads.from_params(p)
    model = catalog.get_model(p.tp_model, "tp_model")
    rows = []
    for prec in p.tp_cluster_precisions:
        for gid in catalog.gpu_ids():
            need = memory.gpus_needed(
                model,
                prec,
                p.memory_kv_cache,
                p.memory_batch_size,
                p.memory_context_tokens,
                catalog.get_gpu(gid),
                ov,
            )
            row = {"weights": prec, "gpu": gid, "gpus_needed": need}
            if need is None or need > data.max_gpus_per_node(gid):
                row.update(
                    {
                        "link": None,
                        "decode b=1 (%)": None,
                        f"prefill {p.tp_prefill_tokens} (%)": None,
                        "decode ms/token": None,
                    }
                )
            else:
                d = tpm.tp_step(p, gid, need, 1, 1, weights=prec)
                pre = tpm.tp_step(p, gid, need, 1, p.tp_prefill_tokens, weights=prec)
                row.update(
                    {
                        "link": d.link.link_id,
                        "decode b=1 (%)": 100 * d.efficiency,
                        f"prefill {p.tp_prefill_tokens} (%)": 100 * pre.efficiency,
                        "decode ms/token": model.num_hidden_layers
                        * (d.compute_us + d.comm_us)
                        / units.US_PER_MS,
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows).set_index(["weights", "gpu"]).astype(object).replace({np.nan: None})


def rtx4090_cluster(p: Params) -> display.Table:
    """The cluster table, captioned with GPUs needed and decode time at the first precision for the
    article's two GPUs."""
    t = _cluster_frame(p)
    prec = p.tp_cluster_precisions[0]
    h, r = t.loc[(prec, "h100-sxm")], t.loc[(prec, "rtx-4090")]
    if h["gpus_needed"] is None or r["gpus_needed"] is None:
        caption = f"{p.tp_model} at {prec} does not fit one node of H100s or RTX 4090s."
    else:
        caption = (
            f"{p.tp_model} at {prec} needs {r['gpus_needed']} RTX 4090s (TP must divide the heads and not all "
            f"memory is usable) or {h['gpus_needed']} H100s; their decode takes {r['decode ms/token']:.1f} and "
            f"{h['decode ms/token']:.1f} ms per token, at {r['decode b=1 (%)']:.0f}% and "
            f"{h['decode b=1 (%)']:.0f}% TP efficiency."
        )
    return display.table(t, "rtx4090_cluster", caption)
