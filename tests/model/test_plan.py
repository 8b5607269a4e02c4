"""The capacity planner: the queueing arithmetic by hand, the physical lower bounds (prefill FLOPs,
decode KV bandwidth), monotonicity in load (hypothesis), a load no option can serve, and its memo
of the throughput model's answers, in the process and on disk."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.model import plan, planmemo, throughput

P = params.make()
CHAT_70B = plan.Load("llama-3-70b", "int4", "fp16", 10.0, 2000, 300, 2000.0, 100.0)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    """Each test its own empty cache folder (the planner's memo on disk, the fits): "fresh" means
    computed here, and nothing is left in the session's or the project's cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(folder))
    return folder


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


# The memo on disk (issue 21): a new process (a report kernel, a one-line command) reads the
# answers an earlier one saved, under the same non-price parameters, data and code.

LOAD = plan.Load("llama-2-7b", "fp16", "fp16", 2.0, 1000, 200, 1000.0, 50.0)
GPUS = ["h100-sxm", "rtx-4090"]


def _new_process() -> None:
    """Forget what the planner holds in this process, as a new process starts."""
    for held in (plan._MEMO, plan._KEYS, planmemo._STORED, planmemo._FINGERPRINTS):
        held.clear()


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "plan").glob("*.json"))


def _never(*args, **kwargs):
    raise AssertionError("the throughput model was asked again")


def _types(memo: dict) -> list[tuple]:
    return [(tuple(map(type, k)), tuple(map(type, v))) for k, v in memo.items()]


def test_answers_read_back_from_disk_are_the_fresh_answers(own_cache, monkeypatch):
    _new_process()
    fresh = plan.plan(P, LOAD, GPUS)  # nothing on disk: every answer computed
    (computed,) = (dict(m) for m in plan._MEMO.values())
    assert plan.save_memo() == 1 and len(_entries(own_cache)) == 1
    _new_process()
    # Every answer now comes from the disk: the throughput model is never asked.
    for name in ("decode_step", "prefill_tokens_per_s", "max_batch"):
        monkeypatch.setattr(throughput, name, _never)
    again = plan.plan(params.make(), LOAD, GPUS)
    assert fresh["options"] and again == fresh
    (read,) = plan._MEMO.values()
    # The same answers, bit for bit, of the same types (an int batch stays an int), in order.
    assert list(read.items()) == list(computed.items()) and _types(read) == _types(computed)


def test_a_price_change_reads_the_entry_and_answers_as_a_fresh_computation(tmp_path, monkeypatch):
    prices = {
        "price_usd": {"h100-sxm": 11111, "rtx-4090": 999},
        "cloud_usd_per_gpu_hour": {"h100-sxm": 0.5, "rtx-4090": 9.0},
        "electricity_usd_per_kwh": 0.9,
    }
    assert set(prices) <= plan.PRICE_ONLY
    _new_process()
    plan.plan(P, LOAD, GPUS)
    (saved,) = (dict(m) for m in plan._MEMO.values())
    plan.save_memo()
    _new_process()
    q = params.make(**prices)
    assert saved and plan._memo(q) == saved  # the defaults' entry, read back
    remembered = plan.plan(q, LOAD, GPUS)
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "empty"))
    _new_process()
    fresh = plan.plan(params.make(**prices), LOAD, GPUS)
    assert remembered["options"] and remembered == fresh


@pytest.mark.parametrize(
    "change", [{"engine": "sglang"}, {"gpu_memory_utilization": 0.8}], ids=lambda c: next(iter(c))
)
def test_a_non_price_change_does_not_read_the_entry(change):
    assert not set(change) & plan.PRICE_ONLY
    _new_process()
    plan.plan(P, LOAD, GPUS)
    plan.save_memo()
    _new_process()
    assert plan._memo(params.make(**change)) == {}
    assert plan._memo(P)  # the control: the defaults' entry is there


def test_a_changed_data_file_does_not_read_the_entry(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(paths.repo_root() / "data", data)
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    _new_process()
    plan.plan(P, LOAD, ["h100-sxm"])
    assert plan.save_memo() == 1
    _new_process()
    assert plan._memo(P)  # the same files: read back
    gpus = data / "gpus.yaml"
    gpus.write_text(gpus.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    _new_process()
    assert plan._memo(P) == {}


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",  # a file the cache did not write (left alone)
        {"step": [1.0, 2.0]},  # not a list of pairs
        [["step", [1.0, 2.0]]],  # a key that is not a list
        [[["step", "h100-sxm", 1.5], [1.0]]],  # a float in a key
        [[["step", "h100-sxm", 1], ["1.0"]]],  # text as an answer
        [[["step"], [1.0], [2.0]]],  # three items
    ],
    ids=["garbage", "dict", "flat-key", "float-key", "text-value", "triple"],
)
def test_a_corrupt_entry_is_a_miss_not_an_error(own_cache, payload):
    _new_process()
    fresh = plan.plan(P, LOAD, GPUS)
    plan.save_memo()
    (entry,) = _entries(own_cache)
    if isinstance(payload, bytes):
        entry.write_bytes(payload)
    else:
        assert planmemo._store().put(entry.stem, payload)
    _new_process()
    assert plan._memo(P) == {}
    assert plan.plan(P, LOAD, GPUS) == fresh
    # A well-formed entry of the cache's own replaces a wrong-shaped one; a foreign file stays.
    assert plan.save_memo() == (0 if isinstance(payload, bytes) else 1)
    _new_process()
    assert bool(plan._memo(P)) is not isinstance(payload, bytes)


def test_saving_with_nothing_new_writes_nothing(own_cache, monkeypatch):
    _new_process()
    assert plan.save_memo() == 0 and not (own_cache / "plan").exists()
    plan.plan(P, LOAD, GPUS)
    assert plan.save_memo() == 1
    (entry,) = _entries(own_cache)
    written = entry.stat().st_mtime_ns
    assert plan.save_memo() == 0 and entry.stat().st_mtime_ns == written
    _new_process()
    plan.plan(P, LOAD, GPUS)  # every answer read back: nothing new
    read = entry.stat().st_mtime_ns  # reading marks the entry as used
    # No hashing and no file: nothing in the cache's or the hashing's way is called.
    monkeypatch.setattr(planmemo.filecache, "hash_tree", _never)
    for name in ("get", "put"):
        monkeypatch.setattr(planmemo.filecache.JsonCache, name, _never)
    assert plan.save_memo() == 0 and entry.stat().st_mtime_ns == read


def test_answers_json_cannot_hold_exactly_are_left_out_and_computed_again():
    finite = {("step", "g", 1, 2): (0.1 + 0.2, 0.0), ("prefill", "g", 1): (7, None)}
    memo = {
        **finite,
        ("step", "g", 1, 3): (math.inf, 0.0),
        ("step", "g", 1, 4): (math.nan, 0.0),
        ("step", "g", 1, 5): (np.float64(0.5), 0.0),
        ("step", "g", 1.5, 6): (0.5, 0.0),
    }
    back = planmemo._decode_memo(
        json.loads(json.dumps(planmemo._encode_memo(memo), allow_nan=False))
    )
    assert list(back.items()) == list(finite.items()) and _types(back) == _types(finite)
