"""The summary section (``notebooks/00_summary.ipynb``), the report's front page: the answer for
the services of the parameter ``traffic`` (:mod:`gpucompare.sections.plan`), the article's verdict
in at most five sentences, and what else the sections find. No number here is written by hand:
each sentence quotes the library's recomputation (the audit's ``computed_value`` or a section's
table). The full claims audit is its own page (:mod:`gpucompare.sections.audit`)."""

from __future__ import annotations

import pandas as pd

from gpucompare import audit
from gpucompare.data import catalog, engines
from gpucompare.model import calibration as calibration_model
from gpucompare.model import cost, decide
from gpucompare.params import Params
from gpucompare.sections import calibration as calibration_section
from gpucompare.sections import display
from gpucompare.sections import memory as memory_section

#: The article's verdict on the front page: at most this many sentences.
VERDICT_SENTENCES = 5


def _audit_rows() -> dict[str, dict]:
    return {r["id"]: r for r in audit.run()}


def verdict_sentences() -> list[str]:
    """The article's verdict: the audit's counts, then its most consequential errors, each from the
    recomputed claim (skipped when the claim is absent), at most :data:`VERDICT_SENTENCES`."""
    rows = _audit_rows()
    counts = {v: sum(r["verdict"] == v for r in rows.values()) for v in audit.VERDICTS}
    out = [
        f"The audit recomputed {len(rows)} numeric claims of the article: {counts['ok']} hold, "
        f"{counts['wrong']} are wrong, {counts['misleading']} are misleading and "
        f"{counts['unverifiable']} cannot be checked (the claims page lists each)."
    ]
    cpm = rows.get("cpm-h100-7b-fp16-bs1")
    if cpm is not None:
        out.append(
            f"Its cost per token is off by a factor of about {cpm['computed_value'] / cpm['seed_value']:,.0f}: "
            f"its own formula gives ${cpm['computed_value']:.2f} per million tokens for Llama-2-7B on an "
            f"H100, not ${cpm['seed_value']:g}."
        )
    kv = rows.get("mem-7b-fp16-bs1-kv")
    if kv is not None:
        out.append(
            f"Its memory arithmetic disagrees with its own formula: Llama-2-7B's FP16 KV cache at "
            f"4,096 tokens is {kv['computed_value']:.2f} GB per sequence, not {kv['seed_value']:g} GB."
        )
    flip = rows.get("winner-7b-fp16-bs32")
    if flip is not None and flip["computed_value"] is not None and flip["computed_value"] < 1:
        out.append(
            f"Its batch-serving verdict is reversed by its own inputs: the RTX 4090 comes out "
            f"{1 / flip['computed_value']:.2f}x cheaper per token than the H100, and that workload "
            "(batch 32 x 4,096 tokens) does not fit the RTX 4090 at all."
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
            f"Measured 8192³ 16-bit GEMMs run at about {gemm['computed_value']:,.0f} TFLOPS on an "
            f"H100 SXM, {gemm['computed_value'] / gemm['seed_value']:.1f}x the article's "
            f"{gemm['seed_value']:g}."
        )
    return out[:VERDICT_SENTENCES]


def article_verdict() -> display.Bullets:
    """:func:`verdict_sentences` as the front page's bulleted list."""
    return display.bullets(verdict_sentences(), "article_verdict")


def key_findings(p: Params) -> list[str]:
    """What the sections find beyond the audit, each sentence built from recomputed numbers: the
    first two GPUs' tensor throughput, the engine behind every speed, where each chosen GPU wins."""
    out = []
    if len(p.gpus) >= 2:
        a, b = (catalog.get_gpu(g) for g in p.gpus[:2])
        ratio = a.spec("bf16_tensor_tflops") / b.spec("bf16_tensor_tflops")
        out.append(
            f"For LLM math (BF16/FP16 with FP32 accumulate) {a.name} has {ratio:.1f}x the dense tensor throughput of "
            f"{b.name} ({a.spec('bf16_tensor_tflops'):g} vs {b.spec('bf16_tensor_tflops'):g} TFLOPS)."
        )
    out += _speed_findings(p)
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
                f"For the batch workloads, owning, {g} is the cheaper of the chosen GPUs, each on "
                f"the fewest cards the workload fits, for: {', '.join(won)}."
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


def findings(p: Params) -> display.Bullets:
    """:func:`key_findings` as a bulleted list."""
    return display.bullets(key_findings(p), "key_findings")


#: The data the answer rests on: what each file gives the planner.
ANSWER_DATA = {
    "GPU specifications and purchase prices": "data/gpus.yaml",
    "Model configurations": "data/models.yaml",
    "Serving engines and their formats": "data/engines.yaml",
    "Published speed measurements the speeds are fitted on": "data/measurements/inference_*.csv",
    "Links between GPUs": "data/interconnect.yaml",
    "Cloud prices per GPU-hour": "data/cloud_prices.yaml",
    "The article's claims": "data/claims/*.yaml",
    "Services, prices and other parameters": "params/default.yaml (or the scenario given)",
}


def sources() -> display.Table:
    """The data files behind the answer and the verdict (each figure in them carries its source)."""
    frame = pd.DataFrame(
        {"File": list(ANSWER_DATA.values())}, index=pd.Index(list(ANSWER_DATA), name="What")
    )
    return display.table(
        frame,
        "summary_sources",
        "Every figure in these files names its source; the Parameters & sources page lists them.",
    )
