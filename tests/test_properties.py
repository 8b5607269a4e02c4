"""Physical sanity across the library, as properties (hypothesis): times, memory and costs are never
negative; they move the right way with batch, context, price, bandwidth and GPU count; and no model
exceeds its own bounds. Each property names the module and the quantity it constrains."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.data import catalog
from gpucompare.model import ecc, gemm, interconnect, memory, tco, tensor_parallel, throughput

P = params.make()  # the defaults; variations with P.model_copy(update=...) (values kept valid)
FAST = settings(max_examples=50, deadline=None)

gpu_ids = st.sampled_from(catalog.gpu_ids())
model_ids = st.sampled_from(catalog.model_ids())
weights = st.sampled_from(["fp32", "bf16", "fp16", "fp8", "int8", "int4"])
kv_formats = st.sampled_from(["fp16", "fp8", "int8"])
batches = st.integers(1, 256)
contexts = st.integers(1, 131_072)
fractions = st.floats(0.05, 1.0)
positive = st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False)
OV = memory.Overheads.from_params(P)


def _at_most(a: float, b: float) -> bool:
    """a <= b up to floating-point rounding."""
    return a <= b * (1 + 1e-12) + 1e-12


# --- memory -----------------------------------------------------------------------------------


@FAST
@given(model_id=model_ids, w=weights, kv=kv_formats, batch=batches, ctx=contexts)
def test_memory_more_gpus_never_increase_memory_per_gpu(model_id, w, kv, batch, ctx):
    model = catalog.get_model(model_id)
    per_gpu = [
        memory.per_gpu_bytes(model, w, kv, batch, ctx, tp) for tp in memory.valid_tp_degrees(model)
    ]
    assert all(b > 0 for b in per_gpu)
    assert all(_at_most(later, earlier) for earlier, later in itertools.pairwise(per_gpu))


@FAST
@given(model_id=model_ids, kv=kv_formats, batch=batches, ctx=contexts, more=st.integers(1, 4096))
def test_memory_kv_cache_grows_with_batch_and_context(model_id, kv, batch, ctx, more):
    model = catalog.get_model(model_id)
    base = memory.kv_cache_bytes(model, kv, batch, ctx)
    assert base > 0
    assert memory.kv_cache_bytes(model, kv, batch + more, ctx) > base
    longer = memory.kv_cache_bytes(model, kv, batch, ctx + more)
    # A sliding window caps the cache: it grows with the context only below the window.
    if model.sliding_window is None or ctx < model.sliding_window:
        assert longer > base
    else:
        assert longer == base


@FAST
@given(model_id=model_ids)
def test_memory_fewer_bits_never_take_more_bytes(model_id):
    model = catalog.get_model(model_id)
    b = {w: memory.weights_bytes(model, w) for w in ("fp32", "fp16", "fp8", "int8", "int4")}
    assert all(s > 0 for s in b.values())
    # 32 > 16 > 8 > 4 bits; fp8 and int8 are both 8 bits (int8 adds its scales, a little more).
    assert b["fp32"] > b["fp16"] > max(b["fp8"], b["int8"])
    assert min(b["fp8"], b["int8"]) > b["int4"]
    assert memory.weights_bytes(model, "bf16") == memory.weights_bytes(model, "fp16")


@FAST
@given(
    model_id=model_ids,
    gpu_id=gpu_ids,
    w=weights,
    ctx=st.integers(1, 32_768),
    more=st.integers(1, 32_768),
    util=st.floats(0.5, 0.95),
    tp=st.sampled_from([1, 2, 4, 8]),
)
def test_memory_max_batch_is_tight_and_monotone(model_id, gpu_id, w, ctx, more, util, tp):
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    assume(tp in memory.valid_tp_degrees(model))
    ov = memory.Overheads(util, 1.0)
    mb = memory.max_batch(model, w, "fp16", ctx, gpu, ov, tp)
    usable = memory.usable_bytes(gpu, util, 1.0)
    assert mb >= 0
    if mb > 0:  # the batch fits, one more does not
        assert _at_most(memory.per_gpu_bytes(model, w, "fp16", mb, ctx, tp), usable)
    assert memory.per_gpu_bytes(model, w, "fp16", mb + 1, ctx, tp) > usable
    assert memory.max_batch(model, w, "fp16", ctx + more, gpu, ov, tp) <= mb  # longer context
    assert (
        memory.max_batch(model, w, "fp16", ctx, gpu, memory.Overheads(util * 1.05, 1.0), tp) >= mb
    )
    if tp * 2 in memory.valid_tp_degrees(model):
        assert memory.max_batch(model, w, "fp16", ctx, gpu, ov, tp * 2) >= mb  # more GPUs


@FAST
@given(model_id=model_ids, gpu_id=gpu_ids, w=weights, batch=batches, more=batches, ctx=contexts)
def test_memory_gpus_needed_never_falls_with_a_bigger_batch(model_id, gpu_id, w, batch, more, ctx):
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    small = memory.gpus_needed(model, w, "fp16", batch, ctx, gpu, OV)
    large = memory.gpus_needed(model, w, "fp16", batch + more, ctx, gpu, OV)
    assert (large or math.inf) >= (small or math.inf)


# --- gemm -------------------------------------------------------------------------------------

dims = st.integers(1, 32_768)


@st.composite
def gpu_and_gemm_precision(draw):
    gpu_id = draw(gpu_ids)
    ok = [
        p
        for p, fmt in gemm.GEMM_PRECISIONS.items()
        if catalog.get_gpu(gpu_id).spec(fmt.peak_field) is not None
    ]
    return gpu_id, draw(st.sampled_from(ok))


@FAST
@given(
    gp=gpu_and_gemm_precision(),
    m=dims,
    n=dims,
    k=dims,
    grow=st.integers(1, 8192),
    tf=fractions,
    bf=fractions,
)
def test_gemm_time_monotone_in_m_n_k_and_below_both_roofs(gp, m, n, k, grow, tf, bf):
    gpu_id, prec = gp
    est = gemm.roofline(m, n, k, gpu_id, prec, tf, bf)
    assert est.time_s > 0 and est.tflops > 0
    for bigger in ((m + grow, n, k), (m, n + grow, k), (m, n, k + grow)):
        assert gemm.roofline(*bigger, gpu_id, prec, tf, bf).time_s >= est.time_s
    assert _at_most(est.tflops, gemm.peak_tflops(gpu_id, prec) * tf)
    roof = est.intensity_flop_per_byte * gemm.bandwidth_gb_s(gpu_id) * bf / 1e3  # TFLOPS
    assert _at_most(est.tflops, roof)
    faster = gemm.roofline(m, n, k, gpu_id, prec, min(1.0, tf * 1.5), min(1.0, bf * 1.5))
    assert faster.time_s <= est.time_s  # higher achievable fractions never slow a GEMM down


# --- throughput -------------------------------------------------------------------------------


@st.composite
def decode_case(draw):
    return dict(
        model_id=draw(model_ids),
        weights=draw(st.sampled_from(["bf16", "fp16", "fp8", "int8", "int4"])),
        kv="fp16",
        gpu_id=draw(gpu_ids),
        batch=draw(st.integers(1, 64)),
        ctx=draw(st.integers(16, 16_384)),
    )


def _step(p, c, **over):
    c = {**c, **over}
    return throughput.decode_step(
        p, c["model_id"], c["weights"], c["kv"], c["batch"], c["ctx"], c["gpu_id"]
    )


@FAST
@given(c=decode_case())
def test_throughput_never_exceeds_its_bandwidth_bound(c):
    s = _step(P, c)
    if s["bound"] == "unsupported":  # FP8 on a GPU without FP8 tensor cores: no number at all
        assert s["tokens_per_s"] is None and s["unsupported"]
        return
    assert s["step_ms"] > 0 and s["memory_ms"] > 0 and s["compute_ms"] > 0
    hard = throughput.hard_bound_tokens_per_s(
        c["model_id"], c["weights"], c["kv"], c["batch"], c["ctx"], c["gpu_id"]
    )
    if s["fits"]:
        assert 0 < s["tokens_per_s"] <= hard
        assert s["per_sequence_tokens_per_s"] == pytest.approx(s["tokens_per_s"] / c["batch"])
    else:
        assert s["tokens_per_s"] is None


@FAST
@given(c=decode_case(), more_batch=st.integers(1, 64), more_ctx=st.integers(1, 8192))
def test_throughput_monotone_in_batch_and_context(c, more_batch, more_ctx):
    s = _step(P, c)
    assume(s["tokens_per_s"] is not None)
    bigger = _step(P, c, batch=c["batch"] + more_batch)
    if bigger["tokens_per_s"] is not None:  # more sequences: more in all, fewer per sequence
        assert _at_most(s["tokens_per_s"], bigger["tokens_per_s"])
        assert _at_most(bigger["per_sequence_tokens_per_s"], s["per_sequence_tokens_per_s"])
    longer = _step(P, c, ctx=c["ctx"] + more_ctx)
    if longer["tokens_per_s"] is not None:
        assert _at_most(longer["tokens_per_s"], s["tokens_per_s"])


@FAST
@given(c=decode_case(), dc=fractions, cc=fractions)
def test_throughput_rises_with_the_sustained_compute_ceiling(c, dc, cc):
    base = P.model_copy(
        update=dict(sustained_fraction_datacenter=dc, sustained_fraction_consumer=cc)
    )
    s = _step(base, c)
    assume(s["tokens_per_s"] is not None)
    more = base.model_copy(
        update=dict(sustained_fraction_datacenter=dc * 1.3, sustained_fraction_consumer=cc * 1.3)
    )
    assert _at_most(s["tokens_per_s"], _step(more, c)["tokens_per_s"])


@FAST
@given(c=decode_case(), more=st.integers(1, 4096))
def test_throughput_prefill_time_grows_with_the_prompt(c, more):
    args = (P, c["model_id"], c["weights"], c["kv"], 1)
    tps = throughput.prefill_tokens_per_s(*args, c["ctx"], c["gpu_id"])
    tps2 = throughput.prefill_tokens_per_s(*args, c["ctx"] + more, c["gpu_id"])
    assume(tps is not None and tps2 is not None)
    assert 0 < c["ctx"] / tps < (c["ctx"] + more) / tps2


# --- interconnect -----------------------------------------------------------------------------

sizes = st.floats(1.0, 1e10)
link_bw = st.floats(1.0, 2000.0)
latency = st.floats(0.0, 50.0)
algorithms = st.sampled_from(interconnect.ALGORITHMS)


@FAST
@given(
    size=sizes,
    n=st.integers(2, 64),
    bw=link_bw,
    hop=latency,
    base=latency,
    alg=algorithms,
    f=st.floats(1.01, 10),
)
def test_interconnect_allreduce_time_monotone(size, n, bw, hop, base, alg, f):
    t = interconnect.allreduce_time_us(size, n, bw, hop, base, alg)
    assert t > 0
    assert interconnect.allreduce_time_us(size, n, bw * f, hop, base, alg) <= t  # more bandwidth
    assert interconnect.allreduce_time_us(size * f, n, bw, hop, base, alg) >= t  # bigger message
    assert interconnect.allreduce_time_us(size, n, bw, hop * f + 1, base, alg) >= t  # more latency
    assert interconnect.allreduce_time_us(size, n + 1, bw, hop, base, alg) >= t  # more GPUs


@FAST
@given(size=sizes, n=st.integers(2, 64), bw=link_bw, hop=latency, base=latency)
def test_interconnect_bus_bandwidth_never_exceeds_the_link(size, n, bw, hop, base):
    t = interconnect.allreduce_time_us(size, n, bw, hop, base, "ring")
    assert _at_most(interconnect.bus_bandwidth_gb_s(size, t, n), bw)


@FAST
@given(
    gpu_id=gpu_ids,
    tp=st.sampled_from([2, 4, 8]),
    batch=st.integers(1, 256),
    tokens=st.sampled_from([1, 128, 2048]),
    f=st.floats(1.01, 10),
    alg=algorithms,
)
def test_interconnect_tp_efficiency_is_a_fraction_and_never_falls_with_bandwidth(
    gpu_id, tp, batch, tokens, f, alg
):
    step = tensor_parallel.tp_step(P, gpu_id, tp, batch, tokens, algorithm=alg)
    assert step.compute_us > 0 and step.comm_us > 0
    assert 0 < step.efficiency <= 1
    message = tensor_parallel.activation_allreduce_bytes(
        catalog.get_model(P.tp_model), batch, tokens
    )
    bw = step.link.per_direction_gb_s
    effs = [
        tensor_parallel.tp_efficiency(
            step.compute_us,
            2
            * interconnect.allreduce_time_us(
                message,
                tp,
                b,
                interconnect.tp_hop_latency_us(P, gpu_id, tp),
                P.allreduce_base_latency_us,
                alg,
            ),
        )
        for b in (bw, bw * f)
    ]
    assert effs[0] == pytest.approx(step.efficiency)
    assert effs[1] >= effs[0]


@FAST
@given(gen=st.sampled_from([3, 4, 5]), lanes=st.sampled_from([1, 2, 4, 8]))
def test_interconnect_pcie_grows_with_lanes_and_generation(gen, lanes):
    bw = interconnect.pcie_per_direction_gb_s(gen, lanes)
    assert bw > 0
    assert interconnect.pcie_per_direction_gb_s(gen, lanes * 2) == pytest.approx(2 * bw)
    if gen < 5:
        assert interconnect.pcie_per_direction_gb_s(gen + 1, lanes) > bw


# --- reliability ------------------------------------------------------------------------------

rates = st.floats(0.0, 1e4)
amounts = st.floats(0.0, 1e4)


@FAST
@given(rate=rates, gb=amounts, devices=amounts, years=amounts, f=st.floats(1.0, 10))
def test_reliability_expected_errors_monotone_in_time_memory_and_devices(
    rate, gb, devices, years, f
):
    lam = ecc.expected_errors(rate, gb, devices, years)
    assert lam >= 0
    for bigger in ((rate * f, gb, devices, years), (rate, gb * f, devices, years)):
        assert ecc.expected_errors(*bigger) >= lam
    for bigger in ((rate, gb, devices * f, years), (rate, gb, devices, years * f)):
        assert ecc.expected_errors(*bigger) >= lam


@FAST
@given(lam=st.floats(0.0, 1e6), more=st.floats(0.0, 1e3), k=st.integers(0, 200))
def test_reliability_probabilities_are_probabilities(lam, more, k):
    p = ecc.p_at_least_one(lam)
    assert 0.0 <= p <= 1.0
    assert ecc.p_at_least_one(lam + more) >= p
    cdf = ecc.poisson_cdf(k, lam)
    assert 0.0 <= ecc.poisson_pmf(k, lam) <= 1.0
    assert 0.0 <= cdf <= 1.0 + 1e-9
    assert ecc.poisson_cdf(k + 1, lam) >= cdf  # a CDF never falls
    assert ecc.poisson_cdf(k, lam + more) <= cdf + 1e-9  # more errors expected: P(N <= k) falls
    assert ecc.poisson_cdf(0, lam) == pytest.approx(1 - p, abs=1e-12)


@FAST
@given(
    events=st.floats(0.0, 10.0),
    interval=st.floats(0.01, 24.0),
    gpus=st.integers(0, 10_000),
    hours=st.floats(0, 1e4),
    f=st.floats(1.0, 3.0),
)
def test_reliability_rollback_costs_never_negative_and_grow(events, interval, gpus, hours, f):
    factor = ecc.rollback_overhead_factor(events, interval)
    assert factor >= 1.0
    assert ecc.rollback_overhead_factor(events * f, interval) >= factor
    assert ecc.rollback_overhead_factor(events, interval * f) >= factor
    wasted = ecc.wasted_gpu_hours(gpus, hours, events, interval)
    assert wasted >= 0
    assert ecc.wasted_gpu_hours(gpus + 1, hours, events, interval) >= wasted


@FAST
@given(errors=st.floats(0.0, 1e6), duration=st.floats(0.0, 3600.0), f=st.floats(1.0, 10.0))
def test_reliability_corrupted_requests_per_million(errors, duration, f):
    c = ecc.corrupted_per_million(errors, duration)
    assert 0.0 <= c <= 1e6
    assert ecc.corrupted_per_million(errors, duration * f) >= c
    assert ecc.corrupted_per_million(errors * f, duration) >= c


@FAST
@given(
    gpu_id=gpu_ids,
    rate=st.floats(0.0, 100.0),
    frac=st.floats(0.0, 1.0),
    ecc_on=st.booleans(),
    f=st.floats(1.0, 10.0),
)
def test_reliability_error_rates_add_up_and_grow_with_the_rate(gpu_id, rate, frac, ecc_on, f):
    p = P.model_copy(
        update=dict(
            dram_errors_per_gb_year=rate, uncorrectable_fraction=frac, consumer_ecc_enabled=ecc_on
        )
    )
    r = ecc.error_rates_per_gpu_year(p, gpu_id)
    assert all(v >= 0 for v in r.values())
    # Three parts of a sum of up to ~10^4 errors: equal up to float rounding, relative to the size.
    parts = r["corrected"] + r["uncorrectable"] + r["silent"]
    assert parts == pytest.approx(r["raw"], rel=1e-12, abs=1e-12)
    more = P.model_copy(
        update=dict(
            dram_errors_per_gb_year=rate * f,
            uncorrectable_fraction=frac,
            consumer_ecc_enabled=ecc_on,
        )
    )
    assert ecc.error_rates_per_gpu_year(more, gpu_id)["raw"] >= r["raw"]


def test_reliability_more_memory_more_raw_errors():
    # H200 (141 GiB) against H100 SXM (80 GiB) at the same rate per GB.
    h100 = ecc.error_rates_per_gpu_year(P, "h100-sxm")["raw"]
    h200 = ecc.error_rates_per_gpu_year(P, "h200-sxm")["raw"]
    assert h200 / h100 == pytest.approx(141 / 80)


# --- tco --------------------------------------------------------------------------------------


@st.composite
def cost_params(draw):
    return P.model_copy(
        update=dict(
            electricity_usd_per_kwh=draw(st.floats(0.01, 1.0)),
            pue=draw(st.floats(1.0, 3.0)),
            utilization=draw(st.floats(0.01, 1.0)),
            years=draw(st.floats(0.25, 10.0)),
            resale_fraction=draw(st.floats(0.0, 0.9)),
        )
    )


@FAST
@given(p=cost_params(), gpu_id=gpu_ids, price=st.floats(100, 100_000), f=st.floats(1.0, 5.0))
def test_tco_rises_with_price_electricity_and_pue(p, gpu_id, price, f):
    base = p.model_copy(update=dict(price_usd={gpu_id: price}))
    t = tco.tco_usd(base, gpu_id)
    assert t > 0 and tco.energy_cost_usd(base, gpu_id) > 0 and tco.capex_usd(base, gpu_id) >= price
    # A factor one ULP above 1 may move the sum by one ULP either way (the resale share is
    # subtracted): "never falls" holds to float rounding.
    floor = t * (1 - 1e-12)
    dearer = base.model_copy(update=dict(price_usd={gpu_id: price * f}))
    assert tco.tco_usd(dearer, gpu_id) >= floor
    power = base.model_copy(update=dict(electricity_usd_per_kwh=base.electricity_usd_per_kwh * f))
    assert tco.tco_usd(power, gpu_id) >= floor
    cooling = base.model_copy(update=dict(pue=min(3.0, base.pue * f)))
    assert tco.tco_usd(cooling, gpu_id) >= floor


@FAST
@given(p=cost_params(), gpu_id=gpu_ids, u=st.floats(0.0, 1.0), more=st.floats(0.0, 1.0))
def test_tco_rent_and_energy_grow_with_utilization(p, gpu_id, u, more):
    hi = min(1.0, u + more)
    assert 0 <= tco.rent_usd(p, gpu_id, u) <= tco.rent_usd(p, gpu_id, hi)
    assert p.busy_power_fraction >= p.idle_power_fraction  # the defaults; then energy grows with u
    assert tco.energy_cost_usd(p, gpu_id, u) <= tco.energy_cost_usd(p, gpu_id, hi) * (1 + 1e-12)


@FAST
@given(
    cost=st.floats(1.0, 1e7),
    tps=st.floats(0.1, 1e6),
    u=st.floats(0.01, 1.0),
    years=st.floats(0.1, 10),
    f=st.floats(1.0, 10.0),
)
def test_tco_cost_per_token_falls_with_throughput_and_rises_with_cost(cost, tps, u, years, f):
    c = tco.usd_per_million_tokens(cost, tps, u, years)
    assert c > 0
    assert tco.usd_per_million_tokens(cost, tps * f, u, years) <= c
    assert tco.usd_per_million_tokens(cost * f, tps, u, years) >= c


@FAST
@given(p=cost_params(), gpu_id=gpu_ids)
def test_tco_break_even_is_where_buying_and_renting_cost_the_same(p, gpu_id):
    u = tco.break_even_utilization(p, gpu_id)
    if u is not None:
        assert 0 < u <= 1
        assert tco.tco_usd(p, gpu_id, u) == pytest.approx(tco.rent_usd(p, gpu_id, u), rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(p=cost_params(), f=st.floats(1.0, 3.0))
def test_tco_monte_carlo_costs_are_positive_and_rise_with_price(p, f):
    p = p.model_copy(update=dict(mc_draws=500))
    gpus = ["h100-sxm", "rtx-4090"]
    tps = np.array([[2000.0, 800.0], [np.nan, 50.0]])  # (workloads, GPUs); NaN = does not fit
    costs = tco.monte_carlo_cost(p, tps, gpus)
    assert costs.shape == (500, 2, 2)
    assert np.isnan(costs[:, 1, 0]).all()
    finite = costs[~np.isnan(costs)]
    assert (finite > 0).all()
    dearer = p.model_copy(update=dict(price_usd={g: p.price_of(g) * f for g in gpus}))
    again = tco.monte_carlo_cost(dearer, tps, gpus)  # same seed: the same draws
    assert np.all(np.nan_to_num(again) >= np.nan_to_num(costs) * (1 - 1e-12))
