"""Work of inference steps and the time model: hand calculations from the published configs and
data files, brute-force loops and properties."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.model import work

# Llama-2-7B (config.json): 32 layers, hidden 4096, 32 heads, 32 KV heads, head_dim 128, vocab
# 32000, untied embeddings, 6,738,415,616 parameters; the input-embedding table is
# 32000 x 4096 = 131,072,000 parameters.
L2_PARAMS = 6_738_415_616
L2_TABLE = 32_000 * 4_096
assert L2_TABLE == 131_072_000
L2_ACTIVE = L2_PARAMS - L2_TABLE  # 6,607,343,616 multiplied per token
L2_KV_FP16 = 2 * 32 * 32 * 128 * 2  # K and V x layers x KV heads x head_dim x 2 bytes = 524,288
L2_ATTN = 4 * 32 * 32 * 128  # decode attention FLOPs per context token = 524,288
L2_HEADS_DIM = 32 * 32 * 128  # layers x heads x head_dim = 131,072


@pytest.fixture(scope="module")
def p():
    return params.make()


@pytest.fixture(scope="module")
def gpus_yaml():
    """data/gpus.yaml read directly: the datasheet figures the hand calculations use."""
    raw = paths.load_yaml(paths.data_dir() / "gpus.yaml")
    return {g["id"]: {k: v["value"] for k, v in g["specs"].items()} for g in raw["gpus"]}


def case(**kw) -> work.Case:
    base = dict(
        engine="vllm",
        model="llama-2-7b",
        weights="fp16",
        kv="fp16",
        gpu="h100-sxm",
        batch=1,
        input_tokens=128,
        output_tokens=128,
    )
    base.update(kw)
    return work.Case(**base)


# --- sum_max_linear ------------------------------------------------------------------------


def brute_sum_max(a1, b1, a2, b2, lo, hi):
    return sum(max(a1 + b1 * c, a2 + b2 * c) for c in range(lo, hi + 1))


@pytest.mark.parametrize(
    "a1, b1, a2, b2, lo, hi",
    [
        (10.0, 1.0, 0.0, 2.0, 0, 20),  # cross at c = 10, inside the range
        (10.0, 1.0, 0.0, 2.0, 3, 3),  # a single integer
        (10.5, 1.0, 0.0, 2.0, 0, 20),  # cross at 10.5, between two integers
        (10.0, 1.0, 0.0, 2.0, 50, 60),  # cross before the range: line 2 throughout
        (10.0, 1.0, 0.0, 2.0, -20, -5),  # cross after the range: line 1 throughout
        (0.0, 2.0, 10.0, 1.0, 0, 20),  # same lines, swapped
        (3.0, 0.5, 1.0, 0.5, 0, 9),  # parallel: the higher intercept throughout
        (1.0, 0.5, 1.0, 0.5, 0, 9),  # identical lines
        (10.0, 1.0, 0.0, 2.0, 5, 4),  # empty range (hi < lo)
        (10.0, 1.0, 0.0, 2.0, 5, -3),  # empty range, hi far below lo
        (-5.0, -1.0, 2.0, -3.0, -10, 10),  # negative slopes, crossing at 3.5
    ],
)
def test_sum_max_linear_equals_a_loop(a1, b1, a2, b2, lo, hi):
    expected = brute_sum_max(a1, b1, a2, b2, lo, hi)
    assert float(work.sum_max_linear(a1, b1, a2, b2, lo, hi)) == pytest.approx(expected, abs=1e-9)


def test_sum_max_linear_hand_values():
    # max(10 + c, 2c) over c = 0..20: 10 + c for c <= 10 (sum 11 x 10 + 55 = 165), 2c for
    # c = 11..20 (2 x 155 = 310): 475.
    assert float(work.sum_max_linear(10, 1, 0, 2, 0, 20)) == 475
    # Empty range: 0.
    assert float(work.sum_max_linear(10, 1, 0, 2, 5, 4)) == 0


def test_sum_max_linear_broadcasts():
    lo = np.array([0, 50, -20, 5])
    hi = np.array([20, 60, -5, 4])
    got = work.sum_max_linear(10.0, 1.0, 0.0, 2.0, lo, hi)
    assert got.shape == (4,)
    for i in range(4):
        assert got[i] == pytest.approx(brute_sum_max(10.0, 1.0, 0.0, 2.0, lo[i], hi[i]))


small = st.integers(-1000, 1000)


@settings(max_examples=300, deadline=None)
@given(
    a1=small,
    b1=st.integers(-50, 50),
    a2=small,
    b2=st.integers(-50, 50),
    lo=st.integers(-100, 100),
    length=st.integers(-5, 120),
    scale=st.sampled_from([1.0, 0.25, 1e-3]),
)
def test_sum_max_linear_property(a1, b1, a2, b2, lo, length, scale):
    # Integer-valued lines (scaled by a power of two or 1e-3) so the crossing can land exactly on
    # an integer, between integers, or outside the range; length <= 0 gives an empty range.
    a1, b1, a2, b2 = (x * scale for x in (a1, b1, a2, b2))
    hi = lo + length - 1
    expected = brute_sum_max(a1, b1, a2, b2, lo, hi)
    got = float(work.sum_max_linear(a1, b1, a2, b2, lo, hi))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


# --- work() -------------------------------------------------------------------------------


def test_llama2_7b_fp16_one_gpu_hand_calculation(p, gpus_yaml):
    w = work.work(p, case(input_tokens=128))
    assert w.wb == (L2_PARAMS - L2_TABLE) * 2  # 13,214,687,232 bytes
    assert w.kb == L2_KV_FP16 == 524_288
    assert w.f0 == 2 * L2_ACTIVE
    assert w.f1 == L2_ATTN == 524_288
    assert math.isinf(w.window)
    assert w.comm_decode_s == 0 and w.comm_prefill_s == 0
    assert w.prefill_pipeline == 1
    assert w.moe == 0  # dense
    assert w.layers == 32
    # Prefill of 128 tokens: weights once + KV of 128 tokens written; 2 x active x 128 matmul
    # FLOPs; causal attention 2 x layers x heads x head_dim x 128^2.
    assert w.pb == (L2_PARAMS - L2_TABLE) * 2 + 128 * L2_KV_FP16
    assert w.pf == 2 * L2_ACTIVE * 128
    assert w.pa == 2 * L2_HEADS_DIM * 128 * 128
    # H100 SXM: datasheet bandwidth; ceiling = datacenter sustained fraction x FP16 peak.
    h100 = gpus_yaml["h100-sxm"]
    assert w.bw == pytest.approx(h100["memory_bandwidth_gb_s"] * 1e9)
    assert w.ceiling == pytest.approx(
        p.sustained_fraction_datacenter * h100["fp16_tensor_fp32acc_tflops"] * 1e12
    )


def test_batch_scales_kv_and_flops_not_weights(p):
    one, eight = work.work(p, case()), work.work(p, case(batch=8))
    assert eight.wb == one.wb  # a dense model reads every weight once per step
    assert eight.kb == 8 * L2_KV_FP16
    assert eight.f0 == 8 * 2 * L2_ACTIVE
    assert eight.f1 == 8 * L2_ATTN


def test_mixtral_reads_only_the_routed_experts(p):
    # Mixtral 8x7B: experts = 32 layers x 8 x 3 x 4096 x 14336 = 45,097,156,608 parameters; one
    # token routes to 2 of 8, so it multiplies 46,702,792,704 - 131,072,000 - 0.75 x experts =
    # 12,748,853,248 parameters (Mistral AI quotes 12.9B active, embeddings included).
    experts = 32 * 8 * 3 * 4096 * 14336
    assert experts == 45_097_156_608
    active = 46_702_792_704 - 32_000 * 4096 - 0.75 * experts
    assert active == 12_748_853_248
    w = work.work(p, case(model="mixtral-8x7b", batch=1))
    assert w.moe == 1
    assert w.f0 == pytest.approx(2 * active)
    # fp16 bytes read at batch 1: the non-expert weights less the table, and a quarter of the
    # experts (expected share touched 1 - (1 - 2/8)^1 = 0.25).
    assert w.wb == pytest.approx((46_702_792_704 - 32_000 * 4096 - 0.75 * experts) * 2)
    # At batch 4: 1 - 0.75^4 = 0.68359375 of the experts.
    w4 = work.work(p, case(model="mixtral-8x7b", batch=4))
    assert w4.wb == pytest.approx(
        (46_702_792_704 - 32_000 * 4096 - experts + 0.68359375 * experts) * 2
    )


def test_tensor_split_halves_work_and_adds_allreduces(p, gpus_yaml):
    one = work.work(p, case())
    two = work.work(p, case(gpus=2, split="tensor"))
    assert two.wb == pytest.approx(one.wb / 2)
    assert two.kb == pytest.approx(one.kb / 2)  # 32 KV heads: 16 on each GPU
    assert two.f0 == pytest.approx(one.f0 / 2)
    assert two.f1 == pytest.approx(one.f1 / 2)
    assert two.comm_decode_s > 0
    # Hand calculation: 2 all-reduces per layer x 32 layers of batch x 1 x 4096 x 2 = 8,192 bytes
    # over NVLink (450 GB/s per direction), ring of 2: base + 2(n-1) hops + 2(n-1)/n x S / B.
    nvlink = gpus_yaml["h100-sxm"]["gpu_link_bandwidth_per_direction_gb_s"]
    assert nvlink == 450
    ring_us = p.allreduce_base_latency_us + 2 * p.allreduce_latency_us + 8192 / (nvlink * 1e9 / 1e6)
    assert two.comm_decode_s == pytest.approx(64 * ring_us / 1e6)
    # The prefill all-reduces carry 128 tokens each: more bytes, more time.
    assert two.comm_prefill_s > two.comm_decode_s


def test_layer_split_keeps_the_critical_path_and_adds_hops(p, gpus_yaml):
    one = work.work(p, case(engine="llama-cpp"))
    for gpus in (2, 4):
        w = work.work(p, case(engine="llama-cpp", gpus=gpus, split="layer"))
        assert w.wb == one.wb and w.f0 == one.f0 and w.f1 == one.f1 and w.kb == one.kb
        # gpus - 1 hops of batch x 4096 x 2 = 8,192 bytes over NVLink, 1 us latency each.
        nvlink = gpus_yaml["h100-sxm"]["gpu_link_bandwidth_per_direction_gb_s"]
        hop_s = p.allreduce_latency_us / 1e6 + 8192 / (nvlink * 1e9)
        assert w.comm_decode_s == pytest.approx((gpus - 1) * hop_s)


def test_row_and_pipeline_splits_map_to_the_two_modelled_splits(p):
    row = work.work(p, case(engine="llama-cpp", gpus=2, split="row"))
    tensor = work.work(p, case(engine="llama-cpp", gpus=2, split="tensor"))
    assert row == tensor
    pipe = work.work(p, case(engine="llama-cpp", gpus=2, split="pipeline"))
    layer = work.work(p, case(engine="llama-cpp", gpus=2, split="layer"))
    assert pipe == layer


def test_bad_splits_are_refused(p):
    with pytest.raises(InputError, match="split: unknown 'diagonal'"):
        work.work(p, case(gpus=2, split="diagonal"))
    # 32 heads do not divide over 3 GPUs.
    with pytest.raises(InputError, match="gpus: tensor parallelism over 3"):
        work.work(p, case(gpus=3, split="tensor"))
    # An H100 node holds 8 GPUs.
    with pytest.raises(InputError, match="gpus: 16 h100-sxm do not fit one node"):
        work.work(p, case(gpus=16, split="layer"))
    with pytest.raises(InputError, match="batch"):
        work.work(p, case(batch=0))


def _rates() -> work.Rates:
    return work.Rates(
        eta_bw=0.8,
        eta_c=0.5,
        overhead_fixed_ms=1.0,
        overhead_per_layer_us=20.0,
        comm_scale=1.0,
        eta_attn=0.3,
    )


def _step_seconds(w: work.Work, r: work.Rates, c: int) -> float:
    """One decode step at context c, straight from the module docstring's formula."""
    ctx = min(c, w.window)
    mem = (w.wb + w.kb * ctx) / (w.bw * r.eta_bw)
    matmul_share = r.eta_c * (r.moe_scale if w.moe else 1.0)
    comp = w.f0 / (w.ceiling * matmul_share) + w.f1 * ctx / (w.ceiling * r.eta_attn)
    overhead = r.overhead_fixed_ms / 1e3 + r.overhead_per_layer_us * w.layers / 1e6
    return max(mem, comp) + overhead + w.comm_decode_s * r.comm_scale


def test_mistral_window_caps_decode_bytes(p):
    w = work.work(p, case(model="mistral-7b"))
    assert w.window == 4096  # Mistral 7B v0.1 sliding_window
    d, r = work.stack([w]), _rates()

    def steps(lo, hi):
        return float(work.decode_steps_sum(d, r, lo, hi)[0])

    assert steps(8000, 8000) == pytest.approx(steps(4096, 4096), rel=1e-12)
    assert steps(4097, 4097) == pytest.approx(steps(4096, 4096), rel=1e-12)
    assert steps(4095, 4095) < steps(4096, 4096)
    # 4097..8000: 3,904 steps, each the step at 4,096.
    assert steps(4097, 8000) == pytest.approx(3904 * steps(4096, 4096), rel=1e-9)
    # A range across the window equals the loop over its contexts.
    assert steps(4000, 4200) == pytest.approx(
        sum(_step_seconds(w, r, c) for c in range(4000, 4201)), rel=1e-9
    )
    # Llama-2-7B has no window: a step at 8,000 costs more than one at 4,096.
    ld = work.stack([work.work(p, case())])
    assert work.decode_steps_sum(ld, r, 8000, 8000)[0] > work.decode_steps_sum(ld, r, 4096, 4096)[0]


def test_fp8_needs_fp8_tensor_cores(p, gpus_yaml):
    for gpu in ("a100-sxm-80gb", "rtx-3090"):  # Ampere: no FP8 tensor cores
        assert gpus_yaml[gpu]["fp8_tensor_tflops"] is None
        reason = work.unsupported_reason(gpu, "fp8")
        assert reason and gpu in reason
        with pytest.raises(InputError, match="weights: fp8 is not supported"):
            work.compute_ceiling_tflops(p, gpu, "fp8")
        with pytest.raises(InputError, match="weights"):
            work.work(p, case(gpu=gpu, weights="fp8", kv="fp8"))
        # FP16 on the same GPU is fine.
        assert work.unsupported_reason(gpu, "fp16") is None
    assert work.unsupported_reason("h100-sxm", "fp8") is None
    assert work.compute_ceiling_tflops(p, "h100-sxm", "fp8") == pytest.approx(
        p.sustained_fraction_datacenter * gpus_yaml["h100-sxm"]["fp8_tensor_tflops"]
    )
    # FP8 checkpoints keep the embedding table and the LM head in 16-bit (data/precisions.yaml):
    # body (6,738,415,616 - 2 x 131,072,000) x 1 byte + LM head 131,072,000 x 2 bytes; the input
    # table is a lookup, not read.
    w = work.work(p, case(weights="fp8", kv="fp8"))
    assert w.wb == (L2_PARAMS - 2 * L2_TABLE) * 1 + L2_TABLE * 2
    assert w.kb == L2_KV_FP16 / 2


def test_compute_ceiling_is_sustained_fraction_times_datasheet_peak(p, gpus_yaml):
    # params/default.yaml: sustained_fraction_consumer 0.94 (RTX 4090 MAMF 155.5 / 165.2).
    default = paths.load_yaml(paths.params_dir() / "default.yaml")
    assert default["sustained_fraction_consumer"] == p.sustained_fraction_consumer == 0.94
    # RTX 4090: 165.2 dense FP16 TFLOPS (FP32 accumulate) x 0.94 = 155.288.
    assert gpus_yaml["rtx-4090"]["fp16_tensor_fp32acc_tflops"] == 165.2
    assert work.compute_ceiling_tflops(p, "rtx-4090", "fp16") == pytest.approx(165.2 * 0.94)
    # Weight-only quantized formats run their math in FP16.
    assert work.compute_ceiling_tflops(p, "rtx-4090", "q4_0") == pytest.approx(165.2 * 0.94)
    assert work.compute_ceiling_tflops(p, "rtx-4090", "bf16") == pytest.approx(
        gpus_yaml["rtx-4090"]["bf16_tensor_tflops"] * 0.94
    )
    assert work.compute_ceiling_tflops(p, "h100-sxm", "bf16") == pytest.approx(
        gpus_yaml["h100-sxm"]["bf16_tensor_tflops"] * p.sustained_fraction_datacenter
    )


# --- predict --------------------------------------------------------------------------------

# A hand-made Work in round numbers: memory line (5e9 + 5e5 c) / 5e11 = 0.01 + 1e-6 c s, compute
# line 2.5e11 / 5e13 + 5e7 c / 2.5e13 = 0.005 + 2e-6 c s; they cross at c = 5,000.
HAND_WORK = work.Work(
    wb=5e9,
    kb=5e5,
    f0=2.5e11,
    f1=5e7,
    window=math.inf,
    pb=6e9,
    pf=1e14,
    pa=2e13,
    comm_decode_s=1e-4,
    comm_prefill_s=2e-3,
    prefill_pipeline=1.0,
    moe=0.0,
    layers=10,
    bw=1e12,
    ceiling=1e14,
)
HAND_RATES = work.Rates(
    eta_bw=0.5,
    eta_c=0.5,
    overhead_fixed_ms=0.5,
    overhead_per_layer_us=30.0,
    comm_scale=2.0,
    eta_attn=0.25,
)


def test_hand_work_step_times():
    # Overhead 0.5 ms + 30 us x 10 = 0.8 ms; comm 2 x 0.1 ms = 0.2 ms: 1 ms extra per step.
    assert _step_seconds(HAND_WORK, HAND_RATES, 1000) == pytest.approx(0.01 + 0.001 + 0.001)
    assert _step_seconds(HAND_WORK, HAND_RATES, 8000) == pytest.approx(0.005 + 0.016 + 0.001)


@pytest.mark.parametrize("inp, out", [(4990, 20), (0, 1), (100, 50), (6000, 7)])
def test_predict_decode_equals_a_loop_over_steps(inp, out):
    d = work.stack([HAND_WORK])
    cases = {"batch": [4], "input_tokens": [inp], "output_tokens": [out], "metric": ["decode"]}
    total = sum(_step_seconds(HAND_WORK, HAND_RATES, c) for c in range(inp + 1, inp + out + 1))
    assert work.predict(d, cases, HAND_RATES)[0] == pytest.approx(4 * out / total, rel=1e-12)


def test_predict_prefill_and_generation_hand_formula():
    d = work.stack([HAND_WORK])
    # Prefill: max(6e9 / 5e11 = 0.012, 1e14 / 5e13 + 2e13 / 2.5e13 = 2.8) + 0.8 ms + 2 x 2 ms.
    prefill_s = 2.8 + 0.0008 + 0.004
    cases = {"batch": [2], "input_tokens": [512], "output_tokens": [0], "metric": ["prefill"]}
    assert work.predict(d, cases, HAND_RATES)[0] == pytest.approx(2 * 512 / prefill_s)
    # Generation of 30 tokens after a 512-token prompt: prefill + steps at 513..541.
    steps = sum(_step_seconds(HAND_WORK, HAND_RATES, c) for c in range(513, 542))
    cases = {"batch": [2], "input_tokens": [512], "output_tokens": [30], "metric": ["generation"]}
    assert work.predict(d, cases, HAND_RATES)[0] == pytest.approx(2 * 30 / (prefill_s + steps))
    # A pipelined prefill divides only the busy time.
    piped = work.stack([dataclasses.replace(HAND_WORK, prefill_pipeline=2.0)])
    cases = {"batch": [2], "input_tokens": [512], "output_tokens": [0], "metric": ["prefill"]}
    assert work.predict(piped, cases, HAND_RATES)[0] == pytest.approx(
        2 * 512 / (1.4 + 0.0008 + 0.004)
    )


def test_predict_llama2_decode_equals_a_loop(p):
    w = work.work(p, case(batch=8, input_tokens=500, output_tokens=300))
    r = _rates()
    cases = {"batch": [8], "input_tokens": [500], "output_tokens": [300], "metric": ["decode"]}
    total = sum(_step_seconds(w, r, c) for c in range(501, 801))
    assert work.predict(work.stack([w]), cases, r)[0] == pytest.approx(8 * 300 / total, rel=1e-12)


def test_prefill_and_moe_factors_scale_only_their_matmuls():
    d = work.stack([HAND_WORK])
    moe = work.stack([dataclasses.replace(HAND_WORK, moe=1.0)])
    scaled = dataclasses.replace(HAND_RATES, prefill_scale=2.0, moe_scale=0.5)
    prefill = {"batch": [2], "input_tokens": [512], "output_tokens": [0], "metric": ["prefill"]}
    decode = {"batch": [4], "input_tokens": [100], "output_tokens": [50], "metric": ["decode"]}
    # Dense prefill: matmuls at 0.5 x 2 of the ceiling: 1e14 / 1e14 = 1 s + attention 0.8 s.
    assert work.predict(d, prefill, scaled)[0] == pytest.approx(2 * 512 / (1.8 + 0.0008 + 0.004))
    # Dense decode ignores both factors.
    assert work.predict(d, decode, scaled)[0] == pytest.approx(
        work.predict(d, decode, HAND_RATES)[0]
    )
    # MoE prefill: 0.5 x 0.5 x 2 of the ceiling: 2 s + 0.8 s.
    assert work.predict(moe, prefill, scaled)[0] == pytest.approx(2 * 512 / (2.8 + 0.0008 + 0.004))
    # MoE decode at 0.5 x 0.5: compute line 2.5e11 / 2.5e13 + 2e-6 c = 0.01 + 2e-6 c, above the
    # memory line 0.01 + 1e-6 c; plus 1 ms of overhead and communication per step.
    steps = sum(0.01 + 2e-6 * c + 0.001 for c in range(101, 151))
    assert work.predict(moe, decode, scaled)[0] == pytest.approx(4 * 50 / steps)


def test_predict_rows_are_independent():
    # Two different rows in one call give the same numbers as one row at a time.
    other = dataclasses.replace(HAND_WORK, wb=2e9, window=3000.0)
    d2 = work.stack([HAND_WORK, other])
    cases = {
        "batch": [1, 16],
        "input_tokens": [100, 2900],
        "output_tokens": [10, 400],
        "metric": ["decode", "generation"],
    }
    both = work.predict(d2, cases, HAND_RATES)
    for i, w in enumerate([HAND_WORK, other]):
        single = {k: [v[i]] for k, v in cases.items()}
        assert both[i] == pytest.approx(work.predict(work.stack([w]), single, HAND_RATES)[0])


# --- pipelined prefill ------------------------------------------------------------------------


def test_llama_cpp_layer_split_pipelines_the_prefill(p):
    # llama.cpp: ubatch 512, at most 2048 tokens in flight. A 4,096-token prompt over 4 GPUs:
    # m = 2048 / 512 = 4 micro-batches, N = 4 stages: m N / (m + N - 1) = 16 / 7.
    c = case(engine="llama-cpp", gpu="rtx-4090", gpus=4, split="layer", input_tokens=4096)
    assert work.work(p, c).prefill_pipeline == pytest.approx(16 / 7)
    assert work.pipeline_speedup(c, "layer", 4096) == pytest.approx(16 / 7)
    # 1,000 tokens: m = ceil(1000 / 512) = 2: 8 / 5.
    assert work.pipeline_speedup(c, "layer", 1000) == pytest.approx(8 / 5)
    # One micro-batch cannot overlap: 1 x 4 / 4 = 1.
    assert work.pipeline_speedup(c, "layer", 512) == 1
    # Two GPUs, 2,048 tokens: 4 x 2 / 5.
    c2 = case(engine="llama-cpp", gpu="rtx-4090", gpus=2, split="layer", input_tokens=2048)
    assert work.work(p, c2).prefill_pipeline == pytest.approx(8 / 5)


def test_no_pipelining_for_tensor_engines_or_one_gpu(p):
    vllm = case(engine="vllm", gpus=4, split="tensor", input_tokens=4096)
    assert work.work(p, vllm).prefill_pipeline == 1
    # ExLlamaV2 splits by layer but does not pipeline micro-batches.
    exl = case(engine="exllamav2", weights="int4", gpus=2, split="layer", input_tokens=4096)
    assert work.work(p, exl).prefill_pipeline == 1
    # One GPU: no split, no pipeline.
    one = case(engine="llama-cpp", input_tokens=4096)
    assert work.work(p, one).prefill_pipeline == 1


def test_engine_split():
    assert work.engine_split("vllm", 1) == "none"
    assert work.engine_split("vllm", 2) == "tensor"
    assert work.engine_split("llama-cpp", 4) == "layer"
    with pytest.raises(InputError, match="engine"):
        work.engine_split("nonesuch", 2)


def brute_prefill_attention_flops(heads_dim: int, prompt: int, window: float) -> int:
    """Causal prefill attention FLOPs by a loop over positions: the token at position i (1-based)
    attends to min(i, window) keys, 2 x head_dim FLOPs for QK^T and 2 x head_dim for AV per key,
    head and layer."""
    return sum(4 * heads_dim * min(i, window) for i in range(1, prompt + 1))


def test_prefill_attention_flops_without_window_match_the_loop(p):
    # Llama-2-7B, 2,048-token prompt: the loop gives 4 x 131,072 x 2048 x 2049 / 2; the model's
    # 2 x heads_dim x prompt^2 drops the diagonal (relative 1 / 2048).
    w = work.work(p, case(input_tokens=2048))
    assert w.pa == pytest.approx(
        brute_prefill_attention_flops(L2_HEADS_DIM, 2048, math.inf), rel=1e-3
    )


def test_prefill_attention_flops_with_window_match_the_loop(p):
    # Mistral 7B (window 4,096; 32 layers x 32 heads x 128 like Llama-2-7B), 8,192-token prompt:
    # positions 1..4096 attend to i keys, positions 4097..8192 to 4,096: 4 x heads_dim x
    # (4096 x 4097 / 2 + 4096 x 4096) = 4 x heads_dim x 25,167,872 (a cap of min(prompt, window)
    # x prompt would give 2/3 of it).
    w = work.work(p, case(model="mistral-7b", input_tokens=8192))
    assert w.pa == pytest.approx(brute_prefill_attention_flops(L2_HEADS_DIM, 8192, 4096), rel=1e-3)
    # Up to the window the windowed count is the unwindowed one, 2 x heads_dim x prompt^2.
    short = work.work(p, case(model="mistral-7b", input_tokens=4096))
    assert short.pa == pytest.approx(2 * L2_HEADS_DIM * 4096 * 4096)
