"""Cost section: a workload that fits no chosen GPU, and a single chosen GPU, in every table."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.model import cost
from gpucompare.sections import tco


def _with_first_workload(p, **changes):
    data = p.model_dump()
    data["workloads"][0].update(changes)
    return params.make(**data)


@pytest.fixture
def p(round_params):
    """The cost tests' round-number parameters (tests/conftest.py)."""
    return round_params


def test_workload_that_fits_no_chosen_gpu_has_no_cost_anywhere(p):
    """Llama-2-70B at fp16 fits neither one H100 nor one RTX 4090: every table says so, none raises."""
    q = _with_first_workload(p, model="llama-2-70b", weights="fp16")
    s = cost.sensitivity_table(q)
    assert list(s.index.get_level_values("input")) == [cost.DOES_NOT_FIT] * 2
    assert s["usd_per_mtok_base"].isna().all()
    assert tco.sensitivity(q).caption.endswith(f"rtx-4090: {cost.DOES_NOT_FIT}.")
    assert tco.tornado(q) is not None
    name = q.workloads[0].name
    assert cost.cost_table(q).xs(name, level="workload")["usd_per_mtok_own"].isna().all()
    assert cost.winners_table(q).loc[name, "cheapest_own"] is None
    assert set(cost.cheaper_by_price_and_utilization(q).stack(future_stack=True)) == {None}
    be = cost.break_even_table(q).xs(name, level="workload")
    assert be.drop(columns="reference").isna().all().all()


def test_one_gpu_has_no_break_even(p):
    q = params.make(**{**p.model_dump(), "gpus": ["h100-sxm"]})
    t = cost.break_even_table(q)
    assert t.empty and list(t.index.names) == ["workload", "versus"]
    assert "no other GPU" in tco.break_even(q).caption
