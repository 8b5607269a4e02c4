"""Cost per token with the throughput model: the sensitivity cases."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.model import cost, tco


@pytest.fixture
def p():
    # Round numbers so the hand calculations below are easy to follow.
    return params.make(
        gpus=["h100-sxm", "rtx-4090"],
        price_usd={"h100-sxm": 30000, "rtx-4090": 1800},
        electricity_usd_per_kwh=0.10,
        pue=1.5,
        utilization=0.5,
        years=3,
        host_usd_per_gpu={"datacenter": 8000, "workstation": 2000, "consumer": 1000},
        busy_power_fraction=0.9,
        idle_power_fraction=0.1,
        resale_fraction=0.2,
        cloud_usd_per_gpu_hour={"h100-sxm": 2.5, "rtx-4090": 0.5},
    )


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
