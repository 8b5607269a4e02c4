"""The audit of the article's decode throughput figures (``data/claims/throughput.yaml``): against
the memory fit, the datasheet bandwidth bound and the roofline model (``gpucompare.model.throughput``)
with the default parameters."""

from __future__ import annotations

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.model import memory, throughput

#: A throughput claim within this fraction of the model is "ok".
THROUGHPUT_TOLERANCE = 0.3


def _check_throughput(c: Claim) -> Finding:
    """A decode tokens/s figure: wrong if the batch does not fit on one GPU or the figure exceeds
    the datasheet bandwidth bound; else against the model (default parameters) within
    ``THROUGHPUT_TOLERANCE``."""
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
    return Finding(
        s["tokens_per_s"],
        relative_verdict(claimed, s["tokens_per_s"], THROUGHPUT_TOLERANCE),
        f"model {s['tokens_per_s']:.0f} tok/s ({s['bound']}-bound, step {s['step_ms']:.2f} ms) for {what}; "
        f"the article's {claimed:g} is {claimed / s['tokens_per_s']:.0%} of it and "
        f"{claimed / hard:.0%} of the datasheet bandwidth bound {hard:.0f}",
    )


CLAIM_CHECKS = {"throughput": _check_throughput}
