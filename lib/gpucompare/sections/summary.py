"""The summary section (``notebooks/00_summary.ipynb``), the report's front page: key findings
generated from the computed tables, the audit in brief, and the recommendation per workload. No
number here is written by hand: each finding quotes the library's recomputation (the audit's
``computed_value`` or a section's table)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from gpucompare import audit
from gpucompare.data import catalog, engines
from gpucompare.model import calibration as calibration_model
from gpucompare.model import cost, decide
from gpucompare.params import Params
from gpucompare.sections import calibration as calibration_section
from gpucompare.sections import display
from gpucompare.sections import memory as memory_section
from gpucompare.sections import tco as tco_section


def _audit_rows() -> dict[str, dict]:
    return {r["id"]: r for r in audit.run()}


def key_findings(p: Params) -> list[str]:
    """Plain-language findings, each built from recomputed numbers (skipped when a claim is absent)."""
    rows = _audit_rows()
    counts = {v: sum(r["verdict"] == v for r in rows.values()) for v in audit.VERDICTS}
    out = [
        f"The audit recomputed {len(rows)} numeric claims of the article: {counts['ok']} hold, "
        f"{counts['wrong']} are wrong, {counts['misleading']} are misleading and {counts['unverifiable']} cannot be checked."
    ]
    if len(p.gpus) >= 2:
        a, b = (catalog.get_gpu(g) for g in p.gpus[:2])
        ratio = a.spec("bf16_tensor_tflops") / b.spec("bf16_tensor_tflops")
        out.append(
            f"For LLM math (BF16/FP16 with FP32 accumulate) {a.name} has {ratio:.1f}x the dense tensor throughput of "
            f"{b.name} ({a.spec('bf16_tensor_tflops'):g} vs {b.spec('bf16_tensor_tflops'):g} TFLOPS)."
        )
    out += _speed_findings(p)
    kv = rows.get("mem-7b-fp16-bs1-kv")
    if kv is not None:
        out.append(
            f"Llama-2-7B's FP16 KV cache at 4,096 tokens is {kv['computed_value']:.2f} GB per sequence; "
            f"the article prints {kv['seed_value']:g} GB ({kv['seed_value'] / kv['computed_value']:.2f}x)."
        )
    link = rows.get("ic-nvlink-pcie-ratio")
    if link is not None:
        out.append(
            f"Per direction, NVLink 4 moves {link['computed_value']:.1f}x what PCIe Gen4 x16 does, not "
            f"{link['seed_value']:g}x: the article divides a two-way figure by a one-way one."
        )
    gemm = rows.get("gemm-h100-8192x8192x8192")
    if gemm is not None:
        out.append(
            f"Measured 8192³ 16-bit GEMMs run at about {gemm['computed_value']:,.0f} TFLOPS on an H100 SXM, "
            f"{gemm['computed_value'] / gemm['seed_value']:.1f}x the article's {gemm['seed_value']:g}."
        )
    cpm = rows.get("cpm-h100-7b-fp16-bs1")
    if cpm is not None:
        out.append(
            f"The article's own cost formula gives ${cpm['computed_value']:.2f} per million tokens for Llama-2-7B "
            f"on an H100, {cpm['computed_value'] / cpm['seed_value']:,.0f} times its printed ${cpm['seed_value']:g}."
        )
    flip = rows.get("winner-7b-fp16-bs32")
    if flip is not None and flip["computed_value"] is not None and flip["computed_value"] < 1:
        out.append(
            f"Its batch-serving verdict is reversed by its own inputs: the RTX 4090 comes out {1 / flip['computed_value']:.2f}x cheaper per token than the H100, "
            "and that workload (batch 32 x 4,096 tokens) does not fit the RTX 4090 at all."
        )
    wt = memory_section.workloads(p).frame
    misfits = [w for w in wt.index if all(wt.loc[w, f"{g} gpus_needed"] != 1 for g in p.gpus)]
    if misfits:
        out.append(f"Workloads that fit none of the chosen GPUs on one card: {', '.join(misfits)}.")
    winners = cost.configuration_winners(p, decide.candidates_table(p))
    for g in p.gpus:
        won = [
            w if r["gpus_own"] == 1 else f"{w} ({r['gpus_own']} cards)"
            for w, r in winners.iterrows()
            if r["cheapest_own"] == g
        ]
        if won:
            out.append(
                f"Owning, {g} is the cheaper of the chosen GPUs, each on the fewest cards the "
                f"workload fits, for: {', '.join(won)}."
            )
    return out


def _speed_findings(p: Params) -> list[str]:
    """What the engine-aware speed model says: which engine the report's speeds and costs use, and
    how much the first two GPUs' speed ratio moves with the engine."""
    _, rows = calibration_model.fitted()
    eng = engines.get_engine(p.engine)
    out = [
        f"Speeds and costs are for {eng.name} (parameter engine), whose achieved bandwidth, compute and "
        f"overheads are fitted on {int((rows['engine'] == eng.id).sum())} of {len(rows)} public measurements; "
        "the GEMM and throughput section shows the held-out error."
    ]
    if len(p.gpus) >= 2:
        t = calibration_section.ratio_frame(p)
        r = pd.to_numeric(t["ratio batch 1"], errors="coerce").dropna()
        if len(r):
            out.append(
                f"At batch 1 {p.gpus[0]} decodes a 4-bit {p.workloads[0].model} {r.min():.1f}x ({r.idxmin()}) to "
                f"{r.max():.1f}x ({r.idxmax()}) as fast as {p.gpus[1]}, depending on the engine."
            )
    return out


def findings(p: Params) -> display.Table:
    """:func:`key_findings` as a one-column table."""
    f = key_findings(p)
    frame = pd.DataFrame({"finding": f}, index=pd.RangeIndex(1, len(f) + 1, name="#"))
    return display.table(
        frame,
        "key_findings",
        "Generated from the audit and the section tables; rerun with other parameters and these sentences change with them.",
    )


def recommendation(p: Params) -> display.Table:
    """Per workload: the cheaper chosen GPU to own (each on the fewest cards the workload fits),
    and the cheapest qualifying configuration of the whole catalog."""
    w = cost.configuration_winners(p, decide.candidates_table(p))[
        ["cheapest_own", "gpus_own", "usd_per_mtok_own"]
    ]
    r = decide.recommend_table(p)[["best_to_own", "usd_per_mtok_own", "best_to_rent"]]
    r = r.rename(
        columns={
            "best_to_own": "catalog_best_to_own",
            "usd_per_mtok_own": "catalog_usd_per_mtok_own",
            "best_to_rent": "catalog_best_to_rent",
        }
    )
    t = w.join(r)
    # A configuration reads "gpu" or "N x gpu": its GPU type is the last word.
    chosen = sum(str(c).split()[-1] in p.gpus for c in t["catalog_best_to_own"].dropna())
    caption = f"For {chosen} of {len(t)} workloads the cheapest GPU in the whole catalog is one of the chosen ones ({', '.join(p.gpus)})."
    return display.table(t, "summary_recommendation", caption)


def article_memory() -> display.Table:
    """The memory section's table of the article's memory examples, shown again here."""
    return dataclasses.replace(memory_section.article_memory(), name="summary_article_memory")


def cost_per_token(p: Params) -> display.Table:
    """The cost section's cost-per-token table, shown again here."""
    return dataclasses.replace(tco_section.cost_per_token(p), name="summary_cost_per_token")


def _verdicts_by_section() -> pd.DataFrame:
    """Claims per section (rows) and verdict (columns)."""
    t = audit.audit_table()
    table = pd.crosstab(t["section"], t["verdict"]).reindex(
        columns=list(audit.VERDICTS), fill_value=0
    )
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table


def _verdicts_caption(t: pd.DataFrame) -> str:
    """One sentence: the section with the most wrong claims."""
    worst = t["wrong"].idxmax()
    return f"{int(t['total'].sum())} claims in {len(t)} sections; the most wrong figures are in the {worst} section ({int(t.loc[worst, 'wrong'])})."


def verdict_counts() -> display.Table:
    """Claims per verdict."""
    return display.table(
        audit.verdict_counts(), "verdict_counts", _verdicts_caption(_verdicts_by_section())
    )


def verdicts_by_section() -> display.Table:
    """Claims per section and verdict."""
    t = _verdicts_by_section()
    return display.table(t, "verdicts_by_section", _verdicts_caption(t))


def wrong_claims() -> display.Table:
    """Every claim judged wrong or misleading, with the article's value, the recomputed value and why."""
    t = audit.audit_table()
    t = t[t["verdict"].isin(["wrong", "misleading"])]
    return display.table(
        t[["section", "verdict", "seed_value", "computed_value", "unit", "explanation"]],
        "wrong_claims",
        "Every claim judged wrong or misleading, with the recomputed value and the reason.",
    )


def audit_claims() -> display.Table:
    """All claims with the article's quote, the recomputed value and the verdict."""
    return display.table(
        audit.audit_table(),
        "audit",
        "The complete audit; `gpucompare audit --json` prints the same list.",
    )


def sources() -> display.Table:
    """The claims files: section, number of claims and file."""
    t = audit.audit_table()
    counts = t.groupby("section").size()
    frame = pd.DataFrame(
        {"claims": counts, "file": [f"data/claims/{s}.yaml" for s in counts.index]}
    ).rename_axis("section")
    return display.table(frame, "summary_sources")
