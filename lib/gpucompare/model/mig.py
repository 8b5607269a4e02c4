"""MIG slices as tenants.

A profile's instances, memory and SMs come from the catalog (``mig_profiles`` in ``data/gpus.yaml``;
the SMs as ``nvidia-smi mig -lgip`` lists them, which is not the profile name's g/7 share: an H100 80GB
HBM3 1g.20gb slice has 26 SMs, a 1g.10gb slice 16). Its peak (TFLOPS) = the GPU's dense FP16 peak x
profile SMs / GPU SMs (an H100 SXM 1g.10gb: 989.4 x 16 / 132 = 119.9). Max batch in a slice is
:func:`gpucompare.model.memory.max_batch` on the GPU with the slice's memory (GiB). Cost per tenant
(USD) = GPU price / instances.
"""

from __future__ import annotations

from gpucompare.core.errors import unknown
from gpucompare.core.guards import require_nonnegative
from gpucompare.data import catalog
from gpucompare.model import memory
from gpucompare.model.sustained import PEAK_FIELD
from gpucompare.params import Params


def mig_profiles(gpu_id: str) -> list[catalog.MigProfile]:
    """The catalog's MIG profiles of ``gpu_id`` (empty when MIG is not supported)."""
    return list(catalog.get_gpu(gpu_id, "gpu_id").mig_profiles)


def mig_supported(gpu_id: str) -> bool:
    """Whether the GPU can be partitioned with MIG."""
    return bool(mig_profiles(gpu_id))


def no_mig_text(gpu_id: str) -> str:
    """What a table says for a GPU without MIG: "not supported" on an NVIDIA GPU, "not applicable"
    on another vendor's (MIG is NVIDIA's partitioning; the catalog leaves it out for them)."""
    return "not supported" if catalog.get_gpu(gpu_id).vendor == catalog.NVIDIA else "not applicable"


def mig_profile(gpu_id: str, profile: str) -> catalog.MigProfile:
    """One MIG profile; an unknown name raises InputError naming the GPU's profiles."""
    found = {m.profile: m for m in mig_profiles(gpu_id)}
    if profile not in found:
        raise unknown(f"MIG profile of {gpu_id}", "profile", profile, found or ["(none)"])
    return found[profile]


def mig_sm_count(gpu_id: str, profile: str) -> int:
    """SMs of one MIG profile (``sm_count`` of the catalog profile)."""
    return mig_profile(gpu_id, profile).sm_count


def mig_sm_share(gpu_id: str, profile: str) -> float:
    """Share of the GPU's SMs one instance of the profile has = profile SMs / GPU SMs."""
    return mig_sm_count(gpu_id, profile) / catalog.get_gpu(gpu_id).spec("compute_units")


def mig_peak_tflops(gpu_id: str, profile: str) -> float:
    """Dense FP16 tensor peak of one MIG instance (TFLOPS) = GPU peak (``PEAK_FIELD``) x profile SMs /
    GPU SMs: the tensor cores sit in the SMs and an instance runs at the GPU's clock."""
    return catalog.get_gpu(gpu_id).spec(PEAK_FIELD) * mig_sm_share(gpu_id, profile)


def with_memory_gib(gpu: catalog.Gpu, memory_gib: float) -> catalog.Gpu:
    """A copy of ``gpu`` whose memory is ``memory_gib`` (a MIG slice as seen by the memory formulas)."""
    require_nonnegative("memory_gib", memory_gib)
    spec = gpu.specs.memory_gib.model_copy(update={"value": memory_gib})
    return gpu.model_copy(update={"specs": gpu.specs.model_copy(update={"memory_gib": spec})})


def max_batch_in_budget(
    model_id: str,
    weights: str,
    kv: str,
    context_tokens: int,
    memory_gib: float,
    ov: memory.Overheads,
    gpu_id: str = "h100-sxm",
) -> int:
    """Largest batch that fits ``memory_gib`` GiB: :func:`gpucompare.model.memory.max_batch` (usable = GiB x
    gpu_memory_utilization - activation reserve) on ``gpu_id`` with its memory replaced by the budget."""
    model = catalog.get_model(model_id)
    gpu = with_memory_gib(catalog.get_gpu(gpu_id, "gpu_id"), memory_gib)
    return memory.max_batch(model, weights, kv, context_tokens, gpu, ov)


def cost_per_tenant_usd(p: Params, gpu_id: str, profile: str) -> float:
    """GPU price (``p.price_of``) / instances of the profile that fit on one GPU."""
    return p.price_of(gpu_id) / mig_profile(gpu_id, profile).instances_max


def tenants(p: Params, gpu_id: str, model_id: str, weights: str) -> tuple[int, str | None]:
    """Most tenants of one model on one GPU: the largest instances_max among profiles where at least one
    sequence of ``mig_context_tokens`` fits (ties: the smaller slice), and that profile; (0, None) if none."""
    ov = memory.Overheads.from_params(p)
    best: tuple[int, str | None] = (0, None)
    for m in sorted(mig_profiles(gpu_id), key=lambda m: (m.memory_gib, m.profile)):
        fits = (
            max_batch_in_budget(
                model_id, weights, p.mig_kv_cache, p.mig_context_tokens, m.memory_gib, ov, gpu_id
            )
            >= 1
        )
        if fits and m.instances_max > best[0]:
            best = (m.instances_max, m.profile)
    return best
