"""Cost per token with the throughput model: the sensitivity cases."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.model import cost, tco


@pytest.fixture
def p(round_params):
    """The cost tests' round-number parameters (tests/conftest.py)."""
    return round_params


def test_sensitivity_cases_are_not_revalidated_as_parameters(p):
    """The sensitivity moves electricity to its range's ceiling and computes the cost directly."""
    high = params.MAX_USD_PER_KWH
    q = params.make(**{**p.model_dump(), "mc_electricity_range_usd_per_kwh": [0.1, high]})
    row = cost.sensitivity_table(q).loc[("h100-sxm", "electricity price")]
    assert row["usd_per_mtok_high_input"] > row["usd_per_mtok_base"]


def test_sensitivity_equals_the_cost_formula_with_one_input_moved(p):
    s = cost.sensitivity_table(p).loc[("h100-sxm", "GPU price")]
    q = params.make(**{**p.model_dump(), "price_usd": {**p.price_usd, "h100-sxm": 30000 * 1.2}})
    tps = cost.cost_table(p).loc[(p.workloads[0].name, "h100-sxm"), "tokens_per_s"]
    assert s["usd_per_mtok_high_input"] == tco.usd_per_million_tokens(
        tco.tco_usd(q, "h100-sxm"), tps, q.utilization, q.years
    )
