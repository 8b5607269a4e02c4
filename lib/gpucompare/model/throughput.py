"""LLM inference throughput of a serving engine on one GPU or a group of GPUs: the work of each
step (:mod:`gpucompare.model.work`) at the engine's fitted rates (:mod:`gpucompare.model.calibration`).

* Decode step = max(bytes / (bandwidth x eta_bw), matmul FLOPs / (ceiling x matmul share) + attention
  FLOPs / (ceiling x eta_attn)) + overhead + split communication; tokens/s = batch / step (all
  sequences together), per sequence = 1 / step. ``bound`` names the largest term: memory, compute
  or overhead (overhead + communication).
* The engine is the parameter ``engine`` (default: ``data/engines.yaml``'s ``default``); over
  ``gpus`` GPUs the model is split the way the engine splits it (tensor parallelism, or whole layers
  per GPU as llama.cpp does).
* A configuration that does not fit (weights + KV cache above the memory section's usable memory on
  any GPU; ``memory.max_batch`` with ``Overheads.from_params(p)``), or that the GPU or the engine
  cannot run (FP8 without FP8 tensor cores; a format the engine does not support), has no
  throughput: ``None``, shown as such, never a number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.core.guards import require_positive_int
from gpucompare.data import catalog, engines
from gpucompare.model import calibration, gemm, memory, work
from gpucompare.params import Params

if TYPE_CHECKING:
    import pandas as pd

#: Physics of a step, re-exported for the sections and the audit.
active_matmul_parameters = work.active_matmul_parameters
weights_read_bytes = work.weights_read_bytes
attention_flops_per_context_token = work.attention_flops_per_context_token
compute_ceiling_tflops = work.compute_ceiling_tflops


def engine_of(p: Params, engine: str | None = None) -> str:
    """The engine asked for, else the parameter ``engine``."""
    return engines.get_engine(engine or p.engine).id


def case(
    p: Params,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    gpu_id: str,
    *,
    engine: str | None = None,
    gpus: int = 1,
    metric: str = "decode",
) -> work.Case:
    """A :class:`gpucompare.model.work.Case` with the engine's split for ``gpus`` GPUs."""
    eng = engine_of(p, engine)
    catalog.get_model(model_id)
    catalog.get_gpu(gpu_id, "gpu")
    require_positive_int("gpus", gpus)
    return work.Case(
        engine=eng,
        model=model_id,
        weights=weights,
        kv=kv,
        gpu=gpu_id,
        batch=require_positive_int("batch", batch),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        metric=metric,
        gpus=gpus,
        split=work.engine_split(eng, gpus),
    )


def rates(p: Params, engine_id: str, gpu_id: str) -> work.Rates:
    """The engine's fitted rates on ``gpu_id`` (scalars)."""
    r = calibration.base_fit().pair_rates(engine_id, gpu_id)
    return work.Rates(*(float(np.asarray(v)[0]) for v in vars(r).values()))


def unsupported(p: Params, c: work.Case) -> str | None:
    """Why the case cannot run: the engine does not run on the GPU's vendor (TensorRT-LLM on an AMD
    GPU), the GPU lacks the format's math, or the engine does not run the format."""
    vendor = catalog.get_gpu(c.gpu).vendor
    if not engines.runs_on(c.engine, vendor):
        return f"{engines.get_engine(c.engine).name} does not run on {vendor} GPUs ({c.gpu})"
    reason = work.unsupported_reason(c.gpu, c.weights)
    if reason:
        return reason
    if not engines.runs(c.engine, c.weights, c.kv):
        return f"{engines.get_engine(c.engine).name} does not run {c.weights} weights with a {c.kv} KV cache"
    return None


def max_batch(p: Params, c: work.Case, context_tokens: int) -> int:
    """Largest batch whose weights and KV cache fit on every GPU of the case (0: the weights alone
    do not fit); a layer split holds 1/gpus of the layers per GPU, like tensor parallelism."""
    model, gpu = catalog.get_model(c.model), catalog.get_gpu(c.gpu)
    ov = memory.Overheads.from_params(p)
    if c.gpus == 1:
        return memory.max_batch(model, c.weights, c.kv, context_tokens, gpu, ov)
    usable = memory.usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
    share = memory.kv_shard_fraction(model, c.gpus) if c.split == "tensor" else 1 / c.gpus
    free = usable - memory.weights_bytes(model, c.weights) / c.gpus
    per_seq = memory.kv_cache_bytes(model, c.kv, 1, context_tokens) * share
    return max(int(free // per_seq), 0) if free > 0 else 0


def decode_step(
    p: Params,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    context_tokens: int,
    gpu_id: str,
    *,
    engine: str | None = None,
    gpus: int = 1,
) -> dict:
    """One decode step of ``batch`` sequences at ``context_tokens``: bytes, FLOPs, the memory,
    compute and overhead times (``overhead_ms`` includes ``link_ms``, the split's communication), step time, tokens/s, bound, and whether it fits.
    ``tokens_per_s`` is None (``bound`` says why) when it does not fit or cannot run."""
    context_tokens = require_positive_int("context_tokens", context_tokens)
    c = case(
        p, model_id, weights, kv, batch, context_tokens - 1, 1, gpu_id, engine=engine, gpus=gpus
    )
    model = catalog.get_model(model_id)
    reason = unsupported(p, c)
    mb = max_batch(p, c, context_tokens)
    out = {
        "engine": c.engine,
        "gpus": gpus,
        "split": c.split,
        "weights_read_gb": float(weights_read_bytes(model, weights, batch)) / units.BYTES_PER_GB,
        "kv_read_gb": memory.kv_cache_bytes(model, kv, batch, context_tokens) / units.BYTES_PER_GB,
        "max_batch": mb,
        "fits": batch <= mb,
        "unsupported": reason,
    }
    if reason:
        return {
            **out,
            "tokens_per_s": None,
            "per_sequence_tokens_per_s": None,
            "bound": "unsupported",
        }
    w, r = work.work(p, c), rates(p, c.engine, gpu_id)
    ctx = min(context_tokens, w.window)
    mem_s = (w.wb + w.kb * ctx) / (w.bw * r.eta_bw)
    share = float(work.matmul_share(vars(w), r))
    comp_s = w.f0 / (w.ceiling * share) + w.f1 * ctx / (w.ceiling * r.eta_attn)
    comm_s = w.comm_decode_s * r.comm_scale
    over_s = work.overhead_s(vars(w), r) + comm_s
    step = max(mem_s, comp_s) + over_s
    bound = max((mem_s, "memory"), (comp_s, "compute"), (over_s, "overhead"))[1]
    fits = out["fits"]
    return {
        **out,
        "flops": (w.f0 + w.f1 * ctx) * (gpus if c.split == "tensor" else 1),
        "memory_ms": mem_s * 1e3,
        "compute_ms": comp_s * 1e3,
        "overhead_ms": over_s * 1e3,
        "link_ms": comm_s * 1e3,
        "step_ms": step * 1e3,
        "tokens_per_s": batch / step if fits else None,
        "per_sequence_tokens_per_s": 1 / step if fits else None,
        "bound": bound if fits else "does not fit",
    }


def decode_tokens_per_s(
    p: Params, model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float | None:
    """Decode tokens/s of ``batch`` sequences at ``context_tokens`` on one ``gpu_id`` with the
    parameter ``engine`` (all sequences together); None when it does not fit or cannot run."""
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
    """Decode tokens/s on ``tp`` GPUs split the way the parameter ``engine`` splits a model; None
    when the group does not fit one node, the split is impossible, or the batch does not fit."""
    try:
        s = decode_step(p, model_id, weights, kv, batch, context_tokens, gpu_id, gpus=tp)
    except InputError:
        if tp == 1:
            raise
        return None
    return s["tokens_per_s"]


def hard_bound_tokens_per_s(
    model_id: str, weights: str, kv: str, batch: int, context_tokens: int, gpu_id: str
) -> float:
    """Physical decode ceiling: batch x datasheet bandwidth / (weights read + KV read), no overhead."""
    model = catalog.get_model(model_id)
    ctx = min(context_tokens, work.attention_window(model))
    bytes_ = (
        float(weights_read_bytes(model, weights, batch))
        + memory.kv_bytes_per_token(model, kv) * batch * ctx
    )
    return batch * gemm.bandwidth_gb_s(gpu_id) * units.BYTES_PER_GB / bytes_


def _predict_one(p: Params, c: work.Case) -> float:
    w = work.stack([work.work(p, c)])
    cols = {
        "batch": [c.batch],
        "input_tokens": [c.input_tokens],
        "output_tokens": [c.output_tokens],
        "metric": [c.metric],
    }
    rates = calibration.base_fit().pair_rates(c.engine, c.gpu)
    return float(work.predict(w, cols, rates)[0])


def prefill_tokens_per_s(
    p: Params,
    model_id: str,
    weights: str,
    kv: str,
    batch: int,
    prompt_tokens: int,
    gpu_id: str,
    *,
    engine: str | None = None,
    gpus: int = 1,
) -> float | None:
    """Prompt tokens processed per second (batch x prompt / prefill time); None if it does not fit
    or cannot run."""
    prompt_tokens = require_positive_int("prompt_tokens", prompt_tokens)
    c = case(
        p,
        model_id,
        weights,
        kv,
        batch,
        prompt_tokens,
        0,
        gpu_id,
        engine=engine,
        gpus=gpus,
        metric="prefill",
    )
    if unsupported(p, c) or batch > max_batch(p, c, prompt_tokens):
        return None
    return _predict_one(p, c)


def prefill_bound(
    p: Params, model_id: str, weights: str, kv: str, batch: int, prompt_tokens: int, gpu_id: str
) -> str:
    """What limits the prefill: memory, compute or overhead; "unsupported" where the GPU or the
    engine cannot run the formats."""
    c = case(p, model_id, weights, kv, batch, prompt_tokens, 0, gpu_id, metric="prefill")
    if unsupported(p, c):
        return "unsupported"
    w, r = work.work(p, c), rates(p, c.engine, gpu_id)
    mem = w.pb / (w.bw * r.eta_bw)
    share = float(work.matmul_share(vars(w), r, prefill=True))
    comp = w.pf / (w.ceiling * share) + w.pa / (w.ceiling * r.eta_attn)
    over = work.overhead_s(vars(w), r)
    return max((mem, "memory"), (comp, "compute"), (over, "overhead"))[1]


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
    *,
    engine: str | None = None,
    gpus: int = 1,
) -> float:
    """Throughput of a whole generation (all sequences): batch x output / (prefill + decode steps
    at contexts input+1 .. input+output-1), or decode steps only without the prefill. Speed only:
    the memory fit is :func:`generation_fits`."""
    metric = "generation" if include_prefill else "decode"
    c = case(
        p,
        model_id,
        weights,
        kv,
        batch,
        input_tokens,
        output_tokens,
        gpu_id,
        engine=engine,
        gpus=gpus,
        metric=metric,
    )
    return _predict_one(p, c)


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
    """Whether ``batch`` sequences of input + output tokens fit on one GPU."""
    c = case(p, model_id, weights, kv, batch, input_tokens, output_tokens, gpu_id)
    return batch <= max_batch(p, c, input_tokens + output_tokens)


def decode_grid(
    p: Params,
    model_ids: list[str] | None = None,
    gpu_ids: list[str] | None = None,
    weights: list[str] = ("fp16",),
    kv: str = "fp16",
    batches: list[int] | None = None,
    contexts: list[int] | None = None,
) -> pd.DataFrame:
    """Decode tokens/s with the parameter ``engine`` for every model x weights x GPU x context x
    batch (defaults: all catalog models and GPUs, ``p.decode_batch_sizes``,
    ``p.decode_context_tokens``); NaN where it does not fit or cannot run."""
    import pandas as pd

    model_ids = list(model_ids) if model_ids is not None else catalog.model_ids()
    gpu_ids = list(gpu_ids) if gpu_ids is not None else catalog.gpu_ids()
    batches = list(batches) if batches is not None else list(p.decode_batch_sizes)
    contexts = list(contexts) if contexts is not None else [p.decode_context_tokens]
    rows = []
    for m in model_ids:
        for w in weights:
            for g in gpu_ids:
                for ctx in contexts:
                    for b in batches:
                        s = decode_step(p, m, w, kv, b, ctx, g)
                        rows.append(
                            {
                                "model": m,
                                "weights": w,
                                "gpu": g,
                                "context_tokens": ctx,
                                "batch": b,
                                "tokens_per_s": s["tokens_per_s"] if s["tokens_per_s"] else np.nan,
                                "step_ms": s.get("step_ms", np.nan),
                                "bound": s["bound"],
                                "fits_one_gpu": s["fits"],
                            }
                        )
    return pd.DataFrame(rows).set_index(["model", "weights", "gpu", "context_tokens", "batch"])
