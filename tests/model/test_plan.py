"""The capacity planner: the queueing arithmetic by hand, the physical lower bounds (prefill FLOPs,
decode KV bandwidth), monotonicity in load (hypothesis), and a load no option can serve."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.model import plan, throughput

P = params.make()
CHAT_70B = plan.Load("llama-3-70b", "int4", "fp16", 10.0, 2000, 300, 2000.0, 100.0)


def test_replica_queueing_by_hand():
    # One H100 serving 2 requests/s of Llama-2-7B fp16 with 1,000-token prompts and 200 outputs.
    load = plan.Load("llama-2-7b", "fp16", "fp16", 2.0, 1000, 200, 5000.0, 200.0)
    rep = plan.replica(P, load, "h100-sxm", 1, 2.0)
    t_p = 1000 / throughput.prefill_tokens_per_s(
        P, "llama-2-7b", "fp16", "fp16", 1, 1000, "h100-sxm"
    )
    rho = 2.0 * t_p
    # M/D/1 (Pollaczek-Khinchine, deterministic service): mean wait = rho t / (2 (1 - rho)).
    assert rep.prefill_s == pytest.approx(t_p)
    assert rep.prefill_share == pytest.approx(rho)
    assert rep.ttft_s == pytest.approx(t_p + rho * t_p / (2 * (1 - rho)))
    # Little's law: concurrency = rate x output tokens x TPOT.
    assert rep.concurrency == pytest.approx(2.0 * 200 * rep.tpot_s, rel=1e-2)
    assert rep.ok and rep.limited_by == "load"


def test_prefill_beyond_one_replica_needs_more_replicas():
    # 10 requests/s x 2,000-token prompts of a 70B model: ~2.8 PFLOP/s of prefill alone, far above
    # one H100's 989 TFLOPS, so one replica's prefill share would exceed 1.
    assert plan.prefill_bound_gpus(CHAT_70B, "h100-sxm") == pytest.approx(
        2
        * throughput.active_matmul_parameters(catalog.get_model("llama-3-70b"))
        * 2000
        * 10
        / 989.4e12
    )
    rep = plan.replica(P, CHAT_70B, "h100-sxm", 1, 10.0)
    assert not rep.ok and rep.limited_by == "prefill"


def test_best_option_respects_the_physical_bounds_on_every_gpu():
    result = plan.plan(P, CHAT_70B, ["h100-sxm", "rtx-5090", "a100-sxm-80gb"])
    assert result["best"] == result["options"][0]
    costs = [o["usd_per_million_output_tokens"] for o in result["options"]]
    assert costs == sorted(costs)
    for o in result["options"]:
        assert o["gpu_count"] >= plan.prefill_bound_gpus(CHAT_70B, o["gpu"])
        assert o["gpu_count"] >= plan.decode_bound_gpus(CHAT_70B, o["gpu"])
        assert o["gpu_count"] == o["gpus_per_replica"] * o["replicas"]
        assert o["ttft_ms"] <= 2000 and o["tpot_ms"] <= 100 and o["meets_slo"]
        # 70B int4 (36.6 GB of weights) cannot be one 32 GB RTX 5090.
        if o["gpu"] == "rtx-5090":
            assert o["gpus_per_replica"] >= 2


def test_cost_per_month_by_hand():
    # Rented: GPUs x cloud rate x 730 h; owned: GPUs x TCO / (12 x years).
    q = P.model_copy(update={"cloud_usd_per_gpu_hour": {"h100-sxm": 2.10}})
    result = plan.plan(q, CHAT_70B, ["h100-sxm"], ("rent",))
    best = result["best"]
    assert best["usd_per_month"] == pytest.approx(best["gpu_count"] * 2.10 * 8760 / 12)
    out_tokens_month = 10 * 300 * 8760 / 12 * 3600
    assert best["usd_per_million_output_tokens"] == pytest.approx(
        best["usd_per_month"] / out_tokens_month * 1e6
    )


def test_owned_cost_carries_the_server_host_share():
    # Four RTX 5090s per replica need a server: each GPU carries server_host_usd_per_gpu.consumer
    # instead of host_usd_per_gpu.consumer, over 12 x years months.
    months = 12 * P.years
    delta = P.server_host_usd_per_gpu["consumer"] - P.host_usd_per_gpu["consumer"]
    one = plan.usd_per_gpu_month(P, "rtx-5090", "own", 1)
    four = plan.usd_per_gpu_month(P, "rtx-5090", "own", 4)
    assert four - one == pytest.approx(delta / months)
    # Renting: the cloud rate already includes the host.
    assert plan.usd_per_gpu_month(P, "rtx-5090", "rent", 4) == plan.usd_per_gpu_month(
        P, "rtx-5090", "rent", 1
    )


def test_staged_pcie_latency_rules_out_8_way_tensor_parallel_for_a_tight_tpot():
    # 70B int4 at TPOT 40 ms. Eight GeForce cards exchange two all-reduces per layer over PCIe
    # staged through host memory: at least 2 x 80 layers x 7 hops x 14 us = 15.7 ms of latency per
    # token (data/interconnect.yaml host_staged_hop_latency_us), before any weight is read.
    load = plan.Load("llama-3-70b", "int4", "fp16", 1.0, 2000, 300, 2000.0, 40.0)
    step = throughput.decode_step(P, "llama-3-70b", "int4", "fp16", 1, 2150, "rtx-4090", gpus=8)
    assert step["link_ms"] >= 2 * 80 * 7 * 14e-3
    limits = plan.group_limits(P, load, "rtx-4090")
    assert limits.get(8) == "link"
    assert all(o["gpus_per_replica"] != 8 for o in plan.options(P, load, ["rtx-4090"]))
    # NVSwitch (H100 SXM) has no such limit at 8.
    assert 8 not in plan.group_limits(P, load, "h100-sxm")


def test_a_load_nothing_serves_gives_no_best_and_a_reason():
    load = plan.Load("llama-3-70b", "int4", "fp16", 1000.0, 2000, 300, 10.0, 5.0)
    result = plan.plan(P, load, ["rtx-4090"])
    assert result["options"] == [] and result["best"] == {}
    assert "TTFT 10 ms" in result["reason"]


def test_bad_load_raises_input_error():
    with pytest.raises(InputError, match="requests_per_s"):
        plan.plan(P, plan.Load("llama-2-7b", "fp16", "fp16", 0.0, 100, 10, 100.0, 50.0))
    with pytest.raises(InputError, match="acquisition"):
        plan.options(P, CHAT_70B, ["h100-sxm"], ("lease",))


def _cheapest_month(load: plan.Load, gpu: str) -> tuple[float, int] | None:
    opts = plan.options(P, load, [gpu], ("own",))
    if not opts:
        return None
    best = min(opts, key=lambda o: o["usd_per_month"])
    return best["usd_per_month"], min(o["gpu_count"] for o in opts)


@settings(max_examples=12, deadline=None)
@given(
    rate=st.floats(0.2, 20.0),
    more=st.floats(1.1, 4.0),
    prompt=st.integers(64, 4096),
    gpu=st.sampled_from(["h100-sxm", "rtx-4090"]),
)
def test_cost_and_gpus_never_fall_when_the_load_grows(rate, more, prompt, gpu):
    base = plan.Load("llama-2-7b", "int4", "fp16", rate, prompt, 256, 4000.0, 100.0)
    a = _cheapest_month(base, gpu)
    heavier = _cheapest_month(plan.Load(**{**base.__dict__, "requests_per_s": rate * more}), gpu)
    longer = _cheapest_month(
        plan.Load(**{**base.__dict__, "prompt_tokens": math.ceil(prompt * more)}), gpu
    )
    if a is None:
        assert heavier is None
        return
    for b in (heavier, longer):
        if b is not None:
            assert b[0] >= a[0] * (1 - 1e-9) and b[1] >= a[1]


def test_the_planner_memo_changes_no_answer():
    """The planner remembers the throughput model's answers per parameters object (issue 21):
    planning twice with one object, and once with a fresh equal one after the memo is emptied,
    give the same options, number for number."""
    load = plan.Load("llama-2-7b", "fp16", "fp16", 2.0, 1000, 200, 1000.0, 50.0)
    p = params.make()
    first = plan.plan(p, load, gpu_ids=["h100-sxm", "rtx-4090"])
    again = plan.plan(p, load, gpu_ids=["h100-sxm", "rtx-4090"])
    plan._MEMO.clear()
    fresh = plan.plan(params.make(), load, gpu_ids=["h100-sxm", "rtx-4090"])
    assert first["options"] and first == again == fresh
    assert len(plan._MEMO) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Another title"},
        {"price_usd": {"h100-sxm": 11111, "rtx-4090": 999}},
        {"cloud_usd_per_gpu_hour": {"h100-sxm": 0.5, "rtx-4090": 9.0}},
        {"electricity_usd_per_kwh": 0.9},
    ],
    ids=lambda c: next(iter(c)),
)
def test_answers_remembered_under_other_prices_are_the_fresh_answers(change):
    """The memo ignores the price-only parameters (plan.PRICE_ONLY): planning under changed
    prices with the answers remembered from the defaults gives what an empty memo gives (the
    prices move the costs and the choice, never the throughput model's answers)."""
    assert set(change) <= plan.PRICE_ONLY
    load = plan.Load("llama-2-7b", "fp16", "fp16", 2.0, 1000, 200, 1000.0, 50.0)
    gpus = ["h100-sxm", "rtx-4090"]
    plan._MEMO.clear()
    plan.plan(params.make(), load, gpu_ids=gpus)
    remembered = plan.plan(params.make(**change), load, gpu_ids=gpus)
    assert len(plan._MEMO) == 1  # the second plan used the first one's answers
    plan._MEMO.clear()
    fresh = plan.plan(params.make(**change), load, gpu_ids=gpus)
    assert remembered["options"] and remembered == fresh
