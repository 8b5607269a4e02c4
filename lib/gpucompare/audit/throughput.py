"""The audit of the article's decode throughput figures (``data/claims/throughput.yaml``): against
the memory fit, the datasheet bandwidth bound and the engine-aware model
(``gpucompare.model.throughput``) of every engine that runs the case, with the default parameters.
The article names no engine, so a figure within the range the engines span (widened by
``THROUGHPUT_TOLERANCE``) is consistent with some engine and not wrong."""

from __future__ import annotations

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.data import catalog, engines
from gpucompare.data.claims import Claim
from gpucompare.model import memory, throughput

#: A throughput claim within this fraction of the model is "ok".
THROUGHPUT_TOLERANCE = 0.3


def _check_throughput(c: Claim) -> Finding:
    """A decode tokens/s figure: wrong if the batch does not fit on one GPU or the figure exceeds
    the datasheet bandwidth bound; ok if it lies within the engines' modelled range widened by
    ``THROUGHPUT_TOLERANCE``; else wrong, measured against the nearest engine."""
    p = params.validate(params.defaults_dict())
    chk = c.check
    args = (chk["model"], chk["weights"], chk["kv"], chk["batch"], chk["context_tokens"])
    s = throughput.decode_step(p, *args, chk["gpu"])
    hard = throughput.hard_bound_tokens_per_s(*args, chk["gpu"])
    claimed = float(c.value)
    gpu = catalog.get_gpu(chk["gpu"])
    model = catalog.get_model(chk["model"])
    ov = memory.Overheads.from_params(p)
    what = f"{chk['model']} {chk['weights']}, batch {chk['batch']} x {chk['context_tokens']:,} tokens, on the {gpu.name}"
    if not s["fits"]:
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
        zero_ctx = throughput.hard_bound_tokens_per_s(
            chk["model"], chk["weights"], chk["kv"], chk["batch"], 1, chk["gpu"]
        )
        return Finding(
            s["tokens_per_s"],
            "wrong",
            f"{claimed:g} tok/s exceeds the datasheet bandwidth bound of {hard:.1f} for {what} "
            f"({s['weights_read_gb']:.1f} GB of weights + {s['kv_read_gb']:.2f} GB of KV per step; "
            f"{zero_ctx:.1f} even with no context); the model gives {s['tokens_per_s']:.0f}",
        )
    by_engine = _engine_speeds(p, args, chk["gpu"])
    nearest = min(by_engine, key=lambda e: abs(claimed / by_engine[e] - 1))
    lo, hi = min(by_engine.values()), max(by_engine.values())
    inside = lo * (1 - THROUGHPUT_TOLERANCE) <= claimed <= hi * (1 + THROUGHPUT_TOLERANCE)
    verdict = (
        "ok" if inside else relative_verdict(claimed, by_engine[nearest], THROUGHPUT_TOLERANCE)
    )
    return Finding(
        by_engine[nearest],
        verdict,
        f"the engines' models give {lo:.0f} to {hi:.0f} tok/s for {what} (nearest: {nearest}, "
        f"{by_engine[nearest]:.0f}; default engine {p.engine}: {s['tokens_per_s']:.0f}, {s['bound']}-bound); "
        f"the article's {claimed:g} is {claimed / hard:.0%} of the datasheet bandwidth bound {hard:.0f}",
    )


def _engine_speeds(p, args: tuple, gpu_id: str) -> dict[str, float]:
    """Decode tokens/s of every engine that runs the case's formats (fits checked by the caller)."""
    out = {}
    for e in engines.engine_ids():
        if engines.runs(e, args[1], args[2]):
            tps = throughput.decode_step(p.model_copy(update={"engine": e}), *args, gpu_id)[
                "tokens_per_s"
            ]
            if tps:
                out[e] = tps
    return out


CLAIM_CHECKS = {"throughput": _check_throughput}
