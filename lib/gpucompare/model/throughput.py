"""LLM inference throughput on one GPU: a roofline model of decode and prefill.

Decode step for ``batch`` sequences of ``context_tokens`` tokens each (SI units; GB = 1e9 bytes):

* bytes = weights read + KV cache read. Weights read = all weights (``memory.weights_bytes``) for a
  dense model; for a mixture of experts, the non-expert weights plus the expert weights times the
  expected share of experts the batch routes to, 1 - (1 - k/E)^batch (k experts per token out of E,
  routing assumed uniform and independent). KV read = ``memory.kv_cache_bytes(batch, context)``:
  every sequence reads the keys and values of its whole context. The new token's KV write (1/context
  of the read) and activations are ignored.
* FLOPs = batch x (2 x active matmul parameters + 4 x layers x query heads x head_dim x context).
  Active matmul parameters exclude the input-embedding table (a lookup, no arithmetic; when tied to
  the LM head it is counted once, as the head) and, for a mixture of experts, the experts a token
  does not use. The second term is attention (QK^T and AV, 2 FLOPs per multiply-add); attention
  FLOPs ARE included.
* step time = max(bytes / (bandwidth x ``achievable_bandwidth_fraction``),
  FLOPs / (peak x ``achievable_tflops_fraction``)) + ``decode_step_overhead_ms``.
* tokens/s = batch / step time (all sequences together); per sequence = 1 / step time.
* The math runs at the activation precision: FP16 for fp16, int8 and int4 weights (weight-only
  quantization, as AWQ/GPTQ kernels dequantize to FP16), BF16 for bf16, FP8 for fp8 where the GPU has
  FP8 tensor cores (else FP16), FP32 on CUDA cores for fp32; FP16 with FP32 accumulate
  (``gpucompare.model.gemm``).
* A batch that does not fit on one GPU (weights + KV above the memory section's usable memory;
  ``memory.max_batch`` with ``Overheads.from_params(p)``) has no throughput: ``None``, shown as
  "does not fit", never a number.

Prefill of ``prompt`` tokens (per sequence): FLOPs = batch x (2 x active matmul parameters x prompt
+ 2 x layers x heads x head_dim x prompt^2) (causal attention), bytes = weights read + KV written;
same max(...) + overhead; tokens/s = batch x prompt / time.

A generation of ``output`` tokens after an ``input``-token prompt (for comparisons with published
benchmarks) = prefill (gives the first token) + one decode step per further token, each at its own
context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.core.guards import require_positive_int
from gpucompare.data import catalog
from gpucompare.data.interconnect import max_gpus_per_node
from gpucompare.model import gemm, interconnect, memory, tensor_parallel
from gpucompare.params import Params

#: Weight precision -> GEMM precision the math runs at (module docstring).
COMPUTE_PRECISION = {
    "fp32": "fp32",
    "bf16": "bf16",
    "fp16": "fp16",
    "fp8": "fp8",
    "int8": "fp16",
    "int4": "fp16",
}

# --- Per-model quantities --------------------------------------------------------------------


def expert_parameters(model: catalog.Model) -> int:
    """Parameters in the experts' MLPs: layers x E x 3 x hidden x intermediate (0 for dense)."""
    if model.kind != "moe":
        return 0
    return (
        model.num_hidden_layers
        * model.num_local_experts
        * 3
        * model.hidden_size
        * model.intermediate_size
    )


def active_matmul_parameters(model: catalog.Model) -> float:
    """Parameters multiplied per token: all, less the input-embedding table when untied, less the
    experts a token does not route to (1 - k/E of the expert parameters)."""
    n = model.parameters - (
        0 if model.tie_word_embeddings else model.vocab_size * model.hidden_size
    )
    if model.kind == "moe":
        n -= expert_parameters(model) * (1 - model.num_experts_per_tok / model.num_local_experts)
    return float(n)


def experts_touched_fraction(model: catalog.Model, tokens) -> np.ndarray | float:
    """Expected share of a layer's experts that ``tokens`` tokens route to: 1 - (1 - k/E)^tokens
    (1 for a dense model)."""
    if model.kind != "moe":
        return np.ones_like(np.asarray(tokens, dtype=float)) if np.ndim(tokens) else 1.0
    miss = 1 - model.num_experts_per_tok / model.num_local_experts
    return 1 - miss ** np.asarray(tokens, dtype=float)


def weights_read_bytes(model: catalog.Model, weights: str, tokens) -> np.ndarray | float:
    """Weight bytes a step over ``tokens`` tokens reads: all weights, less the experts no token
    routes to (expert bytes x (1 - touched fraction))."""
    full = memory.weights_bytes(model, weights)
    expert = expert_parameters(model) * memory.effective_bits(model, weights) / 8
    return full - expert * (1 - experts_touched_fraction(model, tokens))


def attention_flops_per_context_token(model: catalog.Model) -> float:
    """Decode attention FLOPs per token of context: 4 x layers x query heads x head_dim."""
    return 4.0 * model.num_hidden_layers * model.num_attention_heads * model.head_dim


def compute_peak_tflops(gpu_id: str, weights: str) -> float:
    """Dense peak (TFLOPS) of the precision the math runs at for ``weights`` (module docstring)."""
    catalog.weight_format(weights)
    prec = COMPUTE_PRECISION[weights]
    if prec == "fp8" and catalog.get_gpu(gpu_id).spec("fp8_tensor_tflops") is None:
        prec = "fp16"
    return gemm.peak_tflops(gpu_id, prec)


def step_seconds(bytes_, flops_, bandwidth_b_s, flops_s, overhead_s):
    """Roofline step time (s) = max(bytes / bandwidth, FLOPs / FLOP rate) + overhead; broadcasts."""
    return np.maximum(np.asarray(bytes_) / bandwidth_b_s, np.asarray(flops_) / flops_s) + overhead_s


def _ceilings(p: Params, gpu_id: str, weights: str) -> tuple[float, float]:
    """Achievable bandwidth (B/s) and FLOP rate (FLOP/s) of ``gpu_id`` for ``weights``."""
    bw = gemm.bandwidth_gb_s(gpu_id) * p.achievable_bandwidth_fraction * units.BYTES_PER_GB
    fl = compute_peak_tflops(gpu_id, weights) * p.achievable_tflops_fraction
    return bw, fl * units.FLOPS_PER_TFLOPS


# --- Decode ----------------------------------------------------------------------------------


def decode_step(
    p: Params, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> dict:
    """One decode step: bytes, FLOPs, memory and compute time, step time, tokens/s, bound, and
    whether the batch fits on one GPU (tokens/s and bound say "does not fit" when it does not)."""
    batch = require_positive_int("batch", batch)
    context_tokens = require_positive_int("context_tokens", context_tokens)
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    w_read = float(weights_read_bytes(model, weights, batch))
    kv_read = memory.kv_cache_bytes(model, kv, batch, context_tokens)
    flops_ = batch * (
        2 * active_matmul_parameters(model)
        + attention_flops_per_context_token(model) * context_tokens
    )
    bw, fl = _ceilings(p, gpu_id, weights)
    mem_s, comp_s = (w_read + kv_read) / bw, flops_ / fl
    step = max(mem_s, comp_s) + p.decode_step_overhead_ms / 1e3
    mb = memory.max_batch(model, weights, kv, context_tokens, gpu, memory.Overheads.from_params(p))
    fits = batch <= mb
    return {
        "weights_read_gb": w_read / units.BYTES_PER_GB,
        "kv_read_gb": kv_read / units.BYTES_PER_GB,
        "flops": flops_,
        "memory_ms": mem_s * 1e3,
        "compute_ms": comp_s * 1e3,
        "step_ms": step * 1e3,
        "fits_one_gpu": fits,
        "max_batch": mb,
        "tokens_per_s": batch / step if fits else None,
        "per_sequence_tokens_per_s": 1 / step if fits else None,
        "bound": ("memory" if mem_s >= comp_s else "compute") if fits else "does not fit",
        "bandwidth_bound_tokens_per_s": batch * bw / (w_read + kv_read),
    }


def decode_tokens_per_s(
    p: Params, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float | None:
    """Decode tokens/s of ``batch`` sequences at ``context_tokens`` on one ``gpu_id`` (all sequences
    together); None when the batch does not fit on one GPU. Public API of the cost section."""
    return decode_step(p, model_id, weights, kv, batch, context_tokens, gpu_id)["tokens_per_s"]


def decode_tokens_per_s_tp(
    p: Params,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    context_tokens: int,
    gpu_id: str,
    tp: int,
) -> float | None:
    """Decode tokens/s of ``batch`` sequences on a Megatron-style tensor-parallel group of ``tp``
    GPUs: each GPU reads 1/tp of the weights and its share of the KV cache and does 1/tp of the
    FLOPs (the single-GPU roofline above), and every layer adds two all-reduces of the batch's
    activations (batch x hidden x 2 bytes) over the GPUs' link (``interconnect.gpu_allreduce_time_us``).
    None when ``tp`` is not a valid degree for the model or node, or the batch does not fit."""
    if tp == 1:
        return decode_tokens_per_s(p, model_id, weights, kv, batch, context_tokens, gpu_id)
    batch = require_positive_int("batch", batch)
    context_tokens = require_positive_int("context_tokens", context_tokens)
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    if tp not in memory.valid_tp_degrees(model) or tp > max_gpus_per_node(gpu_id):
        return None
    ov = memory.Overheads.from_params(p)
    usable = memory.usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
    if memory.per_gpu_bytes(model, weights, kv, batch, context_tokens, tp) > usable:
        return None
    w_read = float(weights_read_bytes(model, weights, batch)) / tp
    kv_read = memory.kv_cache_bytes(model, kv, batch, context_tokens) * memory.kv_shard_fraction(
        model, tp
    )
    flops_ = (
        batch
        * (
            2 * active_matmul_parameters(model)
            + attention_flops_per_context_token(model) * context_tokens
        )
        / tp
    )
    bw, fl = _ceilings(p, gpu_id, weights)
    step_s = max((w_read + kv_read) / bw, flops_ / fl) + p.decode_step_overhead_ms / 1e3
    message = tensor_parallel.activation_allreduce_bytes(model, batch, 1)
    comm_s = (
        model.num_hidden_layers
        * tensor_parallel.ALLREDUCES_PER_LAYER
        * interconnect.gpu_allreduce_time_us(p, gpu_id, tp, message)
        / units.US_PER_S
    )
    return batch / (step_s + comm_s)


def bandwidth_bound_tokens_per_s(
    p: Params, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float:
    """The memory roof alone: batch x achievable bandwidth / (weights read + KV read) (tokens/s)."""
    return decode_step(p, model_id, weights, kv, batch, context_tokens, gpu_id)[
        "bandwidth_bound_tokens_per_s"
    ]


def hard_bound_tokens_per_s(
    model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float:
    """Physical decode ceiling: batch x datasheet bandwidth / (weights read + KV read), no overhead."""
    model = catalog.get_model(model_id)
    bytes_ = float(weights_read_bytes(model, weights, batch)) + memory.kv_cache_bytes(
        model, kv, batch, context_tokens
    )
    return batch * gemm.bandwidth_gb_s(gpu_id) * units.BYTES_PER_GB / bytes_


def decode_grid(
    p: Params,
    model_ids: list[str] | None = None,
    gpu_ids: list[str] | None = None,
    weights: list[str] = ("fp16",),
    kv: str = "fp16",
    batches: list[int] | None = None,
    contexts: list[int] | None = None,
) -> pd.DataFrame:
    """Decode tokens/s for every model x weight precision x GPU x context x batch (defaults: all
    catalog models and GPUs, ``p.decode_batch_sizes``, ``p.decode_context_tokens``), computed with
    numpy broadcasting in one pass; the same formulas as :func:`decode_step`. ``tokens_per_s`` is NaN
    where the batch does not fit on one GPU."""
    model_ids = list(model_ids) if model_ids is not None else catalog.model_ids()
    gpu_ids = list(gpu_ids) if gpu_ids is not None else catalog.gpu_ids()
    batches = list(batches) if batches is not None else list(p.decode_batch_sizes)
    contexts = list(contexts) if contexts is not None else [p.decode_context_tokens]
    for name, values in (("batches", batches), ("contexts", contexts)):
        for v in values:
            require_positive_int(name, v)
    models = [catalog.get_model(m) for m in model_ids]
    ov = memory.Overheads.from_params(p)
    bat = np.asarray(batches, dtype=float)
    ctx = np.asarray(contexts, dtype=float)
    # (M, P, B): weight bytes read per step; (M, P): all weight bytes (for the fit).
    w_full = np.array([[memory.weights_bytes(m, w) for w in weights] for m in models])
    w_read = np.array([[weights_read_bytes(m, w, bat) for w in weights] for m in models])
    kv_tok = np.array([memory.kv_bytes_per_token(m, kv) for m in models])
    flops_tok = np.array([2 * active_matmul_parameters(m) for m in models])
    attn_tok = np.array([attention_flops_per_context_token(m) for m in models])
    bw = np.array(
        [
            gemm.bandwidth_gb_s(g) * p.achievable_bandwidth_fraction * units.BYTES_PER_GB
            for g in gpu_ids
        ]
    )
    peak = np.array(
        [
            [
                compute_peak_tflops(g, w) * p.achievable_tflops_fraction * units.FLOPS_PER_TFLOPS
                for g in gpu_ids
            ]
            for w in weights
        ]
    )  # (P, G)
    usable = np.array(
        [
            memory.usable_bytes(
                catalog.get_gpu(g), ov.gpu_memory_utilization, ov.activation_reserve_gib
            )
            for g in gpu_ids
        ]
    )
    # Broadcast to (M, P, G, C, B).
    kv_read = kv_tok[:, None, None, None, None] * ctx[None, None, None, :, None] * bat
    bytes_ = w_read[:, :, None, None, :] + kv_read
    flops_ = bat * (
        flops_tok[:, None, None, None, None]
        + attn_tok[:, None, None, None, None] * ctx[None, None, None, :, None]
    )
    mem_s = bytes_ / bw[None, None, :, None, None]
    comp_s = flops_ / peak[None, :, :, None, None]
    step = np.maximum(mem_s, comp_s) + p.decode_step_overhead_ms / 1e3
    fits = w_full[:, :, None, None, None] + kv_read <= usable[None, None, :, None, None]
    tps = np.where(fits, bat / step, np.nan)
    bound = np.where(fits, np.where(mem_s >= comp_s, "memory", "compute"), "does not fit")
    idx = pd.MultiIndex.from_product(
        [model_ids, list(weights), gpu_ids, contexts, batches],
        names=["model", "weights", "gpu", "context_tokens", "batch"],
    )
    return pd.DataFrame(
        {
            "tokens_per_s": tps.ravel(),
            "step_ms": step.ravel() * 1e3,
            "bound": bound.ravel(),
            "fits_one_gpu": fits.ravel(),
        },
        index=idx,
    )


# --- Prefill and whole generations -----------------------------------------------------------


def prefill_seconds(
    p: Params, model_id: str, weights: str, kv: str, batch: int, prompt_tokens: int, gpu_id: str
) -> tuple[float, str]:
    """Prefill time (s) of ``batch`` prompts of ``prompt_tokens`` and its bound (module docstring)."""
    batch = require_positive_int("batch", batch)
    prompt_tokens = require_positive_int("prompt_tokens", prompt_tokens)
    model = catalog.get_model(model_id)
    flops_ = batch * (
        2 * active_matmul_parameters(model) * prompt_tokens
        + 2
        * model.num_hidden_layers
        * model.num_attention_heads
        * model.head_dim
        * prompt_tokens**2
    )
    bytes_ = float(
        weights_read_bytes(model, weights, batch * prompt_tokens)
    ) + memory.kv_cache_bytes(model, kv, batch, prompt_tokens)
    bw, fl = _ceilings(p, gpu_id, weights)
    mem_s, comp_s = bytes_ / bw, flops_ / fl
    return max(mem_s, comp_s) + p.decode_step_overhead_ms / 1e3, (
        "memory" if mem_s >= comp_s else "compute"
    )


def prefill_tokens_per_s(
    p: Params, model_id: str, weights: str, kv: str, batch: int, prompt_tokens: int, gpu_id: str
) -> float | None:
    """Prompt tokens processed per second (batch x prompt / prefill time); None if it does not fit."""
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    if batch > memory.max_batch(
        model, weights, kv, prompt_tokens, gpu, memory.Overheads.from_params(p)
    ):
        return None
    t, _ = prefill_seconds(p, model_id, weights, kv, batch, prompt_tokens, gpu_id)
    return batch * prompt_tokens / t


def generation_tokens_per_s(
    p: Params,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    gpu_id: str,
    include_prefill: bool = True,
) -> float:
    """Model throughput of a whole generation (all sequences): ``batch x output / (prefill + decode
    steps at contexts input+1 .. input+output-1)`` with the prefill, or ``batch / mean decode step``
    without it. Speed only: the memory fit is reported separately (:func:`generation_fits`)."""
    batch = require_positive_int("batch", batch)
    input_tokens = require_positive_int("input_tokens", input_tokens)
    output_tokens = require_positive_int("output_tokens", output_tokens)
    model = catalog.get_model(model_id)
    bw, fl = _ceilings(p, gpu_id, weights)
    ctx = input_tokens + np.arange(1, max(output_tokens, 2), dtype=float)
    bytes_ = (
        float(weights_read_bytes(model, weights, batch))
        + memory.kv_bytes_per_token(model, kv) * batch * ctx
    )
    flops_ = batch * (
        2 * active_matmul_parameters(model) + attention_flops_per_context_token(model) * ctx
    )
    steps = step_seconds(bytes_, flops_, bw, fl, p.decode_step_overhead_ms / 1e3)
    if not include_prefill:
        return batch / float(steps.mean())
    prefill, _ = prefill_seconds(p, model_id, weights, kv, batch, input_tokens, gpu_id)
    decode = float(steps[: output_tokens - 1].sum())
    return batch * output_tokens / (prefill + decode)


def generation_fits(
    p: Params,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    gpu_id: str,
) -> bool:
    """Whether ``batch`` sequences of ``input + output`` tokens fit on one GPU with the memory
    section's overheads."""
    return batch <= memory.max_batch(
        catalog.get_model(model_id),
        weights,
        kv,
        input_tokens + output_tokens,
        catalog.get_gpu(gpu_id),
        memory.Overheads.from_params(p),
    )
