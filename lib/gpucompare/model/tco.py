"""Total cost of ownership, rental cost, cost per million tokens, the buy-vs-rent break-even,
the article's own cost arithmetic and the Monte Carlo cost draws.

Formulas (USD; hours per year = 8,760):

* capex = purchase price + host share per GPU (by segment: ``host_usd_per_gpu`` for a host of up
  to ``desktop_host_max_gpus`` GPUs, ``server_host_usd_per_gpu`` for a larger server, whose
  chassis, power supplies, PCIe switches and server CPUs cost more per GPU);
* average board power (W) = TDP x (u x busy_fraction + (1 - u) x idle_fraction), u = utilization;
* energy cost = average power x 8,760 h x years / 1000 x PUE x USD/kWh;
* TCO = capex + energy cost - resale_fraction x purchase price;
* rental (on demand) = USD/GPU-hour x 8,760 x years x u (paid only while serving);
* cost per million tokens = TCO / (tokens/s x u x 3,600 x 8,760 x years / 1e6).

Sources: GPU prices and TDP from ``data/gpus.yaml``, rental prices from ``data/cloud_prices.yaml``,
the rest from the parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, prices
from gpucompare.params import Params

if TYPE_CHECKING:
    import pandas as pd

SECONDS_PER_YEAR = units.HOURS_PER_YEAR * units.SECONDS_PER_HOUR
TOKENS_PER_MILLION = 1e6


def cloud_rate(p: Params, gpu_id: str) -> tuple[float, str]:
    """USD per GPU-hour and where it comes from: the parameter if set, else the cheapest
    on-demand price in the data (marketplace if there is no on-demand one)."""
    if gpu_id in p.cloud_usd_per_gpu_hour:
        return p.cloud_usd_per_gpu_hour[gpu_id], "parameter cloud_usd_per_gpu_hour"
    rows = [r for r in prices.cloud_prices().prices if r.gpu == gpu_id]
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


def host_usd(p: Params, gpu_id: str, gpus_per_host: int = 1) -> float:
    """Host share per GPU (USD) of the GPU's segment: ``host_usd_per_gpu`` in a host of up to
    ``desktop_host_max_gpus`` GPUs, ``server_host_usd_per_gpu`` in a bigger server."""
    segment = catalog.get_gpu(gpu_id).segment
    if gpus_per_host > p.desktop_host_max_gpus:
        return p.server_host_usd_per_gpu.get(segment, 0.0)
    return p.host_usd_per_gpu.get(segment, 0.0)


def capex_usd(p: Params, gpu_id: str, gpus_per_host: int = 1) -> float:
    """Purchase price plus the host share per GPU (USD), :func:`host_usd`."""
    return p.price_of(gpu_id) + host_usd(p, gpu_id, gpus_per_host)


def average_power_w(p: Params, gpu_id: str, utilization: float | None = None) -> float:
    """Average board power (W) = TDP x (u x busy_fraction + (1 - u) x idle_fraction)."""
    u = p.utilization if utilization is None else utilization
    tdp = catalog.get_gpu(gpu_id).spec("tdp_w")
    return tdp * (u * p.busy_power_fraction + (1 - u) * p.idle_power_fraction)


def energy_cost_usd(
    p: Params, gpu_id: str, utilization: float | None = None, usd_per_kwh: float | None = None
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
    p: Params,
    gpu_id: str,
    utilization: float | None = None,
    price_usd: float | None = None,
    usd_per_kwh: float | None = None,
    gpus_per_host: int = 1,
) -> float:
    """Capex + energy - resale (USD) over ``p.years`` for one GPU in a host of ``gpus_per_host``;
    ``utilization``, ``price_usd`` and ``usd_per_kwh`` replace the parameters' utilization,
    purchase price and electricity price when given (the sensitivity and heatmap cases: computed
    as given, not re-validated as parameters)."""
    if price_usd is None:
        return (
            capex_usd(p, gpu_id, gpus_per_host)
            + energy_cost_usd(p, gpu_id, utilization, usd_per_kwh)
            - p.resale_fraction * p.price_of(gpu_id)
        )
    host = host_usd(p, gpu_id, gpus_per_host)
    return (
        price_usd
        + host
        + energy_cost_usd(p, gpu_id, utilization, usd_per_kwh)
        - p.resale_fraction * price_usd
    )


def own_usd_per_gpu_hour(p: Params, gpu_id: str, gpus_per_host: int = 1) -> float:
    """What owning one GPU costs per hour of the horizon, busy or idle (USD per GPU-hour):
    :func:`tco_usd` (host share of a host of ``gpus_per_host`` GPUs) / (8,760 x years)."""
    return tco_usd(p, gpu_id, gpus_per_host=gpus_per_host) / (units.HOURS_PER_YEAR * p.years)


def rent_usd(p: Params, gpu_id: str, utilization: float | None = None) -> float:
    """On-demand rental over the horizon, paying only the serving hours (USD)."""
    u = p.utilization if utilization is None else utilization
    return cloud_rate(p, gpu_id)[0] * units.HOURS_PER_YEAR * p.years * u


def break_even_utilization(p: Params, gpu_id: str) -> float | None:
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


# --- Monte Carlo ---------------------------------------------------------------------------------


def monte_carlo_cost(p: Params, tokens_per_s: np.ndarray, gpu_ids: list[str]) -> np.ndarray:
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
    import pandas as pd

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
