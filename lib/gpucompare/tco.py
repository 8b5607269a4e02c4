"""Total cost of ownership, rental cost, cost per million tokens, break-even, sensitivity and
Monte Carlo uncertainty.

Formulas (USD; hours per year = 8,760):

* capex = purchase price + host share per GPU (by segment);
* average board power (W) = TDP x (u x busy_fraction + (1 - u) x idle_fraction), u = utilization;
* energy cost = average power x 8,760 h x years / 1000 x PUE x USD/kWh;
* TCO = capex + energy cost - resale_fraction x purchase price;
* rental (on demand) = USD/GPU-hour x 8,760 x years x u (paid only while serving);
* cost per million tokens = TCO / (tokens/s x u x 3,600 x 8,760 x years / 1e6).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from gpucompare.core import paths, units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog

SECONDS_PER_YEAR = units.HOURS_PER_YEAR * units.SECONDS_PER_HOUR
#: The sensitivity table's ``input`` for a GPU the workload does not fit (no cost to move).
DOES_NOT_FIT = "does not fit one GPU"
TOKENS_PER_MILLION = 1e6


# --- Cloud prices (data/cloud_prices.yaml) ------------------------------------------------------


class CloudPrice(BaseModel):
    """One dated rental price of one GPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu: str
    kind: Literal["on_demand", "reserved", "marketplace"]
    usd_per_gpu_hour: float
    provider: str
    date: str | None
    source: str
    note: str | None = None


class CloudPriceFile(BaseModel):
    """``data/cloud_prices.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    sources: dict[str, catalog.Source]
    prices: list[CloudPrice]


@functools.cache
def _cloud_file(path: Path) -> CloudPriceFile:
    data = catalog.load_validated(path, CloudPriceFile)
    missing = sorted({p.source for p in data.prices} - set(data.sources))
    if missing:
        raise InputError(f"{path}: undefined source ids {missing}")
    return data


def cloud_prices() -> CloudPriceFile:
    """The validated cloud price file."""
    return _cloud_file(paths.data_dir() / "cloud_prices.yaml")


def cloud_rate(p, gpu_id: str) -> tuple[float, str]:
    """USD per GPU-hour and where it comes from: the parameter if set, else the cheapest
    on-demand price in the data (marketplace if there is no on-demand one)."""
    if gpu_id in p.cloud_usd_per_gpu_hour:
        return p.cloud_usd_per_gpu_hour[gpu_id], "parameter cloud_usd_per_gpu_hour"
    rows = [r for r in cloud_prices().prices if r.gpu == gpu_id]
    for kind in ("on_demand", "marketplace"):
        found = sorted(
            (r for r in rows if r.kind == kind), key=lambda r: (r.usd_per_gpu_hour, r.provider)
        )
        if found:
            r = found[0]
            return r.usd_per_gpu_hour, f"{r.provider} {kind.replace('_', '-')} ({r.date})"
    raise InputError(
        f"data/cloud_prices.yaml: no on_demand or marketplace price for GPU '{gpu_id}'; set cloud_usd_per_gpu_hour.{gpu_id}"
    )


# --- Ownership -----------------------------------------------------------------------------------


def capex_usd(p, gpu_id: str) -> float:
    """Purchase price plus the host share of the GPU's segment (USD)."""
    gpu = catalog.get_gpu(gpu_id)
    return p.price_of(gpu_id) + p.host_usd_per_gpu.get(gpu.segment, 0.0)


def average_power_w(p, gpu_id: str, utilization: float | None = None) -> float:
    """Average board power (W) = TDP x (u x busy_fraction + (1 - u) x idle_fraction)."""
    u = p.utilization if utilization is None else utilization
    tdp = catalog.get_gpu(gpu_id).spec("tdp_w")
    return tdp * (u * p.busy_power_fraction + (1 - u) * p.idle_power_fraction)


def energy_cost_usd(
    p, gpu_id: str, utilization: float | None = None, usd_per_kwh: float | None = None
) -> float:
    """Electricity over the horizon, cooling included through PUE (USD)."""
    price = p.electricity_usd_per_kwh if usd_per_kwh is None else usd_per_kwh
    kwh = (
        average_power_w(p, gpu_id, utilization)
        * units.HOURS_PER_YEAR
        * p.years
        / units.WATTS_PER_KW
    )
    return kwh * p.pue * price


def tco_usd(
    p,
    gpu_id: str,
    utilization: float | None = None,
    price_usd: float | None = None,
    usd_per_kwh: float | None = None,
) -> float:
    """Capex + energy - resale (USD) over ``p.years``; ``utilization``, ``price_usd`` and ``usd_per_kwh``
    replace the parameters' utilization, purchase price and electricity price when given (the
    sensitivity and heatmap cases: computed as given, not re-validated as parameters)."""
    if price_usd is None:
        return (
            capex_usd(p, gpu_id)
            + energy_cost_usd(p, gpu_id, utilization, usd_per_kwh)
            - p.resale_fraction * p.price_of(gpu_id)
        )
    host = p.host_usd_per_gpu.get(catalog.get_gpu(gpu_id).segment, 0.0)
    return (
        price_usd
        + host
        + energy_cost_usd(p, gpu_id, utilization, usd_per_kwh)
        - p.resale_fraction * price_usd
    )


def rent_usd(p, gpu_id: str, utilization: float | None = None) -> float:
    """On-demand rental over the horizon, paying only the serving hours (USD)."""
    u = p.utilization if utilization is None else utilization
    return cloud_rate(p, gpu_id)[0] * units.HOURS_PER_YEAR * p.years * u


def break_even_utilization(p, gpu_id: str) -> float | None:
    """Utilization above which buying is cheaper than renting on demand (None if never within [0, 1]).

    TCO(u) = capex - resale + E_idle + u (E_busy - E_idle); rent(u) = u x rate x hours, so
    u* = (capex - resale + E_idle) / (rate x hours - (E_busy - E_idle))."""
    fixed = (
        capex_usd(p, gpu_id)
        - p.resale_fraction * p.price_of(gpu_id)
        + energy_cost_usd(p, gpu_id, 0.0)
    )
    slope = energy_cost_usd(p, gpu_id, 1.0) - energy_cost_usd(p, gpu_id, 0.0)
    rent_per_u = cloud_rate(p, gpu_id)[0] * units.HOURS_PER_YEAR * p.years
    if rent_per_u <= slope:
        return None
    u = fixed / (rent_per_u - slope)
    return u if u <= 1.0 else None


def tco_table(p) -> pd.DataFrame:
    """Per GPU: price, host share, energy, resale, TCO, rental at the same utilization, and the
    break-even utilization of buying vs renting."""
    rows = []
    for g in p.gpus:
        rate, where = cloud_rate(p, g)
        rows.append(
            {
                "gpu": g,
                "price_usd": p.price_of(g),
                "host_usd": capex_usd(p, g) - p.price_of(g),
                "average_power_w": average_power_w(p, g),
                "energy_usd": energy_cost_usd(p, g),
                "resale_usd": p.resale_fraction * p.price_of(g),
                "tco_usd": tco_usd(p, g),
                "cloud_usd_per_gpu_hour": rate,
                "cloud_price_source": where,
                "rent_usd": rent_usd(p, g),
                "break_even_utilization": break_even_utilization(p, g),
            }
        )
    return pd.DataFrame(rows).set_index("gpu").astype(object).replace({np.nan: None})


def tco_caption(p) -> str:
    """One sentence: each GPU's TCO and whether buying beats renting at the parameters' utilization."""
    t = tco_table(p)
    parts = []
    for g, r in t.iterrows():
        verdict = "buying is cheaper" if r["tco_usd"] < r["rent_usd"] else "renting is cheaper"
        parts.append(f"{g} ${r['tco_usd']:,.0f} ({verdict})")
    return f"Over {p.years:g} years at {p.utilization:.0%} utilization: " + "; ".join(parts) + "."


def usd_per_million_tokens(
    tco: float, tokens_per_s: float, utilization: float, years: float
) -> float:
    """TCO / millions of tokens served = tco / (tokens/s x u x seconds per year x years / 1e6)."""
    if tokens_per_s <= 0 or utilization <= 0 or years <= 0:
        raise InputError("tokens_per_s, utilization and years must be positive")
    return tco / (tokens_per_s * utilization * SECONDS_PER_YEAR * years / TOKENS_PER_MILLION)


# --- The article's cost arithmetic --------------------------------------------------------------


def article_cost(
    price_usd: float,
    power_w: float,
    usd_per_kwh: float,
    years: float,
    tokens_per_s: float | None = None,
    **_,
) -> dict:
    """The article's ``cost_per_token_comparison`` as written: power cost/year = W x 8,760 x USD/kWh
    / 1000; TCO = price + years x power cost; tokens = tok/s x 86,400 x 365 x years (24/7, no
    utilization); cost per million = TCO / (tokens / 1e6)."""
    power_year = power_w * units.HOURS_PER_YEAR * usd_per_kwh / units.WATTS_PER_KW
    tco = price_usd + years * power_year
    out = {"power_usd_per_year": power_year, "tco_usd": tco}
    if tokens_per_s:
        out["usd_per_million_tokens"] = tco / (
            tokens_per_s * 86_400 * 365 * years / TOKENS_PER_MILLION
        )
    return out


def _num(x: float) -> str:
    """Readable number: thousands separators above 1,000, four significant digits below."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


# --- Claims audit --------------------------------------------------------------------------------

#: Relative tolerance for the article's cost figures (it rounds to 2-3 digits).
COST_TOLERANCE = 0.03


def _check_article_cost(c):
    """A cost figure against the article's own formula with its own inputs."""
    from gpucompare.audit import Finding, relative_verdict

    computed = article_cost(**c.check)[c.check["quantity"]]
    verdict = relative_verdict(float(c.value), computed, COST_TOLERANCE)
    why = f"its own formula and inputs give {_num(computed)}"
    if verdict == "wrong":
        factor = computed / float(c.value)
        why += (
            f", {factor:,.0f}x the printed figure"
            if factor >= 1
            else f", {1 / factor:,.1f}x less than printed"
        )
    return Finding(computed, verdict, why)


def _check_article_cost_no_throughput(c):
    """A cost row for which the article states no throughput: report the throughput it implies."""
    from gpucompare.audit import Finding

    tco = article_cost(**c.check)["tco_usd"]
    implied = tco / (float(c.value) * 86_400 * 365 * c.check["years"] / TOKENS_PER_MILLION)
    return Finding(
        None,
        "unverifiable",
        f"no throughput is stated for this row; at its own TCO (${tco:,.0f}) the printed cost implies "
        f"{implied:,.0f} tok/s ({implied / 1000:,.0f} tok/s if the same 1000x slip applies)",
    )


def _check_article_cost_ratio(c):
    """A "GPU x is N times cheaper" verdict recomputed with the article's own inputs: ratio = cost(a) / cost(b)."""
    from gpucompare.audit import Finding, relative_verdict

    shared = {"usd_per_kwh": c.check["usd_per_kwh"], "years": c.check["years"]}
    cost_a = article_cost(**c.check["a"], **shared)["usd_per_million_tokens"]
    cost_b = article_cost(**c.check["b"], **shared)["usd_per_million_tokens"]
    ratio = cost_a / cost_b
    verdict = relative_verdict(float(c.value), ratio, 0.05)
    if ratio < 1:
        why = f"with its own inputs the claimed loser is {1 / ratio:.2f}x cheaper (${cost_a:.3f} vs ${cost_b:.3f} per million tokens): the verdict is reversed"
    else:
        why = f"with its own inputs: ${cost_a:.3f} vs ${cost_b:.3f} per million tokens, a ratio of {ratio:.2f}"
    return Finding(ratio, verdict, why)


CLAIM_CHECKS = {
    "article_cost": _check_article_cost,
    "article_cost_no_throughput": _check_article_cost_no_throughput,
    "article_cost_ratio": _check_article_cost_ratio,
}


# --- Monte Carlo ---------------------------------------------------------------------------------


def monte_carlo_cost(p, tokens_per_s: np.ndarray, gpu_ids: list[str]) -> np.ndarray:
    """Cost per million tokens for ``p.mc_draws`` draws: an array (draws, workloads, GPUs).

    ``tokens_per_s`` is (workloads, GPUs), NaN where a workload does not fit. Each draw takes
    utilization and electricity price uniformly from their ranges (shared by all GPUs: one
    scenario per draw), and per GPU a price and a throughput factor uniform in 1 +/- spread.
    Seeded with ``p.mc_seed``, so the same parameters give the same draws."""
    rng = np.random.default_rng(p.mc_seed)
    n, g = p.mc_draws, len(gpu_ids)
    u = rng.uniform(*p.mc_utilization_range, size=n)
    kwh_price = rng.uniform(*p.mc_electricity_range_usd_per_kwh, size=n)
    price_f = rng.uniform(1 - p.mc_price_spread, 1 + p.mc_price_spread, size=(n, g))
    tps_f = rng.uniform(1 - p.mc_throughput_spread, 1 + p.mc_throughput_spread, size=(n, g))
    price = np.array([p.price_of(x) for x in gpu_ids])
    host = np.array([capex_usd(p, x) - p.price_of(x) for x in gpu_ids])
    tdp = np.array([catalog.get_gpu(x).spec("tdp_w") for x in gpu_ids])
    power_w = tdp[None, :] * (
        u[:, None] * p.busy_power_fraction + (1 - u[:, None]) * p.idle_power_fraction
    )
    energy = (
        power_w * units.HOURS_PER_YEAR * p.years / units.WATTS_PER_KW * p.pue * kwh_price[:, None]
    )
    tco = price[None, :] * price_f * (1 - p.resale_fraction) + host[None, :] + energy  # (n, g)
    tokens_m = (
        tokens_per_s[None, :, :]
        * tps_f[:, None, :]
        * u[:, None, None]
        * SECONDS_PER_YEAR
        * p.years
        / TOKENS_PER_MILLION
    )
    return tco[:, None, :] / tokens_m  # (n, w, g); NaN where the workload does not fit


def monte_carlo_summary(
    costs: np.ndarray, workload_names: list[str], gpu_ids: list[str]
) -> pd.DataFrame:
    """Per workload and GPU: the 5th, 50th and 95th percentile cost per million tokens and the
    probability that this GPU is the cheapest (NaN costs never win)."""
    filled = np.where(np.isnan(costs), np.inf, costs)
    winner = np.argmin(filled, axis=2)  # (n, w)
    any_fits = np.isfinite(filled).any(axis=2)
    rows = []
    for wi, wname in enumerate(workload_names):
        for gi, gid in enumerate(gpu_ids):
            c = costs[:, wi, gi]
            fits = not np.isnan(c).all()
            p5, p50, p95 = np.percentile(c, [5, 50, 95]) if fits else (None, None, None)
            wins = float(np.mean((winner[:, wi] == gi) & any_fits[:, wi])) if fits else 0.0
            rows.append(
                {
                    "workload": wname,
                    "gpu": gid,
                    "usd_per_mtok_p5": p5,
                    "usd_per_mtok_p50": p50,
                    "usd_per_mtok_p95": p95,
                    "probability_cheapest": wins,
                }
            )
    return pd.DataFrame(rows).set_index(["workload", "gpu"]).astype(object).replace({np.nan: None})


# --- Cost per token with the throughput model ----------------------------------------------------


def _tps(p, wl, gpu_id: str, batch: int | None = None, model: str | None = None) -> float | None:
    from gpucompare import throughput

    return throughput.decode_tokens_per_s(
        p,
        model or wl.model,
        wl.weights,
        wl.kv_cache,
        batch or wl.batch_size,
        wl.context_tokens,
        gpu_id,
    )


def cost_table(p) -> pd.DataFrame:
    """Per workload and GPU: decode tokens/s (one GPU; None = does not fit), and cost per million
    tokens owning (TCO) and renting on demand. A configuration that does not fit has no cost."""
    rows = []
    for wl in p.workloads:
        for g in p.gpus:
            tps = _tps(p, wl, g)
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


def winners_table(p) -> pd.DataFrame:
    """Per workload: the cheapest GPU to own and to rent, and by how much (cost ratio runner-up / winner)."""
    t = cost_table(p)
    rows = []
    for wl in p.workloads:
        sub = t.xs(wl.name, level="workload")
        row = {"workload": wl.name}
        for col, label in (("usd_per_mtok_own", "own"), ("usd_per_mtok_rent", "rent")):
            costs = sub[col].dropna().astype(float).sort_values()
            row[f"cheapest_{label}"] = costs.index[0] if len(costs) else None
            row[f"usd_per_mtok_{label}"] = costs.iloc[0] if len(costs) else None
            row[f"advantage_{label}"] = costs.iloc[1] / costs.iloc[0] if len(costs) > 1 else None
        row["fits_on"] = ", ".join(sub.index[sub["tokens_per_s"].notna()]) or None
        rows.append(row)
    return pd.DataFrame(rows).set_index("workload").astype(object).replace({np.nan: None})


def winners_caption(p) -> str:
    """One sentence counting the workloads each GPU wins when owned."""
    t = winners_table(p)
    counts = t["cheapest_own"].value_counts()
    parts = [f"{g} is cheapest for {counts.get(g, 0)}" for g in p.gpus]
    none = int(t["cheapest_own"].isna().sum())
    tail = f"; {none} fit none of them on one GPU" if none else ""
    return f"Owning, over {len(t)} workloads: " + ", ".join(parts) + tail + "."


def _linear_parts(p, wl, g: str) -> dict | None:
    """Pieces of cost per million tokens for closed-form break-evens (None if it does not fit)."""
    tps = _tps(p, wl, g)
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


def break_even_table(p) -> pd.DataFrame:
    """For each workload and each GPU after the first: the first GPU's price, the electricity price
    and the utilization at which both cost the same per token (closed forms of the linear cost model;
    None where they never cross in a meaningful range)."""
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
                u, e = p.utilization, p.electricity_usd_per_kwh

                def cost(x, u=u, e=e):
                    power = x["idle_w"] + u * (x["busy_w"] - x["idle_w"])
                    return (x["fixed"] + power * x["kwh_per_w"] * e) / (x["tokens_m_per_u"] * u)

                target = cost(b)
                energy_a = (a["idle_w"] + u * (a["busy_w"] - a["idle_w"])) * a["kwh_per_w"] * e
                host_a = a["fixed"] - (1 - p.resale_fraction) * a["price"]
                price = (target * a["tokens_m_per_u"] * u - energy_a - host_a) / (
                    1 - p.resale_fraction
                )
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
                A = [
                    (x["fixed"] + x["idle_w"] * x["kwh_per_w"] * e) / x["tokens_m_per_u"]
                    for x in (a, b)
                ]
                B = [
                    (x["busy_w"] - x["idle_w"]) * x["kwh_per_w"] * e / x["tokens_m_per_u"]
                    for x in (a, b)
                ]
                if B[1] != B[0]:
                    u_star = (A[0] - A[1]) / (B[1] - B[0])
                    row["break_even_utilization"] = u_star if 0 < u_star <= 1 else None
            rows.append(row)
    return (
        pd.DataFrame(rows, columns=columns)
        .set_index(["workload", "versus"])
        .astype(object)
        .replace({np.nan: None})
    )


def break_even_caption(p) -> str:
    """One sentence on the first workload's reference-price break-even."""
    if len(p.gpus) < 2:
        return f"Only {p.gpus[0]} is chosen, so there is no other GPU to break even with."
    t = break_even_table(p).dropna(subset=["break_even_reference_price_usd"])
    if t.empty:
        return "No workload fits both GPUs, so there is no price at which they tie."
    (wl, g), row = next(iter(t.iterrows()))
    return (
        f"For {wl}, {p.gpus[0]} would have to cost ${row['break_even_reference_price_usd']:,.0f} "
        f"(now ${p.price_of(p.gpus[0]):,.0f}) to match {g} per token."
    )


# --- Sensitivity (tornado) -----------------------------------------------------------------------


def figure_literal(text: str) -> str:
    """``text`` (a workload name: any string) as matplotlib shows it verbatim: a pair of ``$`` would
    start math text, and invalid math fails the figure."""
    return text.replace("$", r"\$")


def sensitivity_table(p, workload_index: int = 0) -> pd.DataFrame:
    """Cost per million tokens of one workload on each GPU with one input at a time moved to the low
    and high end of its Monte Carlo range (price and throughput +/- spread, utilization and
    electricity over their ranges), the rest at the parameters' values. A GPU the workload does not
    fit has one row, input :data:`DOES_NOT_FIT`, without costs."""
    wl = p.workloads[workload_index]
    rows = []
    for g in p.gpus:
        tps = _tps(p, wl, g)
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


def sensitivity_caption(p, workload_index: int = 0) -> str:
    """One sentence naming the input that moves cost per token most, per GPU."""
    t = sensitivity_table(p, workload_index)
    parts = [
        f"{g}: {sub.index.get_level_values('input')[0]}"
        for g, sub in t.groupby(level="gpu", sort=False)
    ]
    return (
        f"What moves the cost per token of {p.workloads[workload_index].name} most: "
        + "; ".join(parts)
        + "."
    )


def tornado_figure(p, workload_index: int = 0):
    """Horizontal bars: cost per million tokens at the low and high end of each input, per GPU."""
    from gpucompare.sections.figures import colour, new_row

    t = sensitivity_table(p, workload_index)
    gpus = list(dict.fromkeys(t.index.get_level_values("gpu")))
    fig, axes = new_row(
        f"Sensitivity of cost per token, {figure_literal(p.workloads[workload_index].name)}",
        gpus,
        "cost per million tokens (USD)",
        "input",
    )
    for ax, g in zip(axes, gpus, strict=True):
        sub = t.xs(g, level="gpu").iloc[::-1]
        if sub["usd_per_mtok_base"].isna().all():
            ax.text(0.5, 0.5, DOES_NOT_FIT, ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        y = np.arange(len(sub))
        lo, hi = (
            sub["usd_per_mtok_low_input"].astype(float),
            sub["usd_per_mtok_high_input"].astype(float),
        )
        left = np.minimum(lo, hi)
        ax.barh(y, np.abs(hi - lo), left=left, color=colour(0), alpha=0.8)
        ax.axvline(float(sub["usd_per_mtok_base"].iloc[0]), color="black", linewidth=1)
        ax.set_yticks(y, sub.index)
    return fig


# --- Heatmaps ------------------------------------------------------------------------------------


def cheaper_by_batch_and_model(p, batches: list[int] | None = None) -> pd.DataFrame:
    """Cheapest GPU to own (of ``p.gpus``) per model (rows) and batch (columns), with the first
    workload's precisions and context; None where no chosen GPU fits."""
    from gpucompare import throughput

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
    p, price_factors: list[float] | None = None, utilizations: list[float] | None = None
) -> pd.DataFrame:
    """For the first workload: the cheaper GPU per reference-GPU price (rows, as a multiple of its
    current price) and utilization (columns)."""
    wl = p.workloads[0]
    price_factors = price_factors or [0.05, 0.1, 0.2, 0.5, 1.0]
    utilizations = utilizations or [0.1, 0.3, 0.5, 0.7, 0.9]
    ref = p.gpus[0]
    tps = {g: _tps(p, wl, g) for g in p.gpus}
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


def cheaper_by_batch_caption(p) -> str:
    """One sentence: from which batch on the first GPU is cheaper, per model where it changes."""
    t = cheaper_by_batch_and_model(p)
    ref = p.gpus[0]
    flips = []
    for model, row in t.iterrows():
        winners = list(row.values)
        if ref in winners and any(w not in (ref, None) for w in winners):
            flips.append(f"{model} from {row.index[winners.index(ref)]}")
    if not flips:
        return "The cheaper GPU does not change with batch size for any catalog model."
    return (
        f"{ref} becomes the cheaper GPU as batches grow: "
        + "; ".join(flips)
        + "; empty cells fit none of the chosen GPUs."
    )


def cheaper_by_price_caption(p) -> str:
    """One sentence: whether the first GPU wins anywhere on the price x utilization grid."""
    t = cheaper_by_price_and_utilization(p)
    ref = p.gpus[0]
    wins = int((t == ref).to_numpy().sum())
    return (
        f"For {p.workloads[0].name}, {ref} is the cheaper GPU in {wins} of {t.size} combinations of its price and utilization"
        + ("." if wins else ": even at a fraction of its price it does not pay for this workload.")
    )


def gpu_class(p):
    """A cell-class function colouring a GPU id by its position in ``p.gpus`` (for winner tables)."""
    order = {g: i for i, g in enumerate(p.gpus)}

    def _cls(value: object) -> str:
        return f"gc-series-{order[value]}" if value in order else "gc-bad"

    return _cls


def monte_carlo_table(p) -> pd.DataFrame:
    """The Monte Carlo summary for the parameters' workloads on the chosen GPUs."""
    tps = np.array([[_tps(p, wl, g) or np.nan for g in p.gpus] for wl in p.workloads], dtype=float)
    costs = monte_carlo_cost(p, tps, list(p.gpus))
    return monte_carlo_summary(costs, [wl.name for wl in p.workloads], list(p.gpus))


def monte_carlo_caption(p) -> str:
    """One sentence: per workload with a contest, the favourite and its probability."""
    t = monte_carlo_table(p)
    parts = []
    for wl in p.workloads:
        sub = t.xs(wl.name, level="workload")
        fits = sub[sub["usd_per_mtok_p50"].notna()]
        if len(fits) > 1:
            best = fits["probability_cheapest"].astype(float).idxmax()
            parts.append(f"{wl.name}: {best} ({float(fits.loc[best, 'probability_cheapest']):.0%})")
    head = f"Over {p.mc_draws:,} draws (seed {p.mc_seed})"
    return head + (
        ", the likely cheaper GPU where both fit: " + "; ".join(parts) + "."
        if parts
        else ": no workload fits more than one chosen GPU."
    )


def article_audit_caption() -> str:
    """One sentence counting the wrong cost figures of the article."""
    from gpucompare import audit

    t = audit.audit_table("tco")
    wrong = int((t["verdict"] == "wrong").sum())
    return f"{wrong} of the article's {len(t)} cost figures do not follow from its own formula and inputs; rows without a stated throughput cannot be checked."


def sources_frame() -> pd.DataFrame:
    """The cloud-price sources, one row per source."""
    return catalog.sources_frame(cloud_prices().sources)


# --- CLI: gpucompare cost ------------------------------------------------------------------------


def cost_of(
    p, gpu_id: str, model_id: str, weights: str, kv: str, batch: int, context_tokens: int
) -> dict:
    """One configuration's cost (the ``gpucompare cost --json`` payload): TCO and rental over the
    horizon, decode tokens/s on one GPU, and cost per million tokens (None when it does not fit)."""
    from gpucompare import throughput

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


def add_cli(subparsers) -> None:
    """Add ``gpucompare cost``."""
    from pathlib import Path as _Path

    from gpucompare.cli import positive_int  # the CLI imports this module inside parser()

    c = subparsers.add_parser(
        "cost", help="TCO, tokens/s and cost per million tokens of one configuration"
    )
    c.add_argument("--gpu", required=True, help="GPU catalog id, e.g. h100-sxm")
    c.add_argument("--model", required=True, help="model catalog id, e.g. llama-2-7b")
    c.add_argument(
        "--weights", default="fp16", help="weight precision (fp32, bf16, fp16, fp8, int8, int4)"
    )
    c.add_argument("--kv", default="fp16", help="KV-cache precision")
    c.add_argument("--batch", type=positive_int, default=1, help="concurrent sequences")
    c.add_argument("--context", type=positive_int, default=4096, help="tokens per sequence")
    c.add_argument(
        "--params", action="append", default=[], type=_Path, metavar="FILE", help="parameters file"
    )
    c.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. price_usd.h100-sxm=25000",
    )
    c.add_argument("--json", action="store_true", help="JSON output")
    c.set_defaults(func=_cmd_cost)


def _cmd_cost(args) -> int:
    from gpucompare import params as params_mod
    from gpucompare.core import jsonout

    p, _ = params_mod.resolve(args.params, args.set)
    r = cost_of(p, args.gpu, args.model, args.weights, args.kv, args.batch, args.context)
    if args.json:
        jsonout.print_json(r)
        return 0
    if not r["fits_one_gpu"]:
        print(
            f"{args.model} ({args.weights}, batch {args.batch} x {args.context} tokens) does not fit one {args.gpu}: no cost per token"
        )
    else:
        print(
            f"{args.gpu}, {args.model} {args.weights}, batch {args.batch}: {r['tokens_per_s']:,.0f} tokens/s; "
            f"TCO ${r['tco_usd']:,.0f} over {p.years:g} years -> ${r['usd_per_million_tokens']:.3f} per million tokens "
            f"(renting: ${r['usd_per_million_tokens_rent']:.3f})"
        )
    return 0


def cheaper_heatmap_figure(p):
    """Two heatmaps of the cheaper GPU to own: per model and batch, and per reference-GPU price
    and utilization (first workload); grey where none of the chosen GPUs fits."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from gpucompare.sections.figures import colour, new_row

    grids = [
        (cheaper_by_batch_and_model(p), "batch (sequences)", "model"),
        (cheaper_by_price_and_utilization(p), "utilization", f"{p.gpus[0]} price"),
    ]
    fig, axes = new_row(
        "Cheaper GPU to own",
        [
            f"by model and batch ({p.workloads[0].weights})",
            f"by price and utilization ({figure_literal(p.workloads[0].name)})",
        ],
        "see panel",
        "see panel",
        panel_in=5.2,
        sharey=False,
    )
    cmap = ListedColormap(["#dddddd"] + [colour(i) for i in range(len(p.gpus))])
    for ax, (grid, xlabel, ylabel) in zip(axes, grids, strict=True):
        codes = np.array(
            [[0 if v is None else p.gpus.index(v) + 1 for v in row] for row in grid.to_numpy()]
        )
        ax.imshow(codes, cmap=cmap, vmin=0, vmax=len(p.gpus), aspect="auto")
        ax.set_xticks(
            range(grid.shape[1]),
            [str(c).split(" ", 1)[-1] for c in grid.columns],
            rotation=30,
            ha="right",
        )
        ax.set_yticks(range(grid.shape[0]), [str(i).split(" (")[0] for i in grid.index])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(False)
    handles = [Patch(color=colour(i), label=g) for i, g in enumerate(p.gpus)] + [
        Patch(color="#dddddd", label="none fits")
    ]
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return fig
