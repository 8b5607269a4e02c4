"""Headroom of a planned deployment: the utilization it reports is the load over the capacity
its replicas have, and one more slice of load past the headroom breaks a target."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.model import capacity, plan

P = params.make()
CHAT_7B = plan.Load("llama-2-7b", "fp16", "fp16", 6.0, 1000, 250, 1000.0, 50.0)


def test_headroom_is_the_load_over_the_replicas_capacity():
    result = capacity.plan_with_headroom(P, CHAT_7B, top=1, gpu_ids=["h100-sxm", "rtx-4090"])
    best = result["best"]
    per_replica = max(
        capacity.capacity(P, CHAT_7B, best["gpu"], best["gpus_per_replica"]),
        6.0 / best["replicas"],  # the planner verified this share passes
    )
    assert best["capacity_requests_per_s"] == pytest.approx(per_replica * best["replicas"])
    assert best["utilization"] == pytest.approx(6.0 / (per_replica * best["replicas"]))
    assert best["headroom_fraction"] == pytest.approx(1 / best["utilization"] - 1)
    # The planner chose the fewest replicas, so the deployment serves the load (utilization <= 1)
    # and one replica fewer would not (utilization > (replicas - 1) / replicas).
    assert best["utilization"] <= 1.0
    if best["replicas"] > 1:
        assert best["utilization"] > (best["replicas"] - 1) / best["replicas"] / (
            1 + capacity.REL_TOL
        )
    # Past the headroom (plus the search's tolerance) a replica misses a target.
    over = per_replica * (1 + capacity.REL_TOL) * 1.001
    assert not plan.replica(P, CHAT_7B, best["gpu"], best["gpus_per_replica"], over).ok


def test_every_shown_option_and_each_acquisitions_best_get_a_headroom():
    result = capacity.plan_with_headroom(P, CHAT_7B, top=3)
    for o in result["options"][:3]:
        assert 0 < o["utilization"] <= 1.0
    for acq in ("own", "rent"):
        first = next(o for o in result["options"] if o["acquisition"] == acq)
        assert "headroom_fraction" in first
