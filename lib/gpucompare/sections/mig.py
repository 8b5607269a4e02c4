"""The MIG results of the reliability notebook (``notebooks/05_reliability.ipynb``): which chosen GPUs
can be partitioned, their profiles, which models fit which slice, and tenants per GPU. Each public
function returns one ready :class:`~gpucompare.sections.display.Table` or
:class:`~gpucompare.sections.display.Figure`; the formulas live in :mod:`gpucompare.model.mig`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.model import memory
from gpucompare.model.mig import (
    cost_per_tenant_usd,
    max_batch_in_budget,
    mig_peak_tflops,
    mig_profiles,
    mig_sm_count,
    mig_sm_share,
    mig_supported,
    no_mig_text,
    tenants,
)
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections.figures import colour, legend, marker, new

#: Columns of the profile table (also when no chosen GPU has MIG).
_PROFILE_COLUMNS = [
    "gpu",
    "profile",
    "instances_max",
    "memory_gib",
    "sm_count",
    "sm_share_of_gpu",
    "peak_fp16_tflops",
    "cost_per_tenant_usd",
]


def support(p: Params) -> display.Table:
    """Per GPU: MIG instances (max) or 'not supported', and the profiles; the caption names the chosen
    GPUs with and without MIG."""
    rows = []
    for g in p.gpus:
        profs = mig_profiles(g)
        rows.append(
            {
                "gpu": g,
                "mig": f"up to {max(m.instances_max for m in profs)} instances"
                if profs
                else no_mig_text(g),
                "profiles": ", ".join(m.profile for m in profs) if profs else no_mig_text(g),
            }
        )
    t = pd.DataFrame(rows).set_index("gpu")
    yes = [g for g in p.gpus if mig_supported(g)]
    no = [g for g in p.gpus if not mig_supported(g)]
    caption = (
        f"MIG partitions {', '.join(yes) or 'none of the chosen GPUs'}; "
        f"{', '.join(no) or 'no chosen GPU'} cannot be partitioned with MIG and serves tenants only without isolation."
    )
    return display.table(t, "mig_support", caption)


def _profile_frame(p: Params) -> pd.DataFrame:
    """Each MIG profile of the chosen GPUs: instances, memory, SMs and peak per instance, cost per tenant."""
    rows = []
    for g in p.gpus:
        for m in mig_profiles(g):
            rows.append(
                {
                    "gpu": g,
                    "profile": m.profile,
                    "instances_max": m.instances_max,
                    "memory_gib": m.memory_gib,
                    "sm_count": mig_sm_count(g, m.profile),
                    "sm_share_of_gpu": mig_sm_share(g, m.profile),
                    "peak_fp16_tflops": mig_peak_tflops(g, m.profile),
                    "cost_per_tenant_usd": cost_per_tenant_usd(p, g, m.profile),
                }
            )
    if not rows:
        return pd.DataFrame(columns=_PROFILE_COLUMNS).set_index(["gpu", "profile"])
    return pd.DataFrame(rows).set_index(["gpu", "profile"]).astype(object).replace({np.nan: None})


def profiles(p: Params) -> display.Table:
    """The MIG profiles of the chosen GPUs; the caption: the smallest slice of each MIG-capable GPU,
    its share of the SMs and its cost."""
    t = _profile_frame(p)
    parts = []
    for g in p.gpus:
        if not mig_supported(g):
            parts.append(f"{g}: MIG {no_mig_text(g)}")
            continue
        small = min(mig_profiles(g), key=lambda m: (m.memory_gib, -m.instances_max))
        row = t.loc[(g, small.profile)]
        parts.append(
            f"{g} {small.profile}: {small.instances_max} per GPU at ${row['cost_per_tenant_usd']:,.0f} each, "
            f"{row['sm_share_of_gpu']:.1%} of the SMs ({row['peak_fp16_tflops']:.0f} TFLOPS peak)"
        )
    derived = [f"{g} {m.profile}" for g in p.gpus for m in mig_profiles(g) if m.sm_derived]
    caption = (
        "Smallest MIG slices: "
        + "; ".join(parts)
        + ". SM counts are those nvidia-smi lists per profile, not the name's share of seven slices"
        + (
            f"; {', '.join(derived)} inferred from the same slice of a GPU with the same chip (no published count found)"
            if derived
            else ""
        )
        + "."
    )
    return display.table(t, "mig_profiles", caption, sm_share_of_gpu=3)


def fit(p: Params) -> display.Table:
    """Max batch at ``mig_context_tokens`` (KV at ``mig_kv_cache``) of every model x weight precision in
    every MIG profile of the chosen GPUs (0 = does not fit; GPUs without MIG are left out); the caption:
    for the catalog's first model at int4 (or the first precision), the batch per slice."""
    ov = memory.Overheads.from_params(p)
    cols = {}
    for g in p.gpus:
        for m in mig_profiles(g):
            cols[f"{g} {m.profile}"] = (g, m)
    rows = []
    for mid in catalog.model_ids():
        for prec in p.mig_weight_precisions:
            row = {"model": mid, "weights": prec}
            for name, (g, m) in cols.items():
                row[name] = max_batch_in_budget(
                    mid, prec, p.mig_kv_cache, p.mig_context_tokens, m.memory_gib, ov, g
                )
            rows.append(row)
    t = pd.DataFrame(rows).set_index(["model", "weights"])
    if t.shape[1] == 0:
        caption = "None of the chosen GPUs supports MIG."
    else:
        model = catalog.model_ids()[0]
        prec = "int4" if "int4" in p.mig_weight_precisions else p.mig_weight_precisions[0]
        row = t.loc[(model, prec)]
        parts = [f"{col} {int(v)}" for col, v in row.items()]
        caption = (
            f"Sequences of {p.mig_context_tokens:,} tokens of {model} with {prec} weights per slice: "
            + ", ".join(parts)
            + " (0 = not even one sequence fits)."
        )
    return display.table(t, "mig_fit", caption)


def _tenants_frame(p: Params) -> pd.DataFrame:
    """Per model x weight precision: weights (GB) and, per chosen GPU, tenants per GPU, the profile and the
    cost per tenant (USD); 'not supported' for GPUs without MIG."""
    rows = []
    for mid in catalog.model_ids():
        model = catalog.get_model(mid)
        for prec in p.mig_weight_precisions:
            row = {
                "model": mid,
                "weights": prec,
                "weights_gb": memory.weights_bytes(model, prec) / units.BYTES_PER_GB,
            }
            for g in p.gpus:
                if not mig_supported(g):
                    row[f"{g} tenants"] = no_mig_text(g)
                    row[f"{g} profile"] = no_mig_text(g)
                    row[f"{g} cost_per_tenant_usd"] = no_mig_text(g)
                    continue
                n, prof = tenants(p, g, mid, prec)
                row[f"{g} tenants"] = n
                row[f"{g} profile"] = prof
                row[f"{g} cost_per_tenant_usd"] = p.price_of(g) / n if n else None
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "weights"]).astype(object).replace({np.nan: None})


def _tenants_caption(p: Params, t: pd.DataFrame) -> str:
    """One sentence from the tenants frame ``t``: how many model-precision pairs run 7 (or the most)
    tenants per GPU."""
    parts = []
    for g in p.gpus:
        if not mig_supported(g):
            parts.append(f"{g}: MIG {no_mig_text(g)}")
            continue
        most = max(m.instances_max for m in mig_profiles(g))
        col = t[f"{g} tenants"]
        parts.append(
            f"{g}: {int((col == most).sum())} of {len(t)} model-precision pairs run {most} isolated tenants, "
            f"{int((col == 0).sum())} fit no slice"
        )
    return (
        f"At {p.mig_context_tokens:,} tokens per sequence (KV {p.mig_kv_cache}), one sequence per tenant: "
        + "; ".join(parts)
        + "."
    )


def tenants_per_gpu(p: Params) -> display.Table:
    """Tenants per GPU for every model x weight precision, with the profile and the cost per tenant."""
    t = _tenants_frame(p)
    return display.table(t, "mig_tenants", _tenants_caption(p, t))


def tenants_vs_model_size(p: Params) -> display.Figure:
    """Tenants per GPU against weights (GB, log axis): one colour per MIG-capable chosen GPU, one marker
    per weight precision, one point per model."""
    fig, ax = new(
        f"Isolated tenants per GPU (MIG, {p.mig_context_tokens:,}-token context, KV {p.mig_kv_cache})",
        "model weights (GB, log scale)",
        "tenants per GPU (MIG instances)",
    )
    t = _tenants_frame(p)
    drawn = 0
    for i, g in enumerate(p.gpus):
        if not mig_supported(g):
            continue
        for j, prec in enumerate(p.mig_weight_precisions):
            rows = t.xs(prec, level="weights")
            ax.scatter(
                rows["weights_gb"].astype(float),
                rows[f"{g} tenants"].astype(float),
                label=f"{g}, {prec} weights",
                **{**marker(j), "color": colour(i)},
            )
        drawn += 1
    ax.set_xscale("log")
    if drawn:
        legend(ax)
    else:
        ax.text(0.5, 0.5, "no chosen GPU supports MIG", transform=ax.transAxes, ha="center")
    return display.figure(fig, "mig_tenants_vs_model_size", _tenants_figure_caption(p, t))


def _tenants_figure_caption(p: Params, t: pd.DataFrame) -> str:
    """What the figure adds to the tenants table: up to which weights a GPU runs its most tenants,
    and from which weights no slice holds the model."""
    parts = []
    for g in p.gpus:
        if not mig_supported(g):
            continue
        most = max(m.instances_max for m in mig_profiles(g))
        n = pd.to_numeric(t[f"{g} tenants"], errors="coerce")
        gb = t["weights_gb"].astype(float)
        full, none = gb[n == most], gb[n == 0]
        part = f"{g} runs {most} tenants" + (
            f" up to {full.max():.1f} GB of weights" if len(full) else " for no model"
        )
        if len(none):
            part += f" and fits no slice from {none.min():.0f} GB"
        parts.append(part)
    head = "Each point is one model at one weight format; the marker tells the format."
    if not parts:
        return f"{head} No chosen GPU supports MIG."
    return f"{head} Tenants fall as the weights grow: {'; '.join(parts)}."
