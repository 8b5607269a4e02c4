"""LLM inference memory: weights, KV cache, overheads, fit, max batch/context and GPUs needed.

Formulas (bytes; GB = 1e9 bytes, GiB = 2**30 bytes):

* weights = (N - E) x b_eff / 8 + E x b_emb / 8, with N the exact parameter count, E the
  embedding and LM-head parameters (vocab x hidden, once if tied), b_eff = bits +
  (scale_bits + zero_bits) / group_size the effective bits of a quantized weight
  (``data/precisions.yaml``) and b_emb the bits of the embeddings, which quantized
  checkpoints keep in 16 bit.
* KV cache per token = 2 (K and V) x layers x KV heads x head_dim x bits / 8 (GQA/MQA use the
  config's ``num_key_value_heads``; Mixtral's experts share one attention, so its KV is that
  of a dense model of the same attention config). KV cache = per token x batch x context.
* per GPU under tensor parallelism of degree t: weights / t, KV x ceil(KV heads / t) / KV heads
  (heads are replicated when t exceeds them), plus the activation reserve.
* usable memory per GPU = capacity (GiB x 2**30) x gpu_memory_utilization - activation reserve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.sections.figures import colour, new_row

#: Tensor-parallel degrees considered within one node.
TP_DEGREES = (1, 2, 4, 8)


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"{name}: must be a positive number (got {value!r})")


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


def kv_bytes_per_token(model: catalog.Model, kv_precision: str) -> float:
    """KV-cache bytes per token: 2 x layers x KV heads x head_dim x bits / 8."""
    bits = catalog.kv_format(kv_precision).bits
    return 2 * model.num_hidden_layers * model.num_key_value_heads * model.head_dim * bits / 8


def kv_cache_bytes(
    model: catalog.Model, kv_precision: str, batch: int, context_tokens: int
) -> float:
    """KV-cache bytes for ``batch`` sequences of ``context_tokens`` tokens each."""
    _check_positive("batch", batch)
    _check_positive("context_tokens", context_tokens)
    return kv_bytes_per_token(model, kv_precision) * batch * context_tokens


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
    def from_params(cls, p) -> Overheads:
        return cls(p.gpu_memory_utilization, p.activation_reserve_gib)


def valid_tp_degrees(model: catalog.Model, max_gpus: int = TP_DEGREES[-1]) -> list[int]:
    """Tensor-parallel degrees that divide the attention heads (as vLLM and Megatron require)."""
    return [t for t in TP_DEGREES if t <= max_gpus and model.num_attention_heads % t == 0]


def per_gpu_bytes(
    model, weights: str, kv: str, batch: int, context_tokens: int, tp: int = 1
) -> float:
    """Weights and KV bytes each GPU holds at tensor-parallel degree ``tp`` (reserve excluded)."""
    return weights_bytes(model, weights) / tp + kv_cache_bytes(
        model, kv, batch, context_tokens
    ) * kv_shard_fraction(model, tp)


def max_batch(
    model, weights: str, kv: str, context_tokens: int, gpu, ov: Overheads, tp: int = 1
) -> int:
    """Largest batch whose weights + KV fit the usable memory of each of ``tp`` GPUs (0 if none)."""
    room = (
        usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
        - weights_bytes(model, weights) / tp
    )
    per_seq = kv_cache_bytes(model, kv, 1, context_tokens) * kv_shard_fraction(model, tp)
    return max(0, math.floor(room / per_seq))


def max_context(model, weights: str, kv: str, batch: int, gpu, ov: Overheads, tp: int = 1) -> int:
    """Longest context (tokens) at which ``batch`` sequences fit each of ``tp`` GPUs (0 if none).
    Not capped by the model's own limit (``max_position_embeddings``); tables show both."""
    room = (
        usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
        - weights_bytes(model, weights) / tp
    )
    per_token = kv_cache_bytes(model, kv, batch, 1) * kv_shard_fraction(model, tp)
    return max(0, math.floor(room / per_token))


def gpus_needed(
    model, weights: str, kv: str, batch: int, context_tokens: int, gpu, ov: Overheads
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
    models = [catalog.get_model(m) for m in model_ids]
    gpus = [catalog.get_gpu(g) for g in gpu_ids]
    w = np.array([[weights_bytes(m, p) for p in precisions] for m in models])  # (M, P)
    kv_tok = np.array([kv_bytes_per_token(m, kv) for m in models])  # (M,)
    usable = np.array(
        [usable_bytes(g, ov.gpu_memory_utilization, ov.activation_reserve_gib) for g in gpus]
    )  # (G,)
    ctx = np.asarray(contexts, dtype=float)
    bat = np.asarray(batches, dtype=float)
    # Shapes broadcast to (M, P, G, C, B).
    W = w[:, :, None, None, None]
    K = (
        kv_tok[:, None, None, None, None]
        * ctx[None, None, None, :, None]
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


# --- Tables and figures for the notebook -------------------------------------------------------


def workload_table(p) -> pd.DataFrame:
    """The parameters' workloads: weights, KV cache and total (GB); per GPU the GPUs needed, and on
    one GPU the max batch at the workload's context and the max context at its batch."""
    ov = Overheads.from_params(p)
    rows = []
    for wl in p.workloads:
        r = requirement(
            wl.model, wl.weights, wl.kv_cache, wl.batch_size, wl.context_tokens, p.gpus, ov
        )
        row = {
            "workload": wl.name,
            "weights_gb": r["weights_gb"],
            "kv_cache_gb": r["kv_cache_gb"],
            "total_gb": r["total_gb"],
        }
        for g in r["gpus"]:
            row[f"{g['gpu']} gpus_needed"] = g["gpus_needed"]
            row[f"{g['gpu']} max_batch"] = g["max_batch"]
            row[f"{g['gpu']} max_context_tokens"] = g["max_context_tokens"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("workload").astype(object).replace({np.nan: None})


def workload_caption(p) -> str:
    """One sentence counting the workloads that fit on one of each GPU."""
    t = workload_table(p)
    parts = [f"{int((t[f'{g} gpus_needed'] == 1).sum())} of {len(t)} fit one {g}" for g in p.gpus]
    return "Of the parameters' workloads, " + "; ".join(parts) + "."


def fit_matrix(p) -> pd.DataFrame:
    """GPUs needed (1, 2, 4, 8 or None) per model x weight precision (rows) and GPU (columns) at the
    parameters' context, batch and KV precision."""
    ov = Overheads.from_params(p)
    sweep = fit_sweep(
        [m for m in catalog.model_ids()],
        p.memory_weight_precisions,
        p.gpus,
        [p.memory_context_tokens],
        [p.memory_batch_size],
        p.memory_kv_cache,
        ov,
    )
    table = sweep["gpus_needed"].unstack("gpu").droplevel(["context_tokens", "batch"])[p.gpus]
    order = pd.MultiIndex.from_product(
        [catalog.model_ids(), p.memory_weight_precisions], names=["model", "weights"]
    )
    table = table.reindex(order).astype("Int64")
    return table.astype(object).where(table.notna(), None)


def fit_matrix_caption(p) -> str:
    """One sentence counting the (model, precision) pairs that fit on one of each GPU."""
    t = fit_matrix(p)
    parts = [f"{g}: {int((t[g] == 1).sum())} of {len(t)}" for g in p.gpus]
    return (
        f"Model-precision pairs that fit on a single GPU at {p.memory_context_tokens:,} tokens, batch "
        f"{p.memory_batch_size}, KV {p.memory_kv_cache}: {'; '.join(parts)}. Empty cells need more than 8 GPUs."
    )


def article_formula(
    params_b, dtype_bytes, n_layers, n_kv_heads, head_dim, max_seq_len, max_batch_size, **_
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
    model: str, weights: str, kv: str, max_seq_len: int, max_batch_size: int, **_
) -> dict:
    """The same workload with the catalog's exact configuration and the stated formats."""
    m = catalog.get_model(model)
    w = weights_bytes(m, weights) / units.BYTES_PER_GB
    k = kv_cache_bytes(m, kv, max_batch_size, max_seq_len) / units.BYTES_PER_GB
    return {"weights_gb": w, "kv_gb": k, "total_gb": w + k}


def article_memory_table() -> pd.DataFrame:
    """Each memory figure the article prints, its own formula with its own inputs, and the exact value."""
    from gpucompare.data import claims

    rows = []
    for c in claims.claims(kind="memory"):
        q = c.check["quantity"]
        own = article_formula(**c.check)[q]
        exact = exact_memory(**c.check)[q]
        rows.append(
            {
                "claim": c.id,
                "article (GB)": c.value,
                "article's formula, its inputs (GB)": own,
                "exact config and formats (GB)": exact,
                "article / own formula": c.value / own,
                "article / exact": c.value / exact,
            }
        )
    return pd.DataFrame(rows).set_index("claim")


def article_memory_caption() -> str:
    """One sentence naming the claims that their own formula contradicts by more than 5%."""
    t = article_memory_table()
    off = t[(t["article / own formula"] - 1).abs() > 0.05]
    worst = off["article / own formula"].min() if len(off) else 1.0
    return (
        f"{len(off)} of the article's {len(t)} memory figures disagree with its own formula by more than 5% "
        f"(worst: {worst:.2f}x of what the formula gives); the KV cache of the multi-head 7B model is "
        "understated and that of the grouped-query 70B model overstated."
    )


def max_batch_table(p) -> pd.DataFrame:
    """Max batch on one GPU per model (weights at fp16 and int4, KV at the parameters' precision) and context."""
    ov = Overheads.from_params(p)
    rows = []
    for gid in p.gpus:
        gpu = catalog.get_gpu(gid)
        for mid in catalog.model_ids():
            model = catalog.get_model(mid)
            for prec in ("fp16", "int4"):
                row = {"gpu": gid, "model": mid, "weights": prec}
                for ctx in p.sweep_context_tokens:
                    row[f"{ctx} tokens"] = max_batch(model, prec, p.memory_kv_cache, ctx, gpu, ov)
                rows.append(row)
    return pd.DataFrame(rows).set_index(["gpu", "model", "weights"])


def max_batch_figure(p, weights: str = "fp16"):
    """Max batch vs context (log-log) on one GPU, one panel per chosen GPU, one line per model."""
    ov = Overheads.from_params(p)
    gpus = [catalog.get_gpu(g) for g in p.gpus]
    fig, axes = new_row(
        f"Max concurrent sequences on one GPU (weights {weights}, KV {p.memory_kv_cache})",
        [g.name for g in gpus],
        "context (tokens per sequence)",
        "max batch (sequences)",
    )
    ctx = np.asarray(p.sweep_context_tokens)
    for ax, gpu in zip(axes, gpus, strict=True):
        for i, mid in enumerate(catalog.model_ids()):
            model = catalog.get_model(mid)
            mb = np.array(
                [max_batch(model, weights, p.memory_kv_cache, int(c), gpu, ov) for c in ctx],
                dtype=float,
            )
            mb[mb == 0] = np.nan  # does not fit: no point rather than a zero on a log axis
            if np.isfinite(mb).any():
                ax.loglog(ctx, mb, marker="o", markersize=3, color=colour(i), label=mid)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # no model fits at any context: say so rather than an empty legend
            ax.text(0.5, 0.5, "no model fits", ha="center", va="center", transform=ax.transAxes)
    return fig


def max_batch_caption(p, weights: str = "fp16") -> str:
    """One sentence: the max batch of the first workload's model at 4k-ish context on each GPU."""
    ov = Overheads.from_params(p)
    wl = p.workloads[0]
    model = catalog.get_model(wl.model)
    parts = [
        f"{g} {max_batch(model, weights, p.memory_kv_cache, wl.context_tokens, catalog.get_gpu(g), ov)}"
        for g in p.gpus
    ]
    return (
        f"At {wl.context_tokens:,} tokens, {wl.model} with {weights} weights serves at most: {', '.join(parts)} "
        "concurrent sequences; every doubling of context halves the batch once the weights are loaded."
    )


# --- Claims audit -----------------------------------------------------------------------------

#: Relative tolerance for a memory figure (the article rounds to 2-3 digits).
MEMORY_TOLERANCE = 0.05


def _check_memory(c):
    """A memory figure against the exact value (catalog configuration, stated formats); the
    explanation also gives what the article's own formula returns for its own inputs."""
    from gpucompare.audit import Finding, relative_verdict

    q = c.check["quantity"]
    exact = exact_memory(**c.check)[q]
    own = article_formula(**c.check)[q]
    verdict = relative_verdict(float(c.value), exact, MEMORY_TOLERANCE)
    consistent = relative_verdict(float(c.value), own, MEMORY_TOLERANCE) == "ok"
    why = f"exact: {exact:.2f} GB; the article's own formula with its inputs gives {own:.2f} GB"
    if not consistent:
        why += " (the printed figure does not follow from its own code)"
    return Finding(exact, verdict, why)


def _default_overheads() -> Overheads:
    from gpucompare import params

    return Overheads.from_params(params.make())


def _check_fits(c):
    """Does the workload fit one GPU, with the default usable memory (and, for the record, at 100%)?"""
    from gpucompare.audit import Finding

    k = c.check
    model, gpu = catalog.get_model(k["model"]), catalog.get_gpu(k["gpu"])
    ov = _default_overheads()
    need = per_gpu_bytes(model, k["weights"], k["kv"], k["batch"], k["context_tokens"])
    usable = usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
    capacity = gpu.spec("memory_gib") * units.BYTES_PER_GIB
    fits = need <= usable
    why = (
        f"needs {need / units.BYTES_PER_GB:.1f} GB; {gpu.name} has {usable / units.BYTES_PER_GB:.1f} GB usable "
        f"({ov.gpu_memory_utilization:.0%} of {capacity / units.BYTES_PER_GB:.1f} GB less {ov.activation_reserve_gib:g} GiB)"
    )
    if fits == bool(c.value):
        return Finding(fits, "ok", why)
    if bool(c.value) and need <= capacity:
        return Finding(
            fits, "misleading", why + ": it fits only with no memory left for the engine"
        )
    return Finding(fits, "wrong", why)


def _check_max_batch(c):
    """The largest batch at a context on one GPU, with the default usable memory."""
    from gpucompare.audit import Finding, relative_verdict

    k = c.check
    b = max_batch(
        catalog.get_model(k["model"]),
        k["weights"],
        k["kv"],
        k["context_tokens"],
        catalog.get_gpu(k["gpu"]),
        _default_overheads(),
    )
    verdict = relative_verdict(float(c.value), float(b), 0.10)
    return Finding(
        b,
        verdict,
        f"{b} sequences of {k['context_tokens']:,} tokens fit ({k['weights']} weights, {k['kv']} KV cache)",
    )


CLAIM_CHECKS = {"memory": _check_memory, "fits_one_gpu": _check_fits, "max_batch": _check_max_batch}
