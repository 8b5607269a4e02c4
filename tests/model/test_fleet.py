"""The mixed-fleet optimiser (Mélange): the integer program on hand-made capacity matrices (optimum
by hand, and by brute force over replica counts with a linear feasibility check, hypothesis), the
homogeneous baseline, the capacity search against the planner's own verdicts and the M/D/1 TTFT
bound by hand, a realistic chat + long-document mix of Llama-2-7B (structural checks only), and
bad input."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.model import capacity, fleet, plan

P = params.make()
# The realistic mix: 10 requests/s of Llama-2-7B fp16, TTFT 2 s, TPOT 60 ms; 80% short chat
# prompts, 20% long documents.
CHAT = plan.Load("llama-2-7b", "fp16", "fp16", 8.0, 200, 100, 2000.0, 60.0)
DOC = plan.Load("llama-2-7b", "fp16", "fp16", 2.0, 8000, 300, 2000.0, 60.0)


# -------------------------------------------------------------------------------------------------
# The integer program on hand-made capacities (no GPU model)
# -------------------------------------------------------------------------------------------------


def test_two_classes_by_hand():
    # Option 0, a big GPU: one replica serves 10 chat/s or 2 documents/s, $10 a month.
    # Option 1, a small GPU: 6 chat/s, no document (TTFT too long), $4 a month.
    # Traffic: 12 chat/s and 2 documents/s.
    cap = [[10.0, 2.0], [6.0, 0.0]]
    rates = [12.0, 2.0]
    cost = [10.0, 4.0]
    # Homogeneous: only the big GPU serves both: ceil(12/10 + 2/2) = ceil(2.2) = 3 replicas, $30.
    assert fleet.homogeneous(cap, rates, cost) == (0, 3, 30.0)
    # Mixed: the documents need a whole big replica (2/2 = 1); chat costs 10/10 = $1 per chat/s on
    # the big GPU and 4/6 = $0.67 on the small one, so 12/6 = 2 small replicas: 10 + 2 x 4 = $18.
    # The alternatives: 2 big (one for documents, 10 chat/s) + 1 small (2 chat/s) = $24; 3 big $30.
    sol = fleet.solve(cap, rates, cost)
    assert sol.replicas == (1, 2)
    assert sol.usd_per_month == pytest.approx(18.0)
    assert not sol.homogeneous
    np.testing.assert_allclose(sol.shares, [[0.0, 1.0], [1.0, 0.0]], atol=1e-9)
    # Saving 1 - 18/30 = 40%.
    assert 1 - sol.usd_per_month / 30.0 == pytest.approx(0.4)


def test_one_class_can_mix_only_through_integrality():
    # One class of 11 requests/s; a big replica serves 10 for $10, a small one 1 for $2.
    # Homogeneous: big ceil(11/10) = 2 -> $20; small 11 -> $22. Mixed: 1 big + 1 small = $12.
    cap, cost = [[10.0], [1.0]], [10.0, 2.0]
    assert fleet.homogeneous(cap, [11.0], cost) == (0, 2, 20.0)
    sol = fleet.solve(cap, [11.0], cost)
    assert sol.replicas == (1, 1) and sol.usd_per_month == pytest.approx(12.0)
    # At 20 requests/s, an exact multiple of the most cost-efficient option's capacity ($1 per
    # request/s against $2), the linear bound 20 x $1 is met by 2 big replicas: the mix is the
    # homogeneous fleet.
    sol = fleet.solve(cap, [20.0], cost)
    assert sol.homogeneous and sol.replicas == (2, 0) and sol.usd_per_month == pytest.approx(20.0)


def test_ties_go_to_the_earlier_option_and_the_solve_is_deterministic():
    # Two identical options: 12 requests/s at 5 per replica -> 3 replicas of either, $9.
    cap, cost = [[5.0], [5.0]], [3.0, 3.0]
    runs = [fleet.solve(cap, [12.0], cost) for _ in range(3)]
    assert all(r.replicas == (3, 0) for r in runs)
    assert runs[0].usd_per_month == pytest.approx(9.0)
    # Two classes, two options that each serve one class only, at equal cost: no single option
    # serves everything, so there is no homogeneous baseline, and the mix is the only fleet.
    cap2 = [[0.0, 1.0], [1.0, 0.0]]
    assert fleet.homogeneous(cap2, [1.0, 1.0], [3.0, 3.0]) is None
    sol = fleet.solve(cap2, [1.0, 1.0], [3.0, 3.0])
    assert sol.replicas == (1, 1) and sol.usd_per_month == pytest.approx(6.0)


def test_a_class_no_option_serves_gives_no_fleet():
    assert fleet.solve([[0.0, 1.0], [0.0, 2.0]], [1.0, 1.0], [3.0, 3.0]) is None
    assert fleet.homogeneous([[0.0, 1.0], [0.0, 2.0]], [1.0, 1.0], [3.0, 3.0]) is None


def test_max_replicas_bounds_both_fleets():
    # 10 requests/s at 1 per replica needs 10 replicas; with at most 4 nothing serves it.
    assert fleet.solve([[1.0]], [10.0], [1.0], max_replicas=4) is None
    assert fleet.solve([[1.0]], [10.0], [1.0], max_replicas=10).replicas == (10,)


@pytest.mark.parametrize(
    ("cap", "rates", "cost", "field"),
    [
        ([[1.0, 2.0]], [1.0], [1.0], "capacity"),
        ([[-1.0]], [1.0], [1.0], "capacity"),
        ([[math.inf]], [1.0], [1.0], "capacity"),
        ([[1.0]], [0.0], [1.0], "requests_per_s"),
        ([[1.0]], [1.0], [0.0], "usd_per_month"),
        (np.zeros((1, 0)), [], [1.0], "classes"),
    ],
)
def test_solve_rejects_bad_matrices(cap, rates, cost, field):
    with pytest.raises(InputError, match=field):
        fleet.solve(cap, rates, cost)


def _feasible(cap: np.ndarray, rates: np.ndarray, x: tuple[int, ...]) -> bool:
    """Is there a split y[o, c] >= 0, sum_o y = 1, sum_c y rates / cap <= x? (a plain LP)."""
    n_opt, n_cls = cap.shape
    a = np.where(cap > 0, rates / np.where(cap > 0, cap, 1.0), 0.0)
    a_eq = np.zeros((n_cls, n_opt * n_cls))
    a_ub = np.zeros((n_opt, n_opt * n_cls))
    bounds = []
    for o in range(n_opt):
        for c in range(n_cls):
            a_eq[c, o * n_cls + c] = 1.0
            a_ub[o, o * n_cls + c] = a[o, c]
            bounds.append((0.0, 1.0 if cap[o, c] > 0 and x[o] > 0 else 0.0))
    res = linprog(
        np.zeros(n_opt * n_cls),
        A_ub=a_ub,
        b_ub=np.array(x, float),
        A_eq=a_eq,
        b_eq=np.ones(n_cls),
        bounds=bounds,
    )
    return res.status == 0


capacities = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])


@st.composite
def instances(draw):
    n_opt = draw(st.integers(1, 3))
    n_cls = draw(st.integers(1, 2))
    cap = np.array([[draw(capacities) for _ in range(n_cls)] for _ in range(n_opt)], dtype=float)
    rates = np.array([draw(st.sampled_from([0.3, 0.7, 1.0, 1.6, 2.5])) for _ in range(n_cls)])
    cost = np.array([draw(st.sampled_from([1.0, 2.0, 3.5, 5.0, 7.0])) for _ in range(n_opt)])
    return cap, rates, cost


@settings(max_examples=60, deadline=None)
@given(instances())
def test_solve_is_the_brute_force_optimum(inst):
    cap, rates, cost = inst
    sol = fleet.solve(cap, rates, cost)
    # Brute force: every replica vector up to the replicas each option needs alone, cheapest first;
    # the first feasible one (a linear program on the shares) is the optimum.
    a = np.where(cap > 0, rates / np.where(cap > 0, cap, 1.0), 0.0)
    upper = [math.ceil(a[o].sum()) for o in range(len(cost))]
    vectors = sorted(itertools.product(*(range(u + 1) for u in upper)), key=lambda x: cost @ x)
    best = next((x for x in vectors if _feasible(cap, rates, x)), None)
    if best is None:
        assert sol is None
        return
    assert sol.usd_per_month == pytest.approx(float(cost @ best), rel=1e-6)
    assert sol.usd_per_month == pytest.approx(float(cost @ np.array(sol.replicas)))
    # Every class fully served; no option above its replicas; only options that serve a class.
    np.testing.assert_allclose(sol.shares.sum(axis=0), 1.0, atol=1e-9)
    assert np.all(sol.shares[cap == 0] == 0)
    used = (a * sol.shares).sum(axis=1)
    assert np.all(used <= np.array(sol.replicas) + 1e-6)
    # Never dearer than the homogeneous baseline, computed here by hand.
    homog = [
        cost[o] * math.ceil(a[o].sum() - 1e-12) for o in range(len(cost)) if np.all(cap[o] > 0)
    ]
    if homog:
        assert sol.usd_per_month <= min(homog) * (1 + 1e-12)
        assert fleet.homogeneous(cap, rates, cost)[2] == pytest.approx(min(homog))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 24).flatmap(
        lambda n_opt: st.tuples(
            st.lists(
                st.lists(st.floats(0.0, 50.0), min_size=3, max_size=3),
                min_size=n_opt,
                max_size=n_opt,
            ),
            st.lists(st.floats(0.01, 200.0), min_size=3, max_size=3),
            st.lists(st.floats(1.0, 20_000.0), min_size=n_opt, max_size=n_opt),
        )
    )
)
def test_larger_fleets_lie_between_the_linear_bound_and_the_homogeneous_one(inst):
    cap, rates, cost = (np.array(v, dtype=float) for v in inst)
    cap[cap < 0.5] = 0.0  # some options cannot serve some classes
    sol = fleet.solve(cap, rates, cost)
    a = np.where(cap > 0, rates / np.where(cap > 0, cap, 1.0), np.inf)
    if not np.all(np.isfinite(a).any(axis=0)):
        assert sol is None  # a class no option serves
        return
    # Linear bound: each class at the cheapest $ per request/s of any option that serves it.
    per_rate = np.where(cap > 0, cost[:, None] / np.where(cap > 0, cap, 1.0), np.inf)
    assert sol.usd_per_month >= float(rates @ per_rate.min(axis=0)) * (1 - 1e-6)
    homog = fleet.homogeneous(cap, rates, cost)
    if homog is not None:
        assert sol.usd_per_month <= homog[2]
    np.testing.assert_allclose(sol.shares.sum(axis=0), 1.0, atol=1e-9)
    used = (np.where(np.isfinite(a), a, 0.0) * sol.shares).sum(axis=1)
    assert np.all(used <= np.array(sol.replicas) * (1 + 1e-6) + 1e-6)


# -------------------------------------------------------------------------------------------------
# Capacity of one replica, against the planner
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("load", "gpu", "n"), [(CHAT, "h100-sxm", 1), (DOC, "l40s", 2)])
def test_capacity_is_the_planners_limit_to_the_tolerance(load, gpu, n):
    cap = capacity.capacity(P, load, gpu, n)
    assert cap > 0
    assert plan.replica(P, load, gpu, n, cap).ok
    assert not plan.replica(P, load, gpu, n, cap * (1 + capacity.REL_TOL) * 1.0001).ok
    # The rate itself does not matter, only the prompt and output lengths.
    other = replace(load, requests_per_s=123.0)
    assert capacity.capacity(P, other, gpu, n) == cap


def test_capacity_of_a_prefill_bound_replica_by_hand():
    # 4,000-token prompts, one output token, TPOT no constraint; the TTFT target is 1.5 x the
    # prefill time t_p of one prompt. M/D/1: TTFT = t_p + rho t_p / (2 (1 - rho)) = 1.5 t_p
    # <=> rho / (2 (1 - rho)) = 0.5 <=> rho = 0.5, so the capacity is 0.5 / t_p requests/s.
    probe = plan.Load("llama-2-7b", "fp16", "fp16", 1.0, 4000, 1, 1e6, 1e6)
    t_p = plan.replica(P, probe, "h100-sxm", 1, 1e-6).prefill_s
    load = plan.Load("llama-2-7b", "fp16", "fp16", 1.0, 4000, 1, 1.5 * t_p * 1e3, 1e6)
    cap = capacity.capacity(P, load, "h100-sxm", 1)
    assert 0.5 / t_p / (1 + capacity.REL_TOL) <= cap <= 0.5 / t_p * (1 + 1e-9)


def test_capacity_is_zero_when_one_prompt_misses_the_ttft():
    load = plan.Load("llama-2-7b", "fp16", "fp16", 1.0, 8000, 100, 1.0, 60.0)
    assert capacity.capacity(P, load, "h100-sxm", 1) == 0.0


# -------------------------------------------------------------------------------------------------
# The service: a realistic mix on the default catalog
# -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mix():
    return fleet.optimize(P, {"chat": CHAT, "doc": DOC})


def _check_fleet(entries, loads):
    """Shares sum to 1 per class; each entry within its replicas; cost and counts consistent."""
    served = dict.fromkeys(loads, 0.0)
    for e in entries:
        assert e["gpu_count"] == e["gpus_per_replica"] * e["replicas"] and e["replicas"] >= 1
        per_gpu = plan.usd_per_gpu_month(
            P, e["gpu"], e["acquisition"], gpus_per_replica=e["gpus_per_replica"]
        )
        assert e["usd_per_month"] == pytest.approx(e["gpu_count"] * per_gpu)
        used = 0.0
        for name, share in e["classes"].items():
            assert 0 < share <= 1 + 1e-12
            served[name] += share
            cap = e["capacity_per_replica"][name]
            used += share * loads[name].requests_per_s / cap
            # The capacity is one the planner accepts for that class alone.
            assert plan.replica(P, loads[name], e["gpu"], e["gpus_per_replica"], cap).ok
        assert used <= e["replicas"] * (1 + 1e-6)
        assert e["utilization"] == pytest.approx(used / e["replicas"])
    for name in loads:
        assert served[name] == pytest.approx(1.0, abs=1e-6)


def test_realistic_mix_serves_every_class_within_its_replicas(mix):
    loads = {"chat": CHAT, "doc": DOC}
    assert mix["reason"] is None and mix["fleet"]
    _check_fleet(mix["fleet"], loads)
    _check_fleet([mix["homogeneous"]], loads)
    assert mix["usd_per_month"] == pytest.approx(sum(e["usd_per_month"] for e in mix["fleet"]))
    assert mix["gpu_count"] == sum(e["gpu_count"] for e in mix["fleet"])
    # Output tokens a month: (8 x 100 + 2 x 300) tokens/s x seconds a month.
    tokens = (8 * 100 + 2 * 300) * 8760 / 12 * 3600
    assert mix["usd_per_million_output_tokens"] == pytest.approx(
        mix["usd_per_month"] / tokens * 1e6
    )
    # The homogeneous fleet: ceil(sum of rate / capacity) replicas of one option.
    home = mix["homogeneous"]
    caps = home["capacity_per_replica"]
    assert home["replicas"] == math.ceil(8.0 / caps["chat"] + 2.0 / caps["doc"])
    assert home["classes"] == {"chat": 1.0, "doc": 1.0}


def test_realistic_mix_is_never_dearer_than_one_gpu_type(mix):
    home = mix["homogeneous"]
    assert mix["usd_per_month"] <= home["usd_per_month"] * (1 + 1e-9)
    assert mix["saving_fraction"] == pytest.approx(1 - mix["usd_per_month"] / home["usd_per_month"])
    assert 0 <= mix["saving_fraction"] < 1
    assert mix["mixed_is_worth_it"] == (mix["saving_fraction"] >= fleet.MIN_SAVING)
    assert fleet.MIN_SAVING == 0.10
    # Sorted by cost, dearest first.
    costs = [e["usd_per_month"] for e in mix["fleet"]]
    assert costs == sorted(costs, reverse=True)


def test_one_class_matches_the_planner():
    # One class on one GPU type: the homogeneous fleet needs the planner's replica count, or one
    # more (the capacity is up to 1% below the planner's exact limit), and the mix never costs more.
    load = plan.Load("llama-2-7b", "fp16", "fp16", 30.0, 500, 200, 2000.0, 60.0)
    res = fleet.optimize(P, [load], ["h100-sxm", "l40s"], ("own",))
    home = res["homogeneous"]
    assert res["usd_per_month"] <= home["usd_per_month"] * (1 + 1e-9)
    opts = plan.options(P, load, [home["gpu"]], (home["acquisition"],))
    same = next(o for o in opts if o["gpus_per_replica"] == home["gpus_per_replica"])
    assert same["replicas"] <= home["replicas"] <= same["replicas"] + 1
    assert list(home["classes"]) == [0] and home["classes"][0] == 1.0


def test_nothing_serves_gives_a_reason():
    # A 1 ms TTFT: no GPU prefills even one 200-token prompt that fast.
    res = fleet.optimize(P, [replace(CHAT, ttft_ms=1.0), replace(DOC, ttft_ms=1.0)], ["h100-sxm"])
    assert res["fleet"] == [] and res["homogeneous"] == {} and res["usd_per_month"] is None
    assert not res["mixed_is_worth_it"]
    assert "TTFT 1 ms" in res["reason"]


# -------------------------------------------------------------------------------------------------
# Bad input
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classes", "match"),
    [
        ([], "classes: at least one"),
        ({}, "classes: at least one"),
        ("chat", "classes: must be a list"),
        ([CHAT, "doc"], r"classes\[1\]: must be a plan.Load"),
        ([CHAT, replace(DOC, model="llama-3-70b")], r"classes\[1\]\.model"),
        ([CHAT, replace(DOC, weights="int4")], r"classes\[1\]\.weights"),
        ([CHAT, replace(DOC, kv="fp8")], r"classes\[1\]\.kv"),
        ([CHAT, replace(DOC, ttft_ms=500.0)], r"classes\[1\]\.ttft_ms"),
        ({"chat": CHAT, "doc": replace(DOC, tpot_ms=5.0)}, r"\['doc'\]\.tpot_ms"),
        ([replace(CHAT, requests_per_s=0.0)], "requests_per_s"),
        ([replace(CHAT, model="no-such-model")], "no-such-model"),
        ({"": CHAT}, "class name"),
    ],
)
def test_bad_classes_name_the_field(classes, match):
    with pytest.raises(InputError, match=match):
        fleet.optimize(P, classes, ["h100-sxm"])


def test_bad_gpu_and_acquisition_are_named():
    with pytest.raises(InputError, match="gpus"):
        fleet.optimize(P, [CHAT], ["no-such-gpu"])
    with pytest.raises(InputError, match="acquisition"):
        fleet.optimize(P, [CHAT], ["h100-sxm"], ("lease",))
