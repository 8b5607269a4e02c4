"""LLM inference throughput on one GPU: a roofline model of decode and prefill, the article's
throughput figures against it, and published measurements against it.

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
  (``gpucompare.gemm``).
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

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gpucompare import gemm, memory
from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.sections.figures import colour, new_row

#: Columns of ``data/measurements/decode_public.csv``, in order.
DECODE_COLUMNS: tuple[str, ...] = (
    "id",
    "gpu_id",
    "model",
    "weights",
    "kv_cache",
    "batch",
    "input_tokens",
    "output_tokens",
    "includes_prefill",  # true: output tokens / (prefill + decode time); false: decode steps only
    "measured_tokens_per_s",  # all sequences together
    "engine",
    "software",
    "date",
    "source",
    "url",
    "verified",
    "note",
)
#: A throughput claim within this fraction of the model is "ok".
THROUGHPUT_TOLERANCE = 0.3
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


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise InputError(f"{name}: must be a positive integer (got {v!r})")
    return int(v)


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


def _ceilings(p, gpu_id: str, weights: str) -> tuple[float, float]:
    """Achievable bandwidth (B/s) and FLOP rate (FLOP/s) of ``gpu_id`` for ``weights``."""
    bw = gemm.bandwidth_gb_s(gpu_id) * p.achievable_bandwidth_fraction * units.BYTES_PER_GB
    fl = compute_peak_tflops(gpu_id, weights) * p.achievable_tflops_fraction
    return bw, fl * units.FLOPS_PER_TFLOPS


# --- Decode ----------------------------------------------------------------------------------


def decode_step(
    p, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> dict:
    """One decode step: bytes, FLOPs, memory and compute time, step time, tokens/s, bound, and
    whether the batch fits on one GPU (tokens/s and bound say "does not fit" when it does not)."""
    batch = _positive_int("batch", batch)
    context_tokens = _positive_int("context_tokens", context_tokens)
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
    p, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float | None:
    """Decode tokens/s of ``batch`` sequences at ``context_tokens`` on one ``gpu_id`` (all sequences
    together); None when the batch does not fit on one GPU. Public API of the cost section."""
    return decode_step(p, model_id, weights, kv, batch, context_tokens, gpu_id)["tokens_per_s"]


def decode_tokens_per_s_tp(
    p, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str, tp: int
) -> float | None:
    """Decode tokens/s of ``batch`` sequences on a Megatron-style tensor-parallel group of ``tp``
    GPUs: each GPU reads 1/tp of the weights and its share of the KV cache and does 1/tp of the
    FLOPs (the single-GPU roofline above), and every layer adds two all-reduces of the batch's
    activations (batch x hidden x 2 bytes) over the GPUs' link (``interconnect.gpu_allreduce_time_us``).
    None when ``tp`` is not a valid degree for the model or node, or the batch does not fit."""
    if tp == 1:
        return decode_tokens_per_s(p, model_id, weights, kv, batch, context_tokens, gpu_id)
    from gpucompare import interconnect  # imported here: interconnect reads the memory module too

    batch = _positive_int("batch", batch)
    context_tokens = _positive_int("context_tokens", context_tokens)
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    if tp not in memory.valid_tp_degrees(model) or tp > interconnect.max_gpus_per_node(gpu_id):
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
    message = interconnect.activation_allreduce_bytes(model, batch, 1)
    comm_s = (
        model.num_hidden_layers
        * interconnect.ALLREDUCES_PER_LAYER
        * interconnect.gpu_allreduce_time_us(p, gpu_id, tp, message)
        / units.US_PER_S
    )
    return batch / (step_s + comm_s)


def bandwidth_bound_tokens_per_s(
    p, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float:
    """The memory roof alone: batch x achievable bandwidth / (weights read + KV read) (tokens/s)."""
    return decode_step(p, model_id, weights, kv, batch, context_tokens, gpu_id)[
        "bandwidth_bound_tokens_per_s"
    ]


def decode_table(p) -> pd.DataFrame:
    """One row per workload (``p.workloads``) and GPU (``p.gpus``): bytes read, step time,
    tokens/s (None = does not fit on one GPU), per-sequence tokens/s, bound and max batch."""
    rows = []
    for wl in p.workloads:
        for gid in p.gpus:
            s = decode_step(
                p, wl.model, wl.weights, wl.kv_cache, wl.batch_size, wl.context_tokens, gid
            )
            rows.append(
                {
                    "workload": wl.name,
                    "gpu": gid,
                    "model": wl.model,
                    "weights": wl.weights,
                    "kv_cache": wl.kv_cache,
                    "batch": wl.batch_size,
                    "context_tokens": wl.context_tokens,
                    "weights_read_gb": s["weights_read_gb"],
                    "kv_read_gb": s["kv_read_gb"],
                    "step_ms": s["step_ms"] if s["fits_one_gpu"] else None,
                    "tokens_per_s": s["tokens_per_s"],
                    "per_sequence_tokens_per_s": s["per_sequence_tokens_per_s"],
                    "bound": s["bound"],
                    "max_batch": s["max_batch"],
                }
            )
    return _nones(pd.DataFrame(rows).set_index(["workload", "gpu"]))


def decode_caption(p) -> str:
    """One sentence: which workloads do not fit where, and the memory-bound share."""
    t = decode_table(p)
    nofit = [f"{w} on {g}" for (w, g), r in t.iterrows() if r["bound"] == "does not fit"]
    mem = int((t["bound"] == "memory").sum())
    fit = int((t["bound"] != "does not fit").sum())
    return f"{mem} of the {fit} workload-GPU pairs that fit are bandwidth-bound; " + (
        f"does not fit on one GPU: {', '.join(nofit)}." if nofit else "every workload fits."
    )


def _nones(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None (shown as "—", "does not fit") where a value is missing."""
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def _unique_configs(p) -> list[tuple[str, str, str]]:
    out = []
    for wl in p.workloads:
        key = (wl.model, wl.weights, wl.kv_cache)
        if key not in out:
            out.append(key)
    return out


def decode_sweep_table(p) -> pd.DataFrame:
    """Decode tokens/s per (model, weights, KV) of the workloads and GPU (rows) and batch size
    (columns, ``p.decode_batch_sizes``) at ``p.decode_context_tokens``; None = does not fit."""
    rows = []
    for model_id, w, kv in _unique_configs(p):
        for gid in p.gpus:
            row = {"model": model_id, "weights": w, "kv_cache": kv, "gpu": gid}
            for b in p.decode_batch_sizes:
                row[f"batch {b}"] = decode_tokens_per_s(
                    p, model_id, w, kv, b, p.decode_context_tokens, gid
                )
            rows.append(row)
    return _nones(pd.DataFrame(rows).set_index(["model", "weights", "kv_cache", "gpu"]))


def decode_sweep_caption(p) -> str:
    """One sentence: the best tokens/s per GPU in the sweep and how many cells do not fit."""
    t = decode_sweep_table(p)
    parts = []
    for gid in p.gpus:
        sub = t.xs(gid, level="gpu").astype(float)
        best = np.nanmax(sub.to_numpy()) if sub.notna().to_numpy().any() else None
        parts.append(f"{gid} {best:,.0f}" if best is not None else f"{gid} none fit")
    missing = int(t.isna().to_numpy().sum())
    return (
        f"At {p.decode_context_tokens:,} tokens per sequence the highest decode throughput is "
        + ", ".join(parts)
        + f" tokens/s; {missing} of {t.size} cells (—) do not fit on one GPU."
    )


def decode_figure(p):
    """Decode tokens/s against batch (log-log), one panel per GPU, one line per (model, weights);
    batches that do not fit on one GPU are left out (no point)."""
    gpus = [catalog.get_gpu(g) for g in p.gpus]
    fig, axes = new_row(
        f"Decode throughput at {p.decode_context_tokens:,} tokens per sequence",
        [g.name for g in gpus],
        "batch (concurrent sequences)",
        "decode throughput (tokens/s, all sequences)",
    )
    t = decode_sweep_table(p)
    batches = np.asarray(p.decode_batch_sizes, dtype=float)
    for ax, gpu in zip(axes, gpus, strict=True):
        for i, (model_id, w, kv) in enumerate(_unique_configs(p)):
            y = np.array(
                [np.nan if v is None else v for v in t.loc[(model_id, w, kv, gpu.id)]],
                dtype=float,
            )
            if np.isfinite(y).any():
                ax.plot(
                    batches, y, marker="o", markersize=3, color=colour(i), label=f"{model_id} {w}"
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [f"{int(b)}" for b in batches])
        ax.minorticks_off()
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # no workload fits this GPU at any batch: say so rather than an empty legend
            ax.text(
                0.5, 0.5, "does not fit one GPU", ha="center", va="center", transform=ax.transAxes
            )
    return fig


# --- Vectorized grid ---------------------------------------------------------------------------


def decode_grid(
    p,
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
            _positive_int(name, v)
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


# --- Prefill -----------------------------------------------------------------------------------


def prefill_seconds(
    p, model_id: str, weights: str, kv: str, batch: int, prompt_tokens: int, gpu_id: str
) -> tuple[float, str]:
    """Prefill time (s) of ``batch`` prompts of ``prompt_tokens`` and its bound (module docstring)."""
    batch = _positive_int("batch", batch)
    prompt_tokens = _positive_int("prompt_tokens", prompt_tokens)
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
    p, model_id: str, weights: str, kv: str, batch: int, prompt_tokens: int, gpu_id: str
) -> float | None:
    """Prompt tokens processed per second (batch x prompt / prefill time); None if it does not fit."""
    model, gpu = catalog.get_model(model_id), catalog.get_gpu(gpu_id)
    if batch > memory.max_batch(
        model, weights, kv, prompt_tokens, gpu, memory.Overheads.from_params(p)
    ):
        return None
    t, _ = prefill_seconds(p, model_id, weights, kv, batch, prompt_tokens, gpu_id)
    return batch * prompt_tokens / t


def prefill_table(p) -> pd.DataFrame:
    """Per (model, weights, KV) of the workloads and GPU: one prompt of ``p.prefill_prompt_tokens``:
    time to first token (ms, queueing excluded), prompt tokens/s and bound; None = does not fit."""
    rows = []
    for model_id, w, kv in _unique_configs(p):
        for gid in p.gpus:
            tps = prefill_tokens_per_s(p, model_id, w, kv, 1, p.prefill_prompt_tokens, gid)
            t, bound = prefill_seconds(p, model_id, w, kv, 1, p.prefill_prompt_tokens, gid)
            rows.append(
                {
                    "model": model_id,
                    "weights": w,
                    "kv_cache": kv,
                    "gpu": gid,
                    "prompt_tokens": p.prefill_prompt_tokens,
                    "time_to_first_token_ms": t * 1e3 if tps is not None else None,
                    "prefill_tokens_per_s": tps,
                    "bound": bound if tps is not None else "does not fit",
                }
            )
    return _nones(pd.DataFrame(rows).set_index(["model", "weights", "kv_cache", "gpu"]))


def prefill_caption(p) -> str:
    """One sentence: prefill is compute-bound; the ratio of prompt to decode speed on the first GPU."""
    t = prefill_table(p)
    fit = t[t["bound"] != "does not fit"]
    comp = int((fit["bound"] == "compute").sum())
    return (
        f"{comp} of {len(fit)} prefill cases that fit are compute-bound at {p.prefill_prompt_tokens:,}-token "
        f"prompts: prompt tokens are processed {fit['prefill_tokens_per_s'].astype(float).min():,.0f} to "
        f"{fit['prefill_tokens_per_s'].astype(float).max():,.0f} per second, far faster than tokens are generated."
    )


# --- Whole generations and published measurements ----------------------------------------------


def generation_tokens_per_s(
    p,
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
    batch = _positive_int("batch", batch)
    input_tokens = _positive_int("input_tokens", input_tokens)
    output_tokens = _positive_int("output_tokens", output_tokens)
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
    p,
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


def public_measurements(path: Path | None = None) -> pd.DataFrame:
    """``data/measurements/decode_public.csv``, validated and typed (sorted by id)."""
    from gpucompare import measure

    path = Path(path) if path is not None else measure.measurements_dir() / "decode_public.csv"
    frame = measure.read_csv(path, DECODE_COLUMNS)
    rows = []
    for i, r in frame.iterrows():
        where = f"{path}: row {i + 2}"
        catalog.get_gpu(r["gpu_id"], f"{where}: gpu_id")
        catalog.get_model(r["model"], f"{where}: model")
        catalog.weight_format(r["weights"], f"{where}: weights")
        catalog.kv_format(r["kv_cache"], f"{where}: kv_cache")
        if r["includes_prefill"] not in ("true", "false") or r["verified"] not in ("true", "false"):
            raise InputError(f"{where}: includes_prefill and verified must be true or false")
        for col in ("id", "engine", "date", "source", "url"):
            if not r[col].strip():
                raise InputError(f"{where}: {col} is empty")
        row = dict(r)
        for col in ("batch", "input_tokens", "output_tokens"):
            try:
                row[col] = _positive_int(f"{where}: {col}", int(r[col]))
            except ValueError:
                raise InputError(f"{where}: {col}: not an integer: {r[col]!r}") from None
        try:
            row["measured_tokens_per_s"] = float(r["measured_tokens_per_s"])
        except ValueError:
            raise InputError(f"{where}: measured_tokens_per_s: not a number") from None
        if not (math.isfinite(row["measured_tokens_per_s"]) and row["measured_tokens_per_s"] > 0):
            raise InputError(f"{where}: measured_tokens_per_s: must be positive")
        row["includes_prefill"] = r["includes_prefill"] == "true"
        row["verified"] = r["verified"] == "true"
        rows.append(row)
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate ids")
    return pd.DataFrame(rows, columns=list(DECODE_COLUMNS)).sort_values("id").reset_index(drop=True)


def public_comparison_table(p) -> pd.DataFrame:
    """Each published measurement next to the model's figure for the same GPU, model, formats,
    batch and lengths, with the error (model / measured - 1, in %)."""
    rows = []
    for _, r in public_measurements().iterrows():
        args = (p, r["model"], r["weights"], r["kv_cache"], r["batch"], r["input_tokens"])
        model_tps = generation_tokens_per_s(
            *args, r["output_tokens"], r["gpu_id"], r["includes_prefill"]
        )
        rows.append(
            {
                "id": r["id"],
                "gpu": r["gpu_id"],
                "model": r["model"],
                "weights / kv": f"{r['weights']} / {r['kv_cache']}",
                "batch": r["batch"],
                "input / output tokens": f"{r['input_tokens']} / {r['output_tokens']}",
                "engine": r["engine"],
                "measured_tokens_per_s": r["measured_tokens_per_s"],
                "model_tokens_per_s": model_tps,
                "error_pct": (model_tps / r["measured_tokens_per_s"] - 1) * 100,
                "fits_with_memory_parameters": generation_fits(
                    *args, r["output_tokens"], r["gpu_id"]
                ),
            }
        )
    return pd.DataFrame(rows).set_index("id")


def public_comparison_caption(p) -> str:
    """One sentence: the median and range of the model's error against the published numbers."""
    t = public_comparison_table(p)
    err = t["error_pct"].astype(float)
    return (
        f"Against {len(t)} published measurements the model is off by {err.abs().median():.0f}% "
        f"(median absolute error; from {err.min():+.0f}% to {err.max():+.0f}%); it over-predicts "
        f"{int((err > 0).sum())} of them, as a roofline with optimistic ceilings should."
    )


def public_sources_table() -> pd.DataFrame:
    """The sources of the published decode measurements (one row per source URL)."""
    t = public_measurements()
    g = t.groupby(["source", "url"], sort=True)
    return pd.DataFrame(
        {
            "engine": g["engine"].first(),
            "date": g["date"].first(),
            "rows": g["id"].count(),
            "verified": g["verified"].all(),
        }
    )


def sources_table() -> pd.DataFrame:
    """Every source of this section's measurements: kernel measurements and published decode
    throughputs, one row per source (sorted)."""
    from gpucompare import measure

    rows = []
    k = measure.load_kernel_measurements()
    for (src, url), g in k.groupby(["source", "url"], sort=True):
        rows.append(
            {
                "source": src,
                "url": url or None,
                "used for": "GEMM and copy measurements (data/measurements/kernels.csv)",
                "date": ", ".join(sorted(set(g["date"]))),
                "rows": len(g),
            }
        )
    d = public_measurements()
    for (src, url), g in d.groupby(["source", "url"], sort=True):
        rows.append(
            {
                "source": src,
                "url": url,
                "used for": "published decode throughput (data/measurements/decode_public.csv)",
                "date": ", ".join(sorted(set(g["date"]))),
                "rows": len(g),
            }
        )
    return _nones(pd.DataFrame(rows).set_index("source"))


def audit_table() -> pd.DataFrame:
    """The audit of this section's claims (GEMM and throughput): article, recomputed value, verdict."""
    from gpucompare import audit

    t = pd.concat([audit.audit_table("gemm"), audit.audit_table("throughput")])
    return _nones(t[["seed_value", "computed_value", "unit", "verdict", "explanation"]])


def audit_caption() -> str:
    """One sentence counting the verdicts of this section's claims."""
    t = audit_table()
    counts = t["verdict"].value_counts()
    parts = [
        f"{int(counts[v])} {v}"
        for v in ("ok", "wrong", "misleading", "unverifiable")
        if v in counts
    ]
    return (
        f"Of the article's {len(t)} GEMM and throughput figures: {', '.join(parts)}; unverifiable means "
        "below the roofline with no measurement of that case to settle it."
    )


# --- The article's throughput figures ----------------------------------------------------------


def article_throughput_table(p) -> pd.DataFrame:
    """Each throughput figure of the article next to the model (None = does not fit on one GPU),
    the datasheet bandwidth bound (no overhead, full bandwidth), the fraction of that bound the
    article's figure implies, the bound and the longest context at which the batch fits."""
    from gpucompare.data import claims

    rows = []
    for c in claims.claims(kind="throughput"):
        chk = c.check
        args = (chk["model"], chk["weights"], chk["kv"], chk["batch"], chk["context_tokens"])
        s = decode_step(p, *args, chk["gpu"])
        hard = hard_bound_tokens_per_s(*args, chk["gpu"])
        rows.append(
            {
                "claim": c.id,
                "gpu": chk["gpu"],
                "workload": f"{chk['model']} {chk['weights']} batch {chk['batch']} x {chk['context_tokens']:,} tokens",
                "article_tokens_per_s": float(c.value),
                "model_tokens_per_s": s["tokens_per_s"],
                "datasheet_bandwidth_bound_tokens_per_s": hard,
                "article / bandwidth bound": float(c.value) / hard,
                "bound": s["bound"],
                "max_context_tokens_at_batch": memory.max_context(
                    catalog.get_model(chk["model"]),
                    chk["weights"],
                    chk["kv"],
                    chk["batch"],
                    catalog.get_gpu(chk["gpu"]),
                    memory.Overheads.from_params(p),
                ),
            }
        )
    return _nones(pd.DataFrame(rows).set_index("claim"))


def article_throughput_caption(p) -> str:
    """One sentence naming the article's figures that exceed the bandwidth bound or do not fit."""
    t = article_throughput_table(p)
    over = t.index[t["article / bandwidth bound"].astype(float) > 1].tolist()
    nofit = t.index[t["bound"] == "does not fit"].tolist()
    return (
        f"{len(over)} of the article's {len(t)} throughput figures exceed what the datasheet bandwidth "
        f"allows ({', '.join(over) or 'none'}) and {len(nofit)} are for batches that do not fit on one GPU "
        f"({', '.join(nofit) or 'none'})."
    )


def hard_bound_tokens_per_s(
    model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float:
    """Physical decode ceiling: batch x datasheet bandwidth / (weights read + KV read), no overhead."""
    model = catalog.get_model(model_id)
    bytes_ = float(weights_read_bytes(model, weights, batch)) + memory.kv_cache_bytes(
        model, kv, batch, context_tokens
    )
    return batch * gemm.bandwidth_gb_s(gpu_id) * units.BYTES_PER_GB / bytes_


def _check_throughput(c):
    """A decode tokens/s figure: wrong if the batch does not fit on one GPU or the figure exceeds
    the datasheet bandwidth bound; else against the model (default parameters) within
    ``THROUGHPUT_TOLERANCE``."""
    from gpucompare import params
    from gpucompare.audit import Finding, relative_verdict

    p = params.validate(params.defaults_dict())
    chk = c.check
    args = (chk["model"], chk["weights"], chk["kv"], chk["batch"], chk["context_tokens"])
    s = decode_step(p, *args, chk["gpu"])
    hard = hard_bound_tokens_per_s(*args, chk["gpu"])
    claimed = float(c.value)
    gpu = catalog.get_gpu(chk["gpu"])
    model = catalog.get_model(chk["model"])
    ov = memory.Overheads.from_params(p)
    what = f"{chk['model']} {chk['weights']}, batch {chk['batch']} x {chk['context_tokens']:,} tokens, on the {gpu.name}"
    if not s["fits_one_gpu"]:
        need = (
            memory.weights_bytes(model, chk["weights"])
            + memory.kv_cache_bytes(model, chk["kv"], chk["batch"], chk["context_tokens"])
        ) / units.BYTES_PER_GB
        usable = memory.usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
        longest = memory.max_context(model, chk["weights"], chk["kv"], chk["batch"], gpu, ov)
        return Finding(
            None,
            "wrong",
            f"{what} does not fit: {need:.1f} GB of weights and KV cache against {usable / units.BYTES_PER_GB:.1f} GB "
            f"usable (it fits up to {longest:,} tokens per sequence); even the bandwidth bound there is {hard:,.0f} tok/s",
        )
    if claimed > hard:
        zero_ctx = hard_bound_tokens_per_s(
            chk["model"], chk["weights"], chk["kv"], chk["batch"], 1, chk["gpu"]
        )
        return Finding(
            s["tokens_per_s"],
            "wrong",
            f"{claimed:g} tok/s exceeds the datasheet bandwidth bound of {hard:.1f} for {what} "
            f"({s['weights_read_gb']:.1f} GB of weights + {s['kv_read_gb']:.2f} GB of KV per step; "
            f"{zero_ctx:.1f} even with no context); the model gives {s['tokens_per_s']:.0f}",
        )
    return Finding(
        s["tokens_per_s"],
        relative_verdict(claimed, s["tokens_per_s"], THROUGHPUT_TOLERANCE),
        f"model {s['tokens_per_s']:.0f} tok/s ({s['bound']}-bound, step {s['step_ms']:.2f} ms) for {what}; "
        f"the article's {claimed:g} is {claimed / s['tokens_per_s']:.0%} of it and "
        f"{claimed / hard:.0%} of the datasheet bandwidth bound {hard:.0f}",
    )


CLAIM_CHECKS = {"throughput": _check_throughput}
