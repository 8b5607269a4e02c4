"""LLM inference memory: weights, KV cache, overheads, fit, max batch/context and GPUs needed.

Formulas (bytes; GB = 1e9 bytes, GiB = 2**30 bytes):

* weights = (N - E) x b_eff / 8 + E x b_emb / 8, with N the exact parameter count, E the
  embedding and LM-head parameters (vocab x hidden, once if tied), b_eff = bits +
  (scale_bits + zero_bits) / group_size the effective bits of a quantized weight
  (``data/precisions.yaml``) and b_emb the bits of the embeddings, which quantized
  checkpoints keep in 16 bit.
* KV cache per token = 2 (K and V) x layers x KV heads x head_dim x bits / 8 (GQA/MQA use the
  config's ``num_key_value_heads``; Mixtral's experts share one attention, so its KV is that
  of a dense model of the same attention config). KV cache = per token x batch x cached tokens,
  with cached tokens = min(context, sliding_window) for a sliding-window model (Mistral 7B v0.1:
  4,096; each layer attends to, and an engine keeps, only the last ``sliding_window`` tokens in a
  rolling buffer) and the whole context otherwise.
* per GPU under tensor parallelism of degree t: weights / t, KV x ceil(KV heads / t) / KV heads
  (heads are replicated when t exceeds them), plus the activation reserve.
* usable memory per GPU = capacity (GiB x 2**30) x gpu_memory_utilization - activation reserve.
* the article's formula (``model_memory_requirements``): weights = nominal parameters x dtype
  bytes, KV = 2 x layers x KV heads x head_dim x dtype bytes x context x batch, one dtype for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpucompare.core import units
from gpucompare.core.guards import require_positive
from gpucompare.data import catalog
from gpucompare.params import Params

if TYPE_CHECKING:
    import pandas as pd

#: Tensor-parallel degrees considered within one node.
TP_DEGREES = (1, 2, 4, 8)


def embedding_parameters(model: catalog.Model) -> int:
    """Token-embedding plus LM-head parameters: vocab x hidden, once if the two are tied."""
    return model.vocab_size * model.hidden_size * (1 if model.tie_word_embeddings else 2)


def effective_bits(model: catalog.Model, precision: str) -> float:
    """Bits per quantized weight, scales and zero points included (see the module docstring)."""
    fmt = catalog.weight_format(precision)
    group = fmt.group_size or model.hidden_size  # per-row scales: one per input row of hidden_size
    return fmt.bits + (fmt.scale_bits + fmt.zero_bits) / group


def weights_bytes(model: catalog.Model, precision: str) -> float:
    """Bytes of all weights at ``precision`` (embeddings and LM head at the format's embedding bits)."""
    fmt = catalog.weight_format(precision)
    emb = embedding_parameters(model)
    return (model.parameters - emb) * effective_bits(
        model, precision
    ) / 8 + emb * fmt.embeddings_bits / 8


def raw_weights_bytes(model: catalog.Model, bits: float) -> float:
    """Bytes of all weights at ``bits`` per weight, nothing else (no quantization scales, embeddings at
    the same bits): parameters x bits / 8, the article's own arithmetic for a bit width."""
    require_positive("bits", bits)
    return model.parameters * bits / units.BITS_PER_BYTE


def kv_bytes_per_token(model: catalog.Model, kv_precision: str) -> float:
    """KV-cache bytes per token: 2 x layers x KV heads x head_dim x bits / 8."""
    bits = catalog.kv_format(kv_precision).bits
    return 2 * model.num_hidden_layers * model.num_key_value_heads * model.head_dim * bits / 8


def kv_cached_tokens(model: catalog.Model, context_tokens):
    """Tokens per sequence the KV cache holds: min(context, ``sliding_window``) for a sliding-window
    model, the context otherwise; ``context_tokens`` may be a number or a numpy array."""
    if model.sliding_window is None:
        return context_tokens
    if isinstance(context_tokens, (int, float)):
        # The same value as numpy's, without loading numpy for `gpucompare memory`.
        return min(context_tokens, model.sliding_window)
    import numpy as np

    return np.minimum(context_tokens, model.sliding_window)


def kv_cache_bytes(
    model: catalog.Model, kv_precision: str, batch: int, context_tokens: int
) -> float:
    """KV-cache bytes for ``batch`` sequences of ``context_tokens`` tokens each (capped at the
    sliding window, :func:`kv_cached_tokens`)."""
    require_positive("batch", batch)
    require_positive("context_tokens", context_tokens)
    return kv_bytes_per_token(model, kv_precision) * batch * kv_cached_tokens(model, context_tokens)


def kv_shard_fraction(model: catalog.Model, tp: int) -> float:
    """Share of the KV cache each GPU holds at tensor-parallel degree ``tp`` (heads replicate past tp = KV heads)."""
    return math.ceil(model.num_key_value_heads / tp) / model.num_key_value_heads


def usable_bytes(
    gpu: catalog.Gpu, gpu_memory_utilization: float, activation_reserve_gib: float
) -> float:
    """Bytes per GPU available to weights and KV cache."""
    return (
        gpu.spec("memory_gib") * units.BYTES_PER_GIB * gpu_memory_utilization
        - activation_reserve_gib * units.BYTES_PER_GIB
    )


@dataclass(frozen=True)
class Overheads:
    """Per-GPU memory not available to weights and KV cache (parameters ``gpu_memory_utilization``
    and ``activation_reserve_gib``)."""

    gpu_memory_utilization: float
    activation_reserve_gib: float

    @classmethod
    def from_params(cls, p: Params) -> Overheads:
        return cls(p.gpu_memory_utilization, p.activation_reserve_gib)


def valid_tp_degrees(model: catalog.Model, max_gpus: int = TP_DEGREES[-1]) -> list[int]:
    """Tensor-parallel degrees that divide the attention heads (as vLLM and Megatron require)."""
    return [t for t in TP_DEGREES if t <= max_gpus and model.num_attention_heads % t == 0]


def per_gpu_bytes(
    model: catalog.Model, weights: str, kv: str, batch: int, context_tokens: int, tp: int = 1
) -> float:
    """Weights and KV bytes each GPU holds at tensor-parallel degree ``tp`` (reserve excluded)."""
    return weights_bytes(model, weights) / tp + kv_cache_bytes(
        model, kv, batch, context_tokens
    ) * kv_shard_fraction(model, tp)


def max_batch(
    model: catalog.Model,
    weights: str,
    kv: str,
    context_tokens: int,
    gpu: catalog.Gpu,
    ov: Overheads,
    tp: int = 1,
) -> int:
    """Largest batch whose weights + KV fit the usable memory of each of ``tp`` GPUs (0 if none)."""
    room = (
        usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
        - weights_bytes(model, weights) / tp
    )
    per_seq = kv_cache_bytes(model, kv, 1, context_tokens) * kv_shard_fraction(model, tp)
    return max(0, math.floor(room / per_seq))


def max_context(
    model: catalog.Model,
    weights: str,
    kv: str,
    batch: int,
    gpu: catalog.Gpu,
    ov: Overheads,
    tp: int = 1,
) -> int:
    """Longest context (tokens) at which ``batch`` sequences fit each of ``tp`` GPUs (0 if none).
    Not capped by the model's own limit (``max_position_embeddings``); tables show both. For a
    sliding-window model whose window fits, memory sets no limit: the model's own limit is returned."""
    room = (
        usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
        - weights_bytes(model, weights) / tp
    )
    per_token = kv_cache_bytes(model, kv, batch, 1) * kv_shard_fraction(model, tp)
    tokens = max(0, math.floor(room / per_token))
    if model.sliding_window is not None and tokens >= model.sliding_window:
        return model.max_position_embeddings
    return tokens


def max_weight_bits(
    model: catalog.Model,
    kv: str,
    batch: int,
    context_tokens: int,
    gpu: catalog.Gpu,
    ov: Overheads,
) -> float:
    """Most bits per weight at which the model, with the KV cache of ``batch`` sequences of
    ``context_tokens``, fits one GPU's usable memory: (usable - KV) x 8 / parameters (0 if the KV
    cache alone does not fit). Counts raw bits (:func:`raw_weights_bytes`)."""
    room = usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib) - kv_cache_bytes(
        model, kv, batch, context_tokens
    )
    return max(0.0, room * units.BITS_PER_BYTE / model.parameters)


def gpus_needed(
    model: catalog.Model,
    weights: str,
    kv: str,
    batch: int,
    context_tokens: int,
    gpu: catalog.Gpu,
    ov: Overheads,
) -> int | None:
    """Smallest tensor-parallel degree (1, 2, 4, 8 dividing the heads) at which the workload fits; None if none does."""
    usable = usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
    for tp in valid_tp_degrees(model):
        if per_gpu_bytes(model, weights, kv, batch, context_tokens, tp) <= usable:
            return tp
    return None


def requirement(
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    context_tokens: int,
    gpu_ids: list[str],
    ov: Overheads,
) -> dict:
    """One workload's memory in decimal GB and, per GPU, fit, headroom, max batch and GPUs needed
    (the ``gpucompare memory --json`` payload)."""
    model = catalog.get_model(model_id)
    w = weights_bytes(model, weights)
    k = kv_cache_bytes(model, kv, batch, context_tokens)
    out = {
        "model": model_id,
        "weights": weights,
        "kv_cache": kv,
        "batch": batch,
        "context_tokens": context_tokens,
        "weights_gb": w / units.BYTES_PER_GB,
        "kv_cache_gb": k / units.BYTES_PER_GB,
        "kv_cache_per_token_bytes": kv_bytes_per_token(model, kv),
        "total_gb": (w + k) / units.BYTES_PER_GB,
        "gpus": [],
    }
    for gid in gpu_ids:
        gpu = catalog.get_gpu(gid, "gpu")
        usable = usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
        out["gpus"].append(
            {
                "gpu": gid,
                "usable_gb": usable / units.BYTES_PER_GB,
                "fits": w + k <= usable,
                "headroom_gb": (usable - w - k) / units.BYTES_PER_GB,
                "max_batch": max_batch(model, weights, kv, context_tokens, gpu, ov),
                "max_context_tokens": max_context(model, weights, kv, batch, gpu, ov),
                "gpus_needed": gpus_needed(model, weights, kv, batch, context_tokens, gpu, ov),
            }
        )
    return out


# --- Vectorized sweep ------------------------------------------------------------------------


def fit_sweep(
    model_ids: list[str],
    precisions: list[str],
    gpu_ids: list[str],
    contexts: list[int],
    batches: list[int],
    kv: str,
    ov: Overheads,
) -> pd.DataFrame:
    """Every combination of model x weight precision x GPU x context x batch, vectorized with numpy:
    per-GPU bytes at TP 1, fit, and the GPUs needed (smallest TP degree in 1, 2, 4, 8 that fits)."""
    import numpy as np
    import pandas as pd

    models = [catalog.get_model(m) for m in model_ids]
    gpus = [catalog.get_gpu(g) for g in gpu_ids]
    w = np.array([[weights_bytes(m, p) for p in precisions] for m in models])  # (M, P)
    kv_tok = np.array([kv_bytes_per_token(m, kv) for m in models])  # (M,)
    usable = np.array(
        [usable_bytes(g, ov.gpu_memory_utilization, ov.activation_reserve_gib) for g in gpus]
    )  # (G,)
    ctx = np.asarray(contexts, dtype=float)
    cached = np.array([kv_cached_tokens(m, ctx) for m in models], dtype=float)  # (M, C)
    bat = np.asarray(batches, dtype=float)
    # Shapes broadcast to (M, P, G, C, B).
    W = w[:, :, None, None, None]
    K = (
        kv_tok[:, None, None, None, None]
        * cached[:, None, None, :, None]
        * bat[None, None, None, None, :]
    )
    U = usable[None, None, :, None, None]
    need = np.full(np.broadcast_shapes(W.shape, K.shape, U.shape), np.nan)
    for tp in reversed(TP_DEGREES):  # smallest fitting degree wins: write larger degrees first
        shard = np.array(
            [
                kv_shard_fraction(m, tp) if m.num_attention_heads % tp == 0 else np.inf
                for m in models
            ]
        )
        fits_tp = W / tp + K * shard[:, None, None, None, None] <= U
        need = np.where(fits_tp, tp, need)
    total = np.broadcast_to(W + K, need.shape)
    idx = pd.MultiIndex.from_product(
        [model_ids, precisions, gpu_ids, contexts, batches],
        names=["model", "weights", "gpu", "context_tokens", "batch"],
    )
    return pd.DataFrame(
        {
            "total_gb": total.ravel() / units.BYTES_PER_GB,
            "fits_one_gpu": (total <= np.broadcast_to(U, total.shape)).ravel(),
            "gpus_needed": need.ravel(),
        },
        index=idx,
    )


# --- The article's formula against the exact one ------------------------------------------------


def article_formula(
    params_b: float,
    dtype_bytes: float,
    n_layers: int,
    n_kv_heads: int,
    head_dim: int,
    max_seq_len: int,
    max_batch_size: int,
    **_: object,
) -> dict:
    """The article's ``model_memory_requirements`` as written (GB = 1e9 bytes; one dtype for
    weights and KV; nominal parameter count)."""
    weight_gb = params_b * 1e9 * dtype_bytes / units.BYTES_PER_GB
    kv_gb = (
        2
        * n_layers
        * n_kv_heads
        * head_dim
        * dtype_bytes
        * max_seq_len
        * max_batch_size
        / units.BYTES_PER_GB
    )
    return {"weights_gb": weight_gb, "kv_gb": kv_gb, "total_gb": weight_gb + kv_gb}


def exact_memory(
    model: str, weights: str, kv: str, max_seq_len: int, max_batch_size: int, **_: object
) -> dict:
    """The same workload with the catalog's exact configuration and the stated formats (GB)."""
    m = catalog.get_model(model)
    w = weights_bytes(m, weights) / units.BYTES_PER_GB
    k = kv_cache_bytes(m, kv, max_batch_size, max_seq_len) / units.BYTES_PER_GB
    return {"weights_gb": w, "kv_gb": k, "total_gb": w + k}
