"""Decode/prefill throughput model: hand calculations with the engine's fitted rates, properties
(bandwidth bound, monotonicity, grid = scalar), "does not fit", unsupported formats, whole
generations and multi-GPU splits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.model import calibration, interconnect, memory, throughput, work

P7 = 6_738_415_616
EMB7 = 32_000 * 4_096
KV7 = 2 * 32 * 32 * 128 * 2  # 524,288 B/token at fp16


@pytest.fixture
def p():
    return params.make()


def test_active_parameters_hand_calculation():
    assert throughput.active_matmul_parameters(catalog.get_model("llama-2-7b")) == P7 - EMB7
    # Mixtral 8x7B: 12,879,925,248 active per token with both embeddings (data/models.yaml note);
    # less the input embedding table 32,000 x 4,096.
    mix = catalog.get_model("mixtral-8x7b")
    assert throughput.active_matmul_parameters(mix) == 12_879_925_248 - 32_000 * 4_096
    assert work.expert_parameters(mix) == 32 * 8 * 3 * 4096 * 14336
    # Two of eight experts per token: batch 1 touches 25%, batch 2 1 - 0.75^2 = 43.75%.
    assert work.experts_touched_fraction(mix, 1) == pytest.approx(0.25)
    assert work.experts_touched_fraction(mix, 2) == pytest.approx(0.4375)


def test_decode_bytes_leave_out_the_input_embedding_table():
    # Llama-2-7B fp16: all weights 2 x 6,738,415,616 bytes less the 32,000 x 4,096 input table
    # (a lookup), the LM head still read: -1.9% of the bytes.
    model = catalog.get_model("llama-2-7b")
    assert throughput.weights_read_bytes(model, "fp16", 1) == 2 * P7 - 2 * EMB7
    assert pytest.approx(0.019, abs=0.0005) == 1 - (2 * P7 - 2 * EMB7) / (2 * P7)


def _rates(engine, gpu):
    return calibration.parameters(engine, gpu)


def test_decode_step_hand_calculation_h100_7b_fp16(p):
    # bytes = 2 x (6,738,415,616 - 131,072,000) (weights less the input table) + 524,288 x 4,096
    # (KV) over 3,350 GB/s x the engine's bandwidth share; matmul FLOPs over 989.4 TFLOPS x 0.80
    # (sustained) x its compute share, attention over the same x its attention share; plus the
    # fixed overhead and 32 layers x the per-layer overhead.
    r = _rates("vllm", "h100-sxm")
    s = throughput.decode_step(p, "llama-2-7b", "fp16", "fp16", 1, 4096, "h100-sxm")
    mem_s = (2 * (P7 - EMB7) + KV7 * 4096) / (3350e9 * r["achieved_bandwidth_fraction"])
    ceiling = 989.4e12 * 0.80
    comp_s = 2 * (P7 - EMB7) / (
        ceiling * r["achieved_compute_fraction"]
    ) + 4 * 32 * 32 * 128 * 4096 / (ceiling * r["attention_compute_fraction"])
    over_s = r["overhead_fixed_ms"] / 1e3 + 32 * r["overhead_per_layer_us"] / 1e6
    assert s["memory_ms"] == pytest.approx(mem_s * 1e3)
    assert s["compute_ms"] == pytest.approx(comp_s * 1e3)
    assert s["step_ms"] == pytest.approx((max(mem_s, comp_s) + over_s) * 1e3)
    assert s["tokens_per_s"] == pytest.approx(1 / (max(mem_s, comp_s) + over_s))
    assert s["bound"] == max((mem_s, "memory"), (comp_s, "compute"), (over_s, "overhead"))[1]


def test_engine_changes_the_answer(p):
    speeds = {
        e: throughput.decode_tokens_per_s(
            p.model_copy(update={"engine": e}), "llama-2-7b", "fp16", "fp16", 1, 4096, "h100-sxm"
        )
        for e in ("vllm", "tensorrt-llm", "llama-cpp")
    }
    assert len({round(v, 6) for v in speeds.values()}) == 3


def test_unsupported_formats_have_no_speed(p):
    # FP8 needs FP8 tensor cores (Ada, Hopper); the A100 is Ampere.
    s = throughput.decode_step(p, "llama-2-7b", "fp8", "fp16", 1, 4096, "a100-sxm-80gb")
    assert s["tokens_per_s"] is None and s["bound"] == "unsupported"
    assert "FP8" in s["unsupported"]
    # vLLM does not run GGUF files in the engine catalog; llama.cpp does not run AWQ int4.
    q = p.model_copy(update={"engine": "llama-cpp"})
    assert (
        throughput.decode_tokens_per_s(q, "llama-2-7b", "int4", "fp16", 1, 4096, "rtx-4090") is None
    )


def test_batch_that_does_not_fit_is_none(p):
    # 7B fp16 at 4,096 tokens: 29 sequences fit an H100 (memory section), 4 an RTX 4090.
    assert (
        throughput.decode_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 32, 4096, "rtx-4090")
        is None
    )
    assert (
        throughput.decode_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 30, 4096, "h100-sxm")
        is None
    )
    assert throughput.decode_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 29, 4096, "h100-sxm") > 0


def test_bad_input_raises_input_error(p):
    with pytest.raises(InputError, match="batch: must be a positive integer"):
        throughput.decode_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 0, 4096, "h100-sxm")
    with pytest.raises(InputError, match="model: unknown model 'llama-9b'"):
        throughput.decode_tokens_per_s(p, "llama-9b", "fp16", "fp16", 1, 4096, "h100-sxm")
    with pytest.raises(InputError, match="weights: unknown weight precision"):
        throughput.decode_tokens_per_s(p, "llama-2-7b", "fp12", "fp16", 1, 4096, "h100-sxm")
    with pytest.raises(InputError, match="gpu: unknown GPU"):
        throughput.decode_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 1, 4096, "h100")


DENSE = ["llama-2-7b", "llama-2-13b", "llama-3-8b", "mistral-7b", "llama-2-70b"]
GPUS = ["h100-sxm", "rtx-4090", "a100-sxm-80gb", "l40s", "h200-sxm"]


@settings(max_examples=80, deadline=None)
@given(
    model_id=st.sampled_from(DENSE),
    gpu_id=st.sampled_from(GPUS),
    weights=st.sampled_from(["fp16", "int8", "int4", "fp8"]),
    batch=st.integers(1, 128),
    context=st.integers(1, 32768),
)
def test_tokens_per_s_never_exceeds_the_bandwidth_bound(model_id, gpu_id, weights, batch, context):
    p = params.make()
    tps = throughput.decode_tokens_per_s(p, model_id, weights, "fp16", batch, context, gpu_id)
    model = catalog.get_model(model_id)
    total = memory.weights_bytes(model, weights) + memory.kv_cache_bytes(
        model, "fp16", batch, context
    )
    bw = catalog.get_gpu(gpu_id).spec("memory_bandwidth_gb_s") * 1e9  # datasheet: a hard ceiling
    if tps is not None:
        assert tps <= batch * bw / total * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    model_id=st.sampled_from([*DENSE, "mixtral-8x7b"]),
    gpu_id=st.sampled_from(GPUS),
    batch=st.integers(1, 64),
    context=st.integers(1, 16384),
)
def test_more_batch_more_tokens_longer_context_fewer(model_id, gpu_id, batch, context):
    p = params.make()
    args = (p, model_id, "int4", "fp16")
    base = throughput.decode_tokens_per_s(*args, batch, context, gpu_id)
    more = throughput.decode_tokens_per_s(*args, batch + 1, context, gpu_id)
    longer = throughput.decode_tokens_per_s(*args, batch, context + 256, gpu_id)
    if more is not None:
        assert base is not None and more >= base
    if longer is not None:
        assert base is not None and longer <= base


def test_grid_agrees_with_scalar(p):
    batches, contexts = [1, 3, 16, 64], [128, 4096, 32768]
    weights = ["fp16", "int4", "fp8"]
    grid = throughput.decode_grid(p, weights=weights, batches=batches, contexts=contexts)
    assert len(grid) == len(catalog.model_ids()) * 3 * len(catalog.gpu_ids()) * 3 * 4
    for (m, w, g, c, b), row in grid.iloc[::7].iterrows():
        scalar = throughput.decode_tokens_per_s(p, m, w, "fp16", b, c, g)
        if scalar is None:
            assert row["bound"] in ("does not fit", "unsupported")
        else:
            assert row["tokens_per_s"] == pytest.approx(scalar, rel=1e-9)


def test_prefill_is_compute_bound_hand_calculation(p):
    # One 2,048-token prompt of Llama-2-7B fp16 on an H100: matmul FLOPs 2 x 6,607,343,616 x 2,048
    # and causal attention 2 x 32 x 32 x 128 x 2,048^2, at 989.4 x 0.80 TFLOPS x the engine's
    # shares (the matmul share times the engine's prefill factor), plus the per-step overhead.
    r = _rates("vllm", "h100-sxm")
    ceiling = 989.4e12 * 0.80
    matmul = r["achieved_compute_fraction"] * r["prefill_compute_scale"]
    comp = 2 * (P7 - EMB7) * 2048 / (ceiling * matmul) + (
        2 * 32 * 32 * 128 * 2048**2 / (ceiling * r["attention_compute_fraction"])
    )
    t = comp + r["overhead_fixed_ms"] / 1e3 + 32 * r["overhead_per_layer_us"] / 1e6
    assert (
        throughput.prefill_bound(p, "llama-2-7b", "fp16", "fp16", 1, 2048, "h100-sxm") == "compute"
    )
    tps = throughput.prefill_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 1, 2048, "h100-sxm")
    assert tps == pytest.approx(2048 / t)


def test_generation_without_prefill_is_the_mean_decode_step(p):
    # int4 7B on an RTX 4090 at contexts 129..384 (decode of 256 tokens after a 128-token
    # prompt): memory-bound steps at 1,008 GB/s x the engine's share, mean context 256.5.
    r = _rates("vllm", "rtx-4090")
    w_int4 = (P7 - 2 * EMB7) * (4 + 20 / 128) / 8 + EMB7 * 2  # the LM head at 16 bits
    over = r["overhead_fixed_ms"] / 1e3 + 32 * r["overhead_per_layer_us"] / 1e6
    step = (w_int4 + KV7 * 256.5) / (1008e9 * r["achieved_bandwidth_fraction"]) + over
    got = throughput.generation_tokens_per_s(
        p, "llama-2-7b", "int4", "fp16", 1, 128, 256, "rtx-4090", include_prefill=False
    )
    assert got == pytest.approx(1 / step, rel=1e-6)


def test_tensor_parallel_decode():
    p = params.make()
    single = throughput.decode_tokens_per_s(p, "llama-2-7b", "fp16", "fp16", 1, 4096, "h100-sxm")
    # TP 1 is the single-GPU model.
    assert (
        throughput.decode_tokens_per_s_tp(p, "llama-2-7b", "fp16", "fp16", 1, 4096, "h100-sxm", 1)
        == single
    )
    # Llama-2-70B fp16 does not fit one H100 but fits two; never more than twice one GPU's
    # bandwidth roof (each GPU reads half the weights), and communication makes it slower than
    # the same step without all-reduces.
    assert (
        throughput.decode_tokens_per_s(p, "llama-2-70b", "fp16", "fp16", 1, 4096, "h100-sxm")
        is None
    )
    tp2 = throughput.decode_tokens_per_s_tp(
        p, "llama-2-70b", "fp16", "fp16", 1, 4096, "h100-sxm", 2
    )
    model = catalog.get_model("llama-2-70b")
    bw = 3350e9  # datasheet: a hard ceiling
    roof = (
        2
        * bw
        / (memory.weights_bytes(model, "fp16") + memory.kv_cache_bytes(model, "fp16", 1, 4096))
    )
    assert 0 < tp2 < roof
    # The all-reduces cost time: 80 layers x 2 all-reduces of 8,192 x 2 bytes each.
    comm_us = 80 * 2 * interconnect.gpu_allreduce_time_us(p, "h100-sxm", 2, 8192 * 2)
    assert comm_us > 0
    # A degree that does not divide the heads, or does not fit, has no throughput.
    assert (
        throughput.decode_tokens_per_s_tp(p, "llama-2-70b", "fp16", "fp16", 1, 4096, "rtx-4090", 2)
        is None
    )
    assert (
        throughput.decode_tokens_per_s_tp(p, "llama-2-70b", "int4", "fp16", 1, 4096, "h100-sxm", 3)
        is None
    )


def test_layer_split_is_no_faster_than_one_gpu_at_batch_1(p):
    # llama.cpp splits by layers: one token passes the GPUs one after another, so two GPUs read
    # the same bytes at one GPU's bandwidth, plus a hop; never faster than one GPU.
    q = p.model_copy(update={"engine": "llama-cpp"})
    one = throughput.decode_step(q, "llama-2-7b", "q4_k_m", "fp16", 1, 2048, "rtx-4090")
    two = throughput.decode_step(q, "llama-2-7b", "q4_k_m", "fp16", 1, 2048, "rtx-4090", gpus=2)
    assert two["split"] == "layer"
    assert two["tokens_per_s"] < one["tokens_per_s"]
