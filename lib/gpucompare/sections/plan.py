"""The report's answer (summary page): for each service of the parameter ``traffic``, the cheapest
GPUs to own and to rent that meet its latency targets, from the capacity planner
(:mod:`gpucompare.model.plan`) over the whole catalog, with the parameter ``engine``."""

from __future__ import annotations

import pandas as pd

from gpucompare.model import plan
from gpucompare.params import Params
from gpucompare.sections import display

#: What a limit means, for the "why" column.
WHY = {
    "prefill": "prompt processing (time to first token) sets the GPU count",
    "decode": "generation speed (time per output token) sets the GPU count",
    "memory": "memory for the concurrent sequences' KV caches sets the GPU count",
    "load": "one replica already serves the load",
}


def _best(result: dict, acquisition: str) -> dict | None:
    return next((o for o in result["options"] if o["acquisition"] == acquisition), None)


def _label(o: dict | None) -> str | None:
    if o is None:
        return None
    per = f"{o['gpus_per_replica']} x {o['gpu']}"
    return per if o["replicas"] == 1 else f"{o['replicas']} replicas of {per}"


def plans(p: Params) -> dict[str, dict]:
    """The planner's result for every traffic workload, by name."""
    return {t.name: plan.plan(p, plan.Load.of(t)) for t in p.traffic}


def _answer_frame(p: Params) -> pd.DataFrame:
    rows = []
    for t in p.traffic:
        result = plan.plan(p, plan.Load.of(t))
        own, rent = _best(result, "own"), _best(result, "rent")
        best = result["best"] or None
        rows.append(
            {
                "Service": t.name,
                "Load": f"{t.requests_per_s:g} req/s, {t.prompt_tokens:,} + {t.output_tokens:,} tokens",
                "Best to own": _label(own),
                "Own: GPUs": own["gpu_count"] if own else None,
                "Own: $ per million output tokens": own["usd_per_million_output_tokens"]
                if own
                else None,
                "Best to rent": _label(rent),
                "Rent: GPUs": rent["gpu_count"] if rent else None,
                "Rent: $ per million output tokens": rent["usd_per_million_output_tokens"]
                if rent
                else None,
                "Cheapest: time to first token (ms)": best["ttft_ms"] if best else None,
                "Cheapest: time per output token (ms)": best["tpot_ms"] if best else None,
                "Why": WHY[best["limited_by"]] if best else result["reason"],
            }
        )
    return display.nones(pd.DataFrame(rows).set_index("Service"))


def answer(p: Params) -> display.Table:
    """One row per service: the cheapest option to own and to rent, GPUs, cost, latencies, why."""
    t = _answer_frame(p)
    parts = []
    for name, r in t.iterrows():
        own, rent = r["Own: $ per million output tokens"], r["Rent: $ per million output tokens"]
        own, rent = (x if pd.notna(x) else None for x in (own, rent))
        if own is not None and (rent is None or own <= rent):
            parts.append(f"{name}: own {r['Best to own']} (${own:.2f} per million output tokens)")
        elif rent is not None:
            parts.append(
                f"{name}: rent {r['Best to rent']} (${rent:.2f} per million output tokens)"
            )
        else:
            parts.append(f"{name}: no option meets the targets")
    caption = (
        f"The cheapest way to serve each service within its latency targets with {p.engine}, over "
        "every catalog GPU, owned or rented: " + "; ".join(parts) + "."
    )
    return display.table(
        t,
        "answer",
        caption,
        **{
            "Own: $ per million output tokens": 2,
            "Rent: $ per million output tokens": 2,
            "Cheapest: time to first token (ms)": 0,
            "Cheapest: time per output token (ms)": 0,
        },
    )


#: Options shown per service on the decision page.
TOP_OPTIONS = 5


def _options_frame(p: Params) -> pd.DataFrame:
    rows = []
    for t in p.traffic:
        result = plan.plan(p, plan.Load.of(t))
        for rank, o in enumerate(result["options"][:TOP_OPTIONS], start=1):
            rows.append(
                {
                    "Service": t.name,
                    "Rank": rank,
                    "GPU": o["gpu"],
                    "Own or rent": o["acquisition"],
                    "GPUs": o["gpu_count"],
                    "GPUs per replica": o["gpus_per_replica"],
                    "Replicas": o["replicas"],
                    "$ per million output tokens": o["usd_per_million_output_tokens"],
                    "$ per month": o["usd_per_month"],
                    "Time to first token (ms)": o["ttft_ms"],
                    "Time per output token (ms)": o["tpot_ms"],
                    "Limited by": o["limited_by"],
                }
            )
    columns = ["Service", "Rank", "GPU", "Own or rent", "GPUs", "GPUs per replica", "Replicas"]
    columns += ["$ per million output tokens", "$ per month", "Time to first token (ms)"]
    columns += ["Time per output token (ms)", "Limited by"]
    # No service may have an option: an empty table with its columns, not an error.
    return pd.DataFrame(rows, columns=columns).set_index(["Service", "Rank"])


def options(p: Params) -> display.Table:
    """The cheapest options per service (the first is the summary's answer and ``gpucompare plan``'s
    best): GPUs, replicas, cost, latencies and what limits each."""
    t = _options_frame(p)
    if t.empty:
        caption = (
            "No GPU of the catalog serves any service within its targets with " + p.engine + "."
        )
        return display.table(t, "plan_options", caption)
    caption = (
        f"The {TOP_OPTIONS} cheapest ways to serve each service within its targets with {p.engine} "
        "(rank 1 is the summary's answer and gpucompare plan's best); 'limited by' names what one "
        "replica fewer would fail on."
    )
    return display.table(
        t,
        "plan_options",
        caption,
        **{
            "$ per million output tokens": 2,
            "$ per month": 0,
            "Time to first token (ms)": 0,
            "Time per output token (ms)": 0,
        },
    )
