"""Cost formulas: ownership, rental, cost per token, the article's cost arithmetic, Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.model import tco


@pytest.fixture
def p(round_params):
    """The cost tests' round-number parameters (tests/conftest.py)."""
    return round_params


def test_ownership_hand_calculation(p):
    # H100 SXM, TDP 700 W: average power = 700 x (0.5 x 0.9 + 0.5 x 0.1) = 350 W.
    assert tco.average_power_w(p, "h100-sxm") == pytest.approx(350)
    # Energy = 350 W x 8,760 h x 3 y / 1000 x PUE 1.5 x $0.10 = $1,379.70.
    assert tco.energy_cost_usd(p, "h100-sxm") == pytest.approx(350 * 8760 * 3 / 1000 * 1.5 * 0.10)
    # TCO = 30,000 + 8,000 host + 1,379.70 - 0.2 x 30,000 resale = 33,379.70.
    assert tco.tco_usd(p, "h100-sxm") == pytest.approx(30000 + 8000 + 1379.7 - 6000)
    # RTX 4090 (consumer, 450 W): 1,800 + 1,000 + 450 x 0.5 x 8,760 x 3 / 1000 x 1.5 x 0.1 - 360.
    assert tco.tco_usd(p, "rtx-4090") == pytest.approx(
        1800 + 1000 + 225 * 8760 * 3 / 1000 * 0.15 - 360
    )


def test_host_share_grows_past_a_desktop(p):
    # round_params: a consumer card's host share is $1,000 in a host of up to 2 GPUs, $4,000 in a
    # bigger server; a datacenter GPU's is $8,000 either way.
    assert tco.host_usd(p, "rtx-4090", 1) == 1000
    assert tco.host_usd(p, "rtx-4090", 2) == 1000
    assert tco.host_usd(p, "rtx-4090", 4) == 4000
    assert tco.host_usd(p, "h100-sxm", 8) == 8000
    assert tco.tco_usd(p, "rtx-4090", gpus_per_host=8) - tco.tco_usd(p, "rtx-4090") == 3000


def test_rent_and_break_even_hand_calculation(p):
    # Renting an H100 at $2.50/h for half of 3 years: 2.5 x 8,760 x 3 x 0.5 = $32,850.
    assert tco.rent_usd(p, "h100-sxm") == pytest.approx(32850)
    # Break-even: fixed = 30,000 + 8,000 - 6,000 + idle energy (70 W x 26,280 h / 1000 x 0.15 = 275.94);
    # slope = (630 - 70) W x 26,280 h / 1000 x 0.15 = 2,207.52; rent per unit u = 2.5 x 26,280 = 65,700.
    fixed = 32000 + 70 * 26280 / 1000 * 0.15
    slope = 560 * 26280 / 1000 * 0.15
    u = tco.break_even_utilization(p, "h100-sxm")
    assert u == pytest.approx(fixed / (65700 - slope))
    assert tco.tco_usd(p, "h100-sxm", u) == pytest.approx(tco.rent_usd(p, "h100-sxm", u))


def test_cost_per_million_tokens_hand_calculation():
    # $31,536 over 1 year at 100 tok/s, 100% utilization: 3.1536e9 tokens -> $10 per million.
    assert tco.usd_per_million_tokens(31536, 100, 1.0, 1) == pytest.approx(10.0)
    with pytest.raises(InputError):
        tco.usd_per_million_tokens(1000, 0, 1.0, 1)


@settings(max_examples=50, deadline=None)
@given(
    tco_usd=st.floats(1e3, 1e6),
    tps=st.floats(1, 1e4),
    u=st.floats(0.05, 1.0),
    years=st.floats(0.5, 6),
)
def test_cost_per_token_falls_with_throughput_and_rises_with_tco(tco_usd, tps, u, years):
    base = tco.usd_per_million_tokens(tco_usd, tps, u, years)
    assert tco.usd_per_million_tokens(tco_usd, tps * 1.1, u, years) < base
    assert tco.usd_per_million_tokens(tco_usd * 1.1, tps, u, years) > base


def test_tco_rises_with_price_and_electricity(p):
    base = tco.tco_usd(p, "h100-sxm")
    pricier = params.make(**{**p.model_dump(), "price_usd": {"h100-sxm": 31000}})
    assert tco.tco_usd(pricier, "h100-sxm") > base
    dearer_power = params.make(**{**p.model_dump(), "electricity_usd_per_kwh": 0.2})
    assert tco.tco_usd(dearer_power, "h100-sxm") > base


def test_article_cost_arithmetic_is_off_by_1000():
    # The article's own inputs: 700 W x 8,760 h x $0.08 / 1000 = $490.56 a year; TCO = 30,000 + 3 x 490.56.
    out = tco.article_cost(30000, 700, 0.08, 3, 95)
    assert out["power_usd_per_year"] == pytest.approx(490.56)
    assert out["tco_usd"] == pytest.approx(31471.68)
    # 95 tok/s x 86,400 x 365 x 3 = 8.988e9 tokens -> $31,471.68 / 8,988.12 M = $3.50 per million, not $0.0035.
    assert out["usd_per_million_tokens"] == pytest.approx(31471.68 / (95 * 86400 * 365 * 3 / 1e6))
    assert out["usd_per_million_tokens"] / 0.0035 == pytest.approx(1000, rel=0.01)


def test_monte_carlo_is_seeded_and_never_prices_a_misfit(p):
    tps = np.array([[100.0, 40.0], [2000.0, np.nan]])
    a = tco.monte_carlo_cost(p, tps, p.gpus)
    b = tco.monte_carlo_cost(p, tps, p.gpus)
    assert np.array_equal(a, b, equal_nan=True)
    assert np.isnan(a[:, 1, 1]).all()
    summary = tco.monte_carlo_summary(a, ["w1", "w2"], p.gpus)
    assert summary.loc[("w2", "rtx-4090"), "usd_per_mtok_p50"] is None
    assert summary.loc[("w2", "h100-sxm"), "probability_cheapest"] == 1.0
    probs = summary.xs("w1", level="workload")["probability_cheapest"]
    assert sum(probs) == pytest.approx(1.0)


def test_monte_carlo_median_matches_deterministic_cost_at_the_centre(p):
    # With zero spreads and degenerate ranges, every draw equals the deterministic formula.
    fixed = params.make(
        **{
            **p.model_dump(),
            "mc_price_spread": 0.0,
            "mc_throughput_spread": 0.0,
            "mc_draws": 100,
            "mc_utilization_range": [0.5, 0.5],
            "mc_electricity_range_usd_per_kwh": [0.1, 0.1],
        }
    )
    costs = tco.monte_carlo_cost(fixed, np.array([[100.0, 40.0]]), fixed.gpus)
    expected = tco.usd_per_million_tokens(tco.tco_usd(fixed, "h100-sxm"), 100, 0.5, 3)
    assert np.allclose(costs[:, 0, 0], expected)
