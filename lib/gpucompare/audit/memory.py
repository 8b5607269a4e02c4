"""Claim checks of the memory section: the article's memory figures, fits and max batches against
:mod:`gpucompare.model.memory` with the default overheads of ``params/default.yaml``."""

from __future__ import annotations

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.model.memory import (
    Overheads,
    article_formula,
    exact_memory,
    gpus_needed,
    kv_cache_bytes,
    max_batch,
    max_weight_bits,
    per_gpu_bytes,
    raw_weights_bytes,
    usable_bytes,
)

#: Relative tolerance for a memory figure (the article rounds to 2-3 digits).
MEMORY_TOLERANCE = 0.05


def _check_memory(c: Claim) -> Finding:
    """A memory figure against the exact value (catalog configuration, stated formats); the
    explanation also gives what the article's own formula returns for its own inputs."""
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
    return Overheads.from_params(params.make())


def _check_fits(c: Claim) -> Finding:
    """Does the workload fit one GPU, with the default usable memory (and, for the record, at 100%)?"""
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


def _check_max_batch(c: Claim) -> Finding:
    """The largest batch at a context on one GPU, with the default usable memory."""
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


def _check_weights_at_bits(c: Claim) -> Finding:
    """Weights at a bit width (GB) = parameters x bits / 8, the article's own arithmetic, with the
    catalog's exact parameter count; whether weights and the KV cache then fit the named GPU."""
    k = c.check
    model, gpu = catalog.get_model(k["model"]), catalog.get_gpu(k["gpu"])
    ov = _default_overheads()
    w = raw_weights_bytes(model, k["bits"])
    kv = kv_cache_bytes(model, k["kv"], k["batch"], k["context_tokens"])
    usable = usable_bytes(gpu, ov.gpu_memory_utilization, ov.activation_reserve_gib)
    computed = w / units.BYTES_PER_GB
    return Finding(
        computed,
        relative_verdict(float(c.value), computed, MEMORY_TOLERANCE),
        f"{model.parameters:,} parameters x {k['bits']:g} bits / 8 = {computed:.2f} GB (no quantization scales); "
        f"with {kv / units.BYTES_PER_GB:.2f} GB of KV cache ({k['batch']} x {k['context_tokens']:,} tokens) that is "
        f"{(w + kv) / units.BYTES_PER_GB:.1f} GB against {usable / units.BYTES_PER_GB:.1f} GB usable on the {gpu.name}",
    )


def _check_max_bits(c: Claim) -> Finding:
    """The most bits per weight at which the model fits one GPU (with its KV cache), against the
    largest bit width the article says still runs."""
    k = c.check
    model, gpu = catalog.get_model(k["model"]), catalog.get_gpu(k["gpu"])
    ov = _default_overheads()
    bits = max_weight_bits(model, k["kv"], k["batch"], k["context_tokens"], gpu, ov)
    claimed = float(c.value)
    at_claim = raw_weights_bytes(model, claimed) / units.BYTES_PER_GB
    capacity = gpu.spec("memory_gib") * units.BYTES_PER_GIB / units.BYTES_PER_GB
    verdict = "ok" if claimed <= bits else "wrong"
    why = (
        f"at most {bits:.2f} bits per weight fit the {gpu.name} with {k['batch']} x {k['context_tokens']:,} tokens "
        f"of {k['kv']} KV cache; at {claimed:g} bits the weights alone are {at_claim:.1f} GB"
    )
    if at_claim > capacity:
        why += f", more than the card's {capacity:.1f} GB"
    return Finding(bits, verdict, why)


def _check_fits_some_gpus(c: Claim) -> Finding:
    """Whether the workload fits on some number of the GPU (tensor parallel, 1-8 GPUs dividing the
    heads); the GPUs needed are given for each weight format of the check."""
    k = c.check
    model, gpu = catalog.get_model(k["model"]), catalog.get_gpu(k["gpu"])
    ov = _default_overheads()
    needs = {
        w: gpus_needed(model, w, k["kv"], k["batch"], k["context_tokens"], gpu, ov)
        for w in [k["weights"], *k.get("also_weights", [])]
    }
    fits = needs[k["weights"]] is not None
    parts = [f"{w}: {'does not fit 8' if n is None else f'{n} GPUs'}" for w, n in needs.items()]
    return Finding(
        fits,
        "ok" if fits == bool(c.value) else "wrong",
        f"{k['model']} on {gpu.name}s, {k['batch']} x {k['context_tokens']:,} tokens, sharded by tensor "
        f"parallelism: " + "; ".join(parts),
    )


CLAIM_CHECKS = {
    "memory": _check_memory,
    "fits_one_gpu": _check_fits,
    "max_batch": _check_max_batch,
    "weights_at_bits": _check_weights_at_bits,
    "max_weight_bits": _check_max_bits,
    "fits_some_gpus": _check_fits_some_gpus,
}
