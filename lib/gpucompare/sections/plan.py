"""The report's answer (summary page): for each service of the parameter ``traffic``, the cheapest
GPUs to own and to rent that meet its latency targets, from the capacity planner
(:mod:`gpucompare.model.plan`) over the whole catalog, with the parameter ``engine``."""

from __future__ import annotations

import pandas as pd

from gpucompare.data import catalog
from gpucompare.model import calibration, capacity, fleet, plan
from gpucompare.params import Params
from gpucompare.sections import display

#: Options shown per service on the decision page.
TOP_OPTIONS = 5

#: What a limit means, for the "what sets the GPU count" column.
WHY = {
    "prefill": "prompt processing (time to first token)",
    "decode": "generation speed (time per output token)",
    "link": "GPU-to-GPU link latency (time per output token)",
    "memory": "memory for the concurrent sequences' KV caches",
    "load": "nothing (one replica serves the load)",
}


def _label(o: dict | None) -> str | None:
    """``"34 x rtx-5090 (17 replicas of 2)"``: GPUs in all, then how they are grouped."""
    if o is None:
        return None
    total = f"{o['gpu_count']} x {o['gpu']}"
    if o["replicas"] == 1:
        return total
    per = f" of {o['gpus_per_replica']}" if o["gpus_per_replica"] > 1 else ""
    return f"{total} ({o['replicas']} replicas{per})"


#: Planner results by (parameters, service): the summary, TCO and decision tables of one notebook
#: read the same plans (a few seconds each with the headroom search).
_PLANS: dict[tuple[str, str], dict] = {}


def _plan(p: Params, t) -> dict:
    """The planner's result for traffic workload ``t``, with headroom for the options shown."""
    key = (p.model_dump_json(), t.name)
    if key not in _PLANS:
        if len(_PLANS) > 64:
            _PLANS.clear()
        _PLANS[key] = capacity.plan_with_headroom(p, plan.Load.of(t), top=TOP_OPTIONS)
    return _PLANS[key]


def plans(p: Params) -> dict[str, dict]:
    """The planner's result for every traffic workload, by name."""
    return {t.name: _plan(p, t) for t in p.traffic}


def _measured(p: Params, gpu: str) -> int:
    """Public measurements of the engine on ``gpu`` behind its fitted speeds (0: estimated from
    other GPUs' measurements, :func:`gpucompare.model.calibration.parameters`)."""
    return calibration.parameters(p.engine, gpu)["fitted_on_rows"]


def _why(p: Params, best: dict) -> str:
    """One sentence on the cheapest option: its latencies, what sets its GPU count, and whether its
    speeds rest on measurements of its GPU."""
    n = _measured(p, best["gpu"])
    data = (
        f"speeds fitted on {n} measurements of this GPU"
        if n
        else "speeds estimated from other GPUs (none measured on this one)"
    )
    return (
        f"{best['gpu']} {best['acquisition']}: first token in {best['ttft_ms']:,.0f} ms, "
        f"{best['tpot_ms']:,.0f} ms per token; GPU count set by {WHY[best['limited_by']]}; {data}."
    )


def _answer_frame(p: Params) -> pd.DataFrame:
    rows = []
    for t in p.traffic:
        result = _plan(p, t)
        own, rent = (plan.cheapest(result["options"], a) for a in ("own", "rent"))
        best = result["best"] or None
        rows.append(
            {
                "Service": t.name,
                "Load": f"{t.requests_per_s:g} req/s, {t.prompt_tokens:,} + {t.output_tokens:,} tokens",
                "Best to own": _label(own),
                "Own: $ per million output tokens": own["usd_per_million_output_tokens"]
                if own
                else None,
                "Best to rent": _label(rent),
                "Rent: $ per million output tokens": rent["usd_per_million_output_tokens"]
                if rent
                else None,
                "Cheapest: time to first token (ms)": best["ttft_ms"] if best else None,
                "Cheapest: time per output token (ms)": best["tpot_ms"] if best else None,
                "What sets the GPU count": WHY[best["limited_by"]] if best else result["reason"],
                "Cheapest: speed measurements of its GPU": _measured(p, best["gpu"])
                if best
                else None,
                "Why the cheapest": _why(p, best) if best else result["reason"],
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
    bests = [_plan(p, tr)["best"] for tr in p.traffic]
    unmeasured = sorted({b["gpu"] for b in bests if b and _measured(p, b["gpu"]) == 0})
    tail = (
        f" No public {p.engine} measurement exists for {', '.join(unmeasured)}: its speeds are "
        "estimated from other GPUs' measurements, so check them before buying."
        if unmeasured
        else ""
    )
    caption = (
        f"The cheapest way to serve each service within its latency targets with {p.engine}, over "
        "every catalog GPU, owned or rented: " + "; ".join(parts) + "." + tail
    )
    return display.table(
        t,
        "answer",
        caption,
        # The page says these in the "why" sentence; the CSV keeps them as numbers.
        hidden=(
            "Cheapest: time to first token (ms)",
            "Cheapest: time per output token (ms)",
            "What sets the GPU count",
            "Cheapest: speed measurements of its GPU",
        ),
        **{
            "Own: $ per million output tokens": 2,
            "Rent: $ per million output tokens": 2,
            "Cheapest: time to first token (ms)": 0,
            "Cheapest: time per output token (ms)": 0,
        },
    )


def _options_frame(p: Params) -> pd.DataFrame:
    rows = []
    for t in p.traffic:
        result = _plan(p, t)
        for rank, o in enumerate(result["options"][:TOP_OPTIONS], start=1):
            rows.append(
                {
                    "Service": t.name,
                    "Rank": rank,
                    "GPU": o["gpu"],
                    "Own or rent": o["acquisition"],
                    "GPUs": o["gpu_count"],
                    "Replicas x GPUs each": f"{o['replicas']} x {o['gpus_per_replica']}",
                    "$ per million output tokens": o["usd_per_million_output_tokens"],
                    "$ per month": o["usd_per_month"],
                    "Time to first token (ms)": o["ttft_ms"],
                    "Time per output token (ms)": o["tpot_ms"],
                    "Headroom (%)": 100 * o["headroom_fraction"],
                    "Limited by": o["limited_by"],
                }
            )
    columns = ["Service", "Rank", "GPU", "Own or rent", "GPUs", "Replicas x GPUs each"]
    columns += ["$ per million output tokens", "$ per month", "Time to first token (ms)"]
    columns += ["Time per output token (ms)", "Headroom (%)", "Limited by"]
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
        "(rank 1 is the summary's answer and gpucompare plan's best); headroom is how much more load "
        "the GPUs take before a target breaks; 'limited by' names what one replica fewer would fail on."
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
            "Headroom (%)": 0,
        },
    )


def _by_gpu_frame(p: Params) -> pd.DataFrame:
    rows = []
    for t in p.traffic:
        result = _plan(p, t)
        for gpu in dict.fromkeys(o["gpu"] for o in result["options"]):
            row: dict = {"Service": t.name, "GPU": gpu}
            for acq, word in (("own", "Own"), ("rent", "Rent")):
                o = plan.cheapest(result["options"], acq, gpu)
                row[f"{word}: GPUs"] = o["gpu_count"] if o else None
                row[f"{word}: $ per month"] = o["usd_per_month"] if o else None
                row[f"{word}: $ per million output tokens"] = (
                    o["usd_per_million_output_tokens"] if o else None
                )
            rows.append(row)
    columns = ["Service", "GPU"] + [
        f"{w}: {c}"
        for w in ("Own", "Rent")
        for c in ("GPUs", "$ per month", "$ per million output tokens")
    ]
    return display.nones(pd.DataFrame(rows, columns=columns).set_index(["Service", "GPU"]))


def by_gpu(p: Params) -> display.Table:
    """Per service and GPU type: the cheapest option of that GPU to own and to rent (GPUs, $ per
    month, $ per million output tokens), in the order of the service's cheapest option; GPUs that
    cannot serve a service within its targets are left out."""
    t = _by_gpu_frame(p)
    parts = []
    for service in dict.fromkeys(t.index.get_level_values("Service")):
        sub = t.xs(service, level="Service")
        own = pd.to_numeric(sub["Own: $ per month"], errors="coerce").dropna()
        rent = pd.to_numeric(sub["Rent: $ per month"], errors="coerce").dropna()
        if len(own) and len(rent):
            parts.append(
                f"{service}: owning {own.idxmin()} (${own.min():,.0f} a month), renting "
                f"{rent.idxmin()} (${rent.min():,.0f} a month)"
            )
    caption = (
        f"What each service costs on each GPU that can serve it within its targets with {p.engine}, "
        "as many GPUs as the planner needs; cheapest: " + ("; ".join(parts) or "none") + "."
    )
    return display.table(
        t,
        "plan_by_gpu",
        caption,
        **{
            "Own: $ per month": 0,
            "Rent: $ per month": 0,
            "Own: $ per million output tokens": 2,
            "Rent: $ per million output tokens": 2,
        },
    )


def _excluded_frame(p: Params) -> pd.DataFrame:
    rows = [
        {
            "Service": t.name,
            "GPU": gpu,
            "GPUs per replica": n,
            "Why no replica count works": WHY_EXCLUDED[why],
        }
        for t in p.traffic
        for gpu in catalog.gpu_ids()
        for n, why in plan.group_limits(p, plan.Load.of(t), gpu).items()
    ]
    columns = ["Service", "GPU", "GPUs per replica", "Why no replica count works"]
    return pd.DataFrame(rows, columns=columns).set_index(["Service", "GPU", "GPUs per replica"])


#: Why a group size gives no option at any replica count (what one replica fails on at a tiny load).
WHY_EXCLUDED = {
    "memory": "the weights (and one sequence's KV cache) do not fit",
    "prefill": "one prompt alone takes longer than the time-to-first-token target",
    "decode": "one sequence alone decodes slower than the time-per-output-token target",
    "link": "the split's GPU-to-GPU communication alone breaks the time-per-output-token target",
}


def excluded(p: Params) -> display.Table:
    """GPU groups that cannot serve a service at any replica count, and why (the planner's
    :func:`gpucompare.model.plan.group_limits`)."""
    t = _excluded_frame(p)
    counts = t["Why no replica count works"].value_counts()
    parts = [f"{n} because {why}" for why, n in counts.items()]
    caption = (
        f"{len(t)} GPU groups (GPU type x GPUs per replica) cannot serve a service however many "
        "replicas: " + ("; ".join(parts) if parts else "none") + "."
    )
    return display.table(t, "plan_excluded", caption)


def _fleet_label(entry: dict) -> str:
    """``"2 x rtx-5090 own (documents, 13% of chat)"``: GPUs, acquisition and what it serves."""
    served = ", ".join(
        name if share >= 1 - 1e-9 else f"{share:.0%} of {name}"
        for name, share in entry["classes"].items()
        if share > 1e-9
    )
    return f"{entry['gpu_count']} x {entry['gpu']} {entry['acquisition']} ({served})"


def _mixed_frame(p: Params) -> pd.DataFrame:
    rows = []
    for t in p.traffic:
        classes = plan.Load.classes_of(t)
        if not classes:
            continue
        r = fleet.optimize(p, classes)
        homo = r["homogeneous"]
        rows.append(
            {
                "Service": t.name,
                "Request classes": "; ".join(
                    f"{c.name} {c.share:.0%}: {c.prompt_tokens:,} + {c.output_tokens:,} tokens"
                    for c in t.mix
                ),
                "Mixed fleet": "; ".join(_fleet_label(e) for e in r["fleet"]) or r["reason"],
                "Mixed: $ per month": r["usd_per_month"] if r["fleet"] else None,
                "One GPU type": _fleet_label(homo) if homo else None,
                "One GPU type: $ per month": homo["usd_per_month"] if homo else None,
                "Saving (%)": 100 * r["saving_fraction"]
                if r["saving_fraction"] is not None
                else None,
                "Use the mixed fleet": "yes" if r["fleet"] and r["mixed_is_worth_it"] else "no",
            }
        )
    columns = ["Service", "Request classes", "Mixed fleet", "Mixed: $ per month", "One GPU type"]
    columns += ["One GPU type: $ per month", "Saving (%)", "Use the mixed fleet"]
    return display.nones(pd.DataFrame(rows, columns=columns).set_index("Service"))


def mixed_fleets(p: Params) -> display.Table:
    """Per service with a request mix: the cheapest fleet mixing GPU types (Mélange's integer
    program, :mod:`gpucompare.model.fleet`) against the cheapest fleet of one GPU type, both sized
    per request class, and whether the mix saves at least 10%."""
    t = _mixed_frame(p)
    if t.empty:
        caption = "No service of the parameter traffic has a request mix (its mix field)."
        return display.table(t, "plan_mixed_fleets", caption)
    worth = [s for s in t.index if t.loc[s, "Use the mixed fleet"] == "yes"]
    if worth:
        verdict = "a mixed fleet saves at least 10% for " + ", ".join(worth)
    else:
        verdict = "no mixed fleet saves 10% or more, so one GPU type is the answer"
    minimum = f"{fleet.MIN_SAVING:.0%}"
    caption = (
        f"Mixing GPU types, each class served where it is cheapest ({p.engine}): {verdict}; a mix "
        f"must save at least {minimum} to be worth running two kinds of GPU."
    )
    return display.table(
        t,
        "plan_mixed_fleets",
        caption,
        **{"Mixed: $ per month": 0, "One GPU type: $ per month": 0, "Saving (%)": 1},
    )
