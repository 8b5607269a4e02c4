"""Cost per million tokens with the throughput model: per workload and GPU, the decode throughput
(one GPU) turned into cost per token owning and renting, the cheaper GPU per workload, the
break-evens of the linear cost model, the one-at-a-time sensitivity and the Monte Carlo summary.

Formulas: cost per million tokens = cost over the horizon (TCO or rental, USD) / (tokens/s x u x
3,600 x 8,760 x years / 1e6) (:func:`gpucompare.model.tco.usd_per_million_tokens`); throughput from
:func:`gpucompare.model.throughput.decode_tokens_per_s`. A configuration that does not fit has no cost.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.model import throughput
from gpucompare.model.tco import (
    SECONDS_PER_YEAR,
    TOKENS_PER_MILLION,
    capex_usd,
    monte_carlo_cost,
    monte_carlo_summary,
    rent_usd,
    tco_usd,
    usd_per_million_tokens,
)
from gpucompare.params import Params, Workload

if TYPE_CHECKING:
    import pandas as pd

#: The sensitivity table's ``input`` for a GPU the workload does not fit (no cost to move).
DOES_NOT_FIT = "does not fit one GPU"


def workload_tokens_per_s(
    p: Params, wl: Workload, gpu_id: str, batch: int | None = None, model: str | None = None
) -> float | None:
    """Decode tokens/s of workload ``wl`` on one GPU (None: does not fit); ``batch`` and ``model``
    replace the workload's when given."""
    return throughput.decode_tokens_per_s(
        p,
        model or wl.model,
        wl.weights,
        wl.kv_cache,
        batch or wl.batch_size,
        wl.context_tokens,
        gpu_id,
    )


def cost_table(p: Params) -> pd.DataFrame:
    """Per workload and GPU: decode tokens/s (one GPU; None = does not fit), and cost per million
    tokens owning (TCO) and renting on demand. A configuration that does not fit has no cost."""
    import pandas as pd

    rows = []
    for wl in p.workloads:
        for g in p.gpus:
            tps = workload_tokens_per_s(p, wl, g)
            own = rent = None
            if tps:
                own = usd_per_million_tokens(tco_usd(p, g), tps, p.utilization, p.years)
                rent = usd_per_million_tokens(rent_usd(p, g), tps, p.utilization, p.years)
            rows.append(
                {
                    "workload": wl.name,
                    "gpu": g,
                    "tokens_per_s": tps,
                    "usd_per_mtok_own": own,
                    "usd_per_mtok_rent": rent,
                }
            )
    return pd.DataFrame(rows).set_index(["workload", "gpu"]).astype(object).replace({np.nan: None})


def winners_table(p: Params, costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per workload: the cheapest GPU to own and to rent, and by how much (cost ratio runner-up /
    winner); ``costs`` is :func:`cost_table` (computed when not given)."""
    import pandas as pd

    t = cost_table(p) if costs is None else costs
    rows = []
    for wl in p.workloads:
        sub = t.xs(wl.name, level="workload")
        row = {"workload": wl.name}
        for col, label in (("usd_per_mtok_own", "own"), ("usd_per_mtok_rent", "rent")):
            ranked = sub[col].dropna().astype(float).sort_values()
            row[f"cheapest_{label}"] = ranked.index[0] if len(ranked) else None
            row[f"usd_per_mtok_{label}"] = ranked.iloc[0] if len(ranked) else None
            row[f"advantage_{label}"] = ranked.iloc[1] / ranked.iloc[0] if len(ranked) > 1 else None
        row["fits_on"] = ", ".join(sub.index[sub["tokens_per_s"].notna()]) or None
        rows.append(row)
    return pd.DataFrame(rows).set_index("workload").astype(object).replace({np.nan: None})


def configuration_winners(p: Params, candidates: pd.DataFrame) -> pd.DataFrame:
    """Per workload: the cheapest configuration of the chosen GPUs (each on the fewest cards it
    fits, ``candidates`` = :func:`gpucompare.model.decide.candidates_table`), owned and rented."""
    import pandas as pd

    rows = []
    for wl in p.workloads:
        sub = candidates.xs(wl.name, level="workload")
        sub = sub[sub.index.isin(p.gpus)]
        row = {"workload": wl.name}
        for label in ("own", "rent"):
            ranked = sub[f"usd_per_mtok_{label}"].dropna().astype(float).sort_values()
            g = ranked.index[0] if len(ranked) else None
            row[f"cheapest_{label}"] = g
            row[f"gpus_{label}"] = int(sub.loc[g, "gpus"]) if g else None
            row[f"usd_per_mtok_{label}"] = ranked.iloc[0] if len(ranked) else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("workload").astype(object).replace({np.nan: None})


# --- Break-even ----------------------------------------------------------------------------------


def _linear_parts(p: Params, wl: Workload, g: str) -> dict | None:
    """Pieces of cost per million tokens for closed-form break-evens (None if it does not fit)."""
    tps = workload_tokens_per_s(p, wl, g)
    if not tps:
        return None
    gpu = catalog.get_gpu(g)
    hours = units.HOURS_PER_YEAR * p.years
    kwh_per_w = hours / units.WATTS_PER_KW * p.pue  # kWh per average watt, cooling included
    tdp = gpu.spec("tdp_w")
    return {
        "fixed": capex_usd(p, g) - p.resale_fraction * p.price_of(g),
        "tokens_m_per_u": tps * SECONDS_PER_YEAR * p.years / TOKENS_PER_MILLION,
        "idle_w": tdp * p.idle_power_fraction,
        "busy_w": tdp * p.busy_power_fraction,
        "kwh_per_w": kwh_per_w,
        "price": p.price_of(g),
    }


def _break_even_row(p: Params, a: dict, b: dict, row: dict) -> None:
    """Fill ``row`` with the reference price, electricity price and utilization at which GPU ``a``
    (the reference) and GPU ``b`` cost the same per token (None where they never cross)."""
    u, e = p.utilization, p.electricity_usd_per_kwh

    def cost(x, u=u, e=e):
        power = x["idle_w"] + u * (x["busy_w"] - x["idle_w"])
        return (x["fixed"] + power * x["kwh_per_w"] * e) / (x["tokens_m_per_u"] * u)

    target = cost(b)
    energy_a = (a["idle_w"] + u * (a["busy_w"] - a["idle_w"])) * a["kwh_per_w"] * e
    host_a = a["fixed"] - (1 - p.resale_fraction) * a["price"]
    price = (target * a["tokens_m_per_u"] * u - energy_a - host_a) / (1 - p.resale_fraction)
    row["break_even_reference_price_usd"] = price if price > 0 else None
    # Electricity: (Fa + Ka e) / Da = (Fb + Kb e) / Db.
    pa = (a["idle_w"] + u * (a["busy_w"] - a["idle_w"])) * a["kwh_per_w"]
    pb = (b["idle_w"] + u * (b["busy_w"] - b["idle_w"])) * b["kwh_per_w"]
    da, db = a["tokens_m_per_u"] * u, b["tokens_m_per_u"] * u
    denom = pa * db - pb * da
    if denom:
        e_star = (b["fixed"] * da - a["fixed"] * db) / denom
        row["break_even_usd_per_kwh"] = e_star if e_star > 0 else None
    # Utilization: A/u + B per GPU, A = (fixed + idle energy) / T, B = (busy - idle) energy / T.
    A = [(x["fixed"] + x["idle_w"] * x["kwh_per_w"] * e) / x["tokens_m_per_u"] for x in (a, b)]
    B = [(x["busy_w"] - x["idle_w"]) * x["kwh_per_w"] * e / x["tokens_m_per_u"] for x in (a, b)]
    if B[1] != B[0]:
        u_star = (A[0] - A[1]) / (B[1] - B[0])
        row["break_even_utilization"] = u_star if 0 < u_star <= 1 else None


def break_even_table(p: Params) -> pd.DataFrame:
    """For each workload and each GPU after the first: the first GPU's price, the electricity price
    and the utilization at which both cost the same per token (closed forms of the linear cost model;
    None where they never cross in a meaningful range)."""
    import pandas as pd

    ref = p.gpus[0]
    rows = []
    columns = [
        "workload",
        "versus",
        "reference",
        "break_even_reference_price_usd",
        "break_even_usd_per_kwh",
        "break_even_utilization",
    ]
    for wl in p.workloads:
        a = _linear_parts(p, wl, ref)
        for g in p.gpus[1:]:
            b = _linear_parts(p, wl, g)
            row = {
                "workload": wl.name,
                "versus": g,
                "reference": ref,
                "break_even_reference_price_usd": None,
                "break_even_usd_per_kwh": None,
                "break_even_utilization": None,
            }
            if a and b:
                _break_even_row(p, a, b, row)
            rows.append(row)
    return (
        pd.DataFrame(rows, columns=columns)
        .set_index(["workload", "versus"])
        .astype(object)
        .replace({np.nan: None})
    )


# --- Sensitivity ---------------------------------------------------------------------------------


def sensitivity_table(p: Params, workload_index: int = 0) -> pd.DataFrame:
    """Cost per million tokens of one workload on each GPU with one input at a time moved to the low
    and high end of its Monte Carlo range (price and throughput +/- spread, utilization and
    electricity over their ranges), the rest at the parameters' values. A GPU the workload does not
    fit has one row, input :data:`DOES_NOT_FIT`, without costs."""
    import pandas as pd

    wl = p.workloads[workload_index]
    rows = []
    for g in p.gpus:
        tps = workload_tokens_per_s(p, wl, g)
        if not tps:
            rows.append(
                {
                    "gpu": g,
                    "input": DOES_NOT_FIT,
                    "usd_per_mtok_low_input": None,
                    "usd_per_mtok_high_input": None,
                    "usd_per_mtok_base": None,
                }
            )
            continue
        base = usd_per_million_tokens(tco_usd(p, g), tps, p.utilization, p.years)

        # (TCO, utilization) at the low and high end of each input, the rest at the parameters.
        cases = {
            "GPU price": [
                (
                    tco_usd(p, g, price_usd=p.price_of(g) * (1 + s * p.mc_price_spread)),
                    p.utilization,
                )
                for s in (-1, 1)
            ],
            "electricity price": [
                (tco_usd(p, g, usd_per_kwh=v), p.utilization)
                for v in p.mc_electricity_range_usd_per_kwh
            ],
            "utilization": [(tco_usd(p, g, utilization=v), v) for v in p.mc_utilization_range],
        }
        for name, ((lo_tco, lo_u), (hi_tco, hi_u)) in cases.items():
            lo = usd_per_million_tokens(lo_tco, tps, lo_u, p.years)
            hi = usd_per_million_tokens(hi_tco, tps, hi_u, p.years)
            rows.append(
                {
                    "gpu": g,
                    "input": name,
                    "usd_per_mtok_low_input": lo,
                    "usd_per_mtok_high_input": hi,
                    "usd_per_mtok_base": base,
                }
            )
        lo = usd_per_million_tokens(
            tco_usd(p, g), tps * (1 - p.mc_throughput_spread), p.utilization, p.years
        )
        hi = usd_per_million_tokens(
            tco_usd(p, g), tps * (1 + p.mc_throughput_spread), p.utilization, p.years
        )
        rows.append(
            {
                "gpu": g,
                "input": "throughput",
                "usd_per_mtok_low_input": lo,
                "usd_per_mtok_high_input": hi,
                "usd_per_mtok_base": base,
            }
        )
    t = pd.DataFrame(rows)
    t["swing_usd_per_mtok"] = (
        t["usd_per_mtok_high_input"].astype(float) - t["usd_per_mtok_low_input"].astype(float)
    ).abs()
    return t.sort_values(["gpu", "swing_usd_per_mtok"], ascending=[True, False]).set_index(
        ["gpu", "input"]
    )


# --- Where each GPU is cheaper -------------------------------------------------------------------


def cheaper_by_batch_and_model(p: Params, batches: list[int] | None = None) -> pd.DataFrame:
    """Cheapest GPU to own (of ``p.gpus``) per model (rows) and batch (columns), with the first
    workload's precisions and context; None where no chosen GPU fits."""
    import pandas as pd

    wl = p.workloads[0]
    batches = batches or list(p.decode_batch_sizes)
    grid = {}
    for mid in catalog.model_ids():
        row = {}
        for b in batches:
            best, best_cost = None, math.inf
            for g in p.gpus:
                tps = throughput.decode_tokens_per_s(
                    p, mid, wl.weights, wl.kv_cache, b, wl.context_tokens, g
                )
                if tps:
                    c = usd_per_million_tokens(tco_usd(p, g), tps, p.utilization, p.years)
                    if c < best_cost:
                        best, best_cost = g, c
            row[f"batch {b}"] = best
        grid[mid] = row
    frame = pd.DataFrame.from_dict(grid, orient="index")
    frame.index.name = "model"
    return frame.astype(object).replace({np.nan: None})


def cheaper_by_price_and_utilization(
    p: Params, price_factors: list[float] | None = None, utilizations: list[float] | None = None
) -> pd.DataFrame:
    """For the first workload: the cheaper GPU per reference-GPU price (rows, as a multiple of its
    current price) and utilization (columns)."""
    import pandas as pd

    wl = p.workloads[0]
    price_factors = price_factors or [0.05, 0.1, 0.2, 0.5, 1.0]
    utilizations = utilizations or [0.1, 0.3, 0.5, 0.7, 0.9]
    ref = p.gpus[0]
    tps = {g: workload_tokens_per_s(p, wl, g) for g in p.gpus}
    grid = {}
    for f in price_factors:
        row = {}
        for u in utilizations:
            costs = {
                g: usd_per_million_tokens(
                    tco_usd(p, g, u, price_usd=p.price_of(ref) * f if g == ref else None),
                    tps[g],
                    u,
                    p.years,
                )
                for g in p.gpus
                if tps[g]
            }
            row[f"utilization {u:.0%}"] = min(costs, key=costs.get) if costs else None
        grid[f"{ref} at {f:.0%} of price (${p.price_of(ref) * f:,.0f})"] = row
    frame = pd.DataFrame.from_dict(grid, orient="index")
    frame.index.name = "reference price"
    return frame


# --- Monte Carlo ---------------------------------------------------------------------------------


def monte_carlo_table(p: Params) -> pd.DataFrame:
    """The Monte Carlo summary for the parameters' workloads on the chosen GPUs."""
    tps = np.array(
        [[workload_tokens_per_s(p, wl, g) or np.nan for g in p.gpus] for wl in p.workloads],
        dtype=float,
    )
    costs = monte_carlo_cost(p, tps, list(p.gpus))
    return monte_carlo_summary(costs, [wl.name for wl in p.workloads], list(p.gpus))


# --- One configuration (gpucompare cost) ---------------------------------------------------------


def cost_of(
    p: Params,
    gpu_id: str,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    context_tokens: int,
) -> dict:
    """One configuration's cost (the ``gpucompare cost --json`` payload): TCO and rental over the
    horizon, decode tokens/s on one GPU, and cost per million tokens (None when it does not fit)."""
    catalog.get_gpu(gpu_id, "--gpu")
    catalog.get_model(model_id, "--model")
    catalog.weight_format(weights, "--weights")
    catalog.kv_format(kv, "--kv")
    tps = throughput.decode_tokens_per_s(p, model_id, weights, kv, batch, context_tokens, gpu_id)
    total, rent = tco_usd(p, gpu_id), rent_usd(p, gpu_id)
    return {
        "gpu": gpu_id,
        "model": model_id,
        "weights": weights,
        "kv_cache": kv,
        "batch": batch,
        "context_tokens": context_tokens,
        "years": p.years,
        "utilization": p.utilization,
        "tco_usd": total,
        "rent_usd": rent,
        "tokens_per_s": tps,
        "fits_one_gpu": tps is not None,
        "usd_per_million_tokens": usd_per_million_tokens(total, tps, p.utilization, p.years)
        if tps
        else None,
        "usd_per_million_tokens_rent": usd_per_million_tokens(rent, tps, p.utilization, p.years)
        if tps
        else None,
    }
