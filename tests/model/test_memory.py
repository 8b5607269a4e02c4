"""Memory formulas: hand calculations from the published configs and properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.model import memory

GIB = 2**30
OV = memory.Overheads(gpu_memory_utilization=0.9, activation_reserve_gib=1.0)


def m(model_id):
    return catalog.get_model(model_id)


def test_fp16_weights_are_two_bytes_per_parameter():
    # Llama-2-7B: 6,738,415,616 parameters x 2 bytes.
    assert memory.weights_bytes(m("llama-2-7b"), "fp16") == 6_738_415_616 * 2


def test_int4_weights_match_the_published_awq_checkpoint():
    # Body weights at 4 bits + (16-bit scale + 4-bit zero) / 128; embeddings and LM head
    # (2 x 32,000 x 4,096) stay fp16. TheBloke/Llama-2-7B-AWQ's model.safetensors is 3.89 GB.
    emb = 2 * 32_000 * 4_096
    expected = (6_738_415_616 - emb) * (4 + 20 / 128) / 8 + emb * 2
    got = memory.weights_bytes(m("llama-2-7b"), "int4")
    assert got == pytest.approx(expected)
    assert got / 1e9 == pytest.approx(3.89, abs=0.01)


def test_kv_cache_hand_calculations():
    # Llama-2-7B (MHA, 32 layers x 32 KV heads x 128): 2*32*32*128*2 = 524,288 B/token.
    assert memory.kv_bytes_per_token(m("llama-2-7b"), "fp16") == 524_288
    # At 4,096 tokens: 2.147 GB, the figure the article's own formula gives (it prints 1.0).
    assert memory.kv_cache_bytes(m("llama-2-7b"), "fp16", 1, 4096) / 1e9 == pytest.approx(
        2.147, abs=0.001
    )
    # Llama-2-70B (GQA, 80 layers x 8 KV heads x 128): 327,680 B/token -> 1.342 GB at 4,096 tokens.
    assert memory.kv_bytes_per_token(m("llama-2-70b"), "fp16") == 327_680
    # Mixtral 8x7B: experts share attention; 32 layers x 8 KV heads x 128 -> 131,072 B/token.
    assert memory.kv_bytes_per_token(m("mixtral-8x7b"), "fp16") == 131_072
    # KV precision is independent of weights: fp8 halves it.
    assert memory.kv_bytes_per_token(m("llama-3-8b"), "fp8") == 2 * 32 * 8 * 128 * 1


def test_max_batch_hand_calculation():
    # H100 SXM: 80 GiB x 0.9 - 1 GiB = 71 GiB usable. Llama-2-7B fp16 at 4,096 tokens:
    # (71 x 2^30 - 13,476,831,232) / 2,147,483,648 = 29.2 -> 29 sequences.
    h100 = catalog.get_gpu("h100-sxm")
    assert memory.usable_bytes(h100, 0.9, 1.0) == 71 * GIB
    assert memory.max_batch(m("llama-2-7b"), "fp16", "fp16", 4096, h100, OV) == 29
    # RTX 4090: 24 GiB x 0.9 - 1 = 20.6 GiB -> (22,119,081,574 - 13,476,831,232) / 2,147,483,648 = 4.02 -> 4.
    assert (
        memory.max_batch(m("llama-2-7b"), "fp16", "fp16", 4096, catalog.get_gpu("rtx-4090"), OV)
        == 4
    )


def test_gpus_needed_hand_calculation():
    h100 = catalog.get_gpu("h100-sxm")
    # Llama-2-70B fp16: 137.95 GB of weights; TP 2 puts 68.98 GB + 0.67 GB KV on each 76.2 GB GPU.
    assert memory.gpus_needed(m("llama-2-70b"), "fp16", "fp16", 1, 4096, h100, OV) == 2
    # On RTX 4090s (22.1 GB usable): TP 8 gives 17.2 GB each.
    assert (
        memory.gpus_needed(
            m("llama-2-70b"), "fp16", "fp16", 1, 4096, catalog.get_gpu("rtx-4090"), OV
        )
        == 8
    )
    # fp32 70B (275.9 GB) does not fit 8 RTX 4090s.
    assert (
        memory.gpus_needed(
            m("llama-2-70b"), "fp32", "fp16", 1, 4096, catalog.get_gpu("rtx-4090"), OV
        )
        is None
    )


def test_kv_heads_replicate_beyond_their_count():
    model = m("llama-2-70b")  # 8 KV heads
    assert memory.kv_shard_fraction(model, 8) == pytest.approx(1 / 8)
    mqa = model.model_copy(update={"num_key_value_heads": 1})
    assert memory.kv_shard_fraction(mqa, 4) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    model_id=st.sampled_from(["llama-2-7b", "llama-2-70b", "mixtral-8x7b", "llama-3-8b"]),
    batch=st.integers(1, 512),
    context=st.integers(1, 131072),
)
def test_memory_grows_with_batch_context_and_precision(model_id, batch, context):
    model = m(model_id)
    base = memory.kv_cache_bytes(model, "fp16", batch, context)
    assert memory.kv_cache_bytes(model, "fp16", batch + 1, context) > base
    assert memory.kv_cache_bytes(model, "fp16", batch, context + 1) > base
    weights = [memory.weights_bytes(model, p) for p in ("int4", "int8", "fp16", "fp32")]
    assert weights == sorted(weights)


@settings(max_examples=60, deadline=None)
@given(
    model_id=st.sampled_from(
        ["llama-2-7b", "llama-2-13b", "llama-3-8b", "mistral-7b", "mixtral-8x7b"]
    ),
    gpu_id=st.sampled_from(["h100-sxm", "rtx-4090", "h200-sxm", "l40s"]),
    weights=st.sampled_from(["fp16", "int8", "int4"]),
    context=st.integers(256, 32768),
)
def test_max_batch_is_the_largest_batch_that_fits(model_id, gpu_id, weights, context):
    model, gpu = m(model_id), catalog.get_gpu(gpu_id)
    usable = memory.usable_bytes(gpu, OV.gpu_memory_utilization, OV.activation_reserve_gib)
    b = memory.max_batch(model, weights, "fp16", context, gpu, OV)
    assert memory.per_gpu_bytes(model, weights, "fp16", b + 1, context) > usable
    if b > 0:
        assert memory.per_gpu_bytes(model, weights, "fp16", b, context) <= usable


@settings(max_examples=40, deadline=None)
@given(
    model_id=st.sampled_from(["llama-2-7b", "llama-2-70b", "llama-3-70b", "mixtral-8x7b"]),
    gpu_id=st.sampled_from(["h100-sxm", "rtx-4090", "rtx-3090"]),
    batch=st.integers(1, 64),
)
def test_more_gpus_never_increase_per_gpu_memory(model_id, gpu_id, batch):
    model = m(model_id)
    per = [
        memory.per_gpu_bytes(model, "fp16", "fp16", batch, 4096, tp)
        for tp in memory.valid_tp_degrees(model)
    ]
    assert all(a >= b for a, b in itertools.pairwise(per))
    need = memory.gpus_needed(model, "fp16", "fp16", batch, 4096, catalog.get_gpu(gpu_id), OV)
    usable = memory.usable_bytes(catalog.get_gpu(gpu_id), 0.9, 1.0)
    if need is not None:
        assert memory.per_gpu_bytes(model, "fp16", "fp16", batch, 4096, need) <= usable
        smaller = [t for t in memory.valid_tp_degrees(model) if t < need]
        assert all(
            memory.per_gpu_bytes(model, "fp16", "fp16", batch, 4096, t) > usable for t in smaller
        )


def test_sweep_agrees_with_scalar_functions():
    sweep = memory.fit_sweep(
        ["llama-2-7b", "llama-2-70b"],
        ["fp16", "int4"],
        ["h100-sxm", "rtx-4090"],
        [4096, 32768],
        [1, 32],
        "fp16",
        OV,
    )
    for (mid, prec, gid, ctx, bat), row in sweep.iterrows():
        need = memory.gpus_needed(m(mid), prec, "fp16", bat, ctx, catalog.get_gpu(gid), OV)
        assert (
            None if row["gpus_needed"] != row["gpus_needed"] else int(row["gpus_needed"])
        ) == need
        total = memory.weights_bytes(m(mid), prec) + memory.kv_cache_bytes(m(mid), "fp16", bat, ctx)
        assert row["total_gb"] == pytest.approx(total / 1e9)


def test_requirement_json_fields():
    r = memory.requirement("llama-2-7b", "fp16", "fp16", 32, 4096, ["h100-sxm", "rtx-4090"], OV)
    assert r["kv_cache_gb"] == pytest.approx(32 * 4096 * 524_288 / 1e9)
    assert r["total_gb"] == pytest.approx(r["weights_gb"] + r["kv_cache_gb"])
    h100 = r["gpus"][0]
    assert (h100["fits"], h100["max_batch"], h100["gpus_needed"]) == (False, 29, 2)


def test_bad_input():
    with pytest.raises(InputError, match=r"unknown weight precision 'int3'.*allowed: bf16, .*fp16"):
        memory.weights_bytes(m("llama-2-7b"), "int3")
    with pytest.raises(InputError, match=r"batch: must be a positive number"):
        memory.kv_cache_bytes(m("llama-2-7b"), "fp16", 0, 4096)
    with pytest.raises(InputError, match=r"context_tokens: must be a positive number"):
        memory.kv_cache_bytes(m("llama-2-7b"), "fp16", 1, -5)


def test_sliding_window_caps_the_kv_cache():
    # mistralai/Mistral-7B-v0.1 config.json: "sliding_window": 4096, 32 layers, 8 KV heads, head_dim 128.
    # KV per token at fp16 = 2 x 32 x 8 x 128 x 2 bytes = 131,072 B; at 8,192 tokens a sequence keeps
    # only the last 4,096: 131,072 x 4,096 = 536,870,912 B (512 MiB), not 1 GiB.
    mistral = m("mistral-7b")
    assert mistral.sliding_window == 4096
    assert memory.kv_bytes_per_token(mistral, "fp16") == 131_072
    assert memory.kv_cache_bytes(mistral, "fp16", 1, 8192) == 131_072 * 4096 == 536_870_912
    assert memory.kv_cache_bytes(mistral, "fp16", 3, 8192) == 3 * 536_870_912
    # Below the window the whole context is cached: 131,072 x 2,048.
    assert memory.kv_cache_bytes(mistral, "fp16", 1, 2048) == 131_072 * 2048
    # Mixtral-8x7B-v0.1 config.json: "sliding_window": null (Mistral AI's PR #19 on the base repo,
    # "Doesn't use sliding window attention"): same attention shape, the whole 8,192 tokens cached.
    mixtral = m("mixtral-8x7b")
    assert mixtral.sliding_window is None
    assert memory.kv_cache_bytes(mixtral, "fp16", 1, 8192) == 131_072 * 8192
    # Llama configs have no sliding window.
    assert all(m(i).sliding_window is None for i in catalog.model_ids() if i.startswith("llama"))


def test_sliding_window_in_fit_and_limits():
    mistral, h100 = m("mistral-7b"), catalog.get_gpu("h100-sxm")
    # Per-GPU bytes and the max batch use the capped cache: at 32,768 tokens a sequence costs the
    # same 536,870,912 B as at 4,096.
    assert memory.per_gpu_bytes(mistral, "fp16", "fp16", 1, 32768) == memory.per_gpu_bytes(
        mistral, "fp16", "fp16", 1, 4096
    )
    assert memory.max_batch(mistral, "fp16", "fp16", 32768, h100, OV) == memory.max_batch(
        mistral, "fp16", "fp16", 4096, h100, OV
    )
    # When the window fits, memory sets no context limit: the model's own 32,768 is returned.
    assert memory.max_context(mistral, "fp16", "fp16", 1, h100, OV) == 32768
    # The vectorized sweep agrees with the scalar formulas.
    sweep = memory.fit_sweep(["mistral-7b"], ["fp16"], ["h100-sxm"], [2048, 8192], [4], "fp16", OV)
    for ctx in (2048, 8192):
        total = sweep.loc[("mistral-7b", "fp16", "h100-sxm", ctx, 4), "total_gb"]
        assert total == pytest.approx(memory.per_gpu_bytes(mistral, "fp16", "fp16", 4, ctx) / 1e9)
