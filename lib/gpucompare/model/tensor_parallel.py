"""Tensor-parallel (TP) efficiency of LLM inference: what one transformer layer computes per GPU and
what it all-reduces, after the article's definition of efficiency.

* What tensor parallelism all-reduces: Megatron-style TP splits attention by heads and the MLP by its
  intermediate dimension; each of the two blocks ends with one all-reduce of its output activations,
  batch x tokens x hidden x 2 bytes (16-bit activations). Two per transformer layer, never a weight.
* Per-layer compute per GPU (a documented roofline on datasheet figures): max(layer weight bytes /
  (n x memory bandwidth), 2 x layer active parameters x batch x tokens / (n x dense BF16 peak)).
  Attention-score FLOPs and KV-cache reads are left out; both lengthen compute, so the efficiency
  below is a lower bound on that count.
* TP efficiency (the article's definition, no overlap of compute and communication) =
  compute / (compute + communication).

Communication is :func:`gpucompare.model.interconnect.gpu_allreduce_time_us` (alpha-beta ring or tree on
the group's link). Data: ``data/models.yaml``, ``data/gpus.yaml``, ``data/interconnect.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.core.guards import require_positive
from gpucompare.data import catalog
from gpucompare.model import gemm, memory
from gpucompare.model.interconnect import TpLink, gpu_allreduce_time_us, tp_link
from gpucompare.params import Params

#: Bytes per activation element: inference engines all-reduce in the model's 16-bit dtype.
ACTIVATION_BYTES = 2
#: All-reduces per transformer layer in Megatron-style TP (attention output, MLP output).
ALLREDUCES_PER_LAYER = 2


def layer_parameters(model: catalog.Model) -> int:
    """Weights of one transformer layer: attention (q, k, v, o), MLP (gate, up, down; all experts and the
    router for MoE) and the two norms, from the config (same formula as data/models.yaml)."""
    h, hd = model.hidden_size, model.head_dim
    attn = h * model.num_attention_heads * hd * 2 + 2 * h * model.num_key_value_heads * hd
    experts = model.num_local_experts or 1
    mlp = 3 * h * model.intermediate_size * experts + (
        h * experts if model.num_local_experts else 0
    )
    return attn + mlp + 2 * h


def layer_active_parameters(model: catalog.Model) -> int:
    """Weights one token multiplies in a layer: as :func:`layer_parameters` with only
    ``num_experts_per_tok`` experts for MoE models."""
    if not model.num_local_experts:
        return layer_parameters(model)
    h = model.hidden_size
    inactive = model.num_local_experts - model.num_experts_per_tok
    return layer_parameters(model) - 3 * h * model.intermediate_size * inactive


def layer_weight_bytes(model: catalog.Model, precision: str) -> float:
    """Bytes of one layer's weights at ``precision`` (quantization scales included, memory.effective_bits)."""
    return layer_parameters(model) * memory.effective_bits(model, precision) / units.BITS_PER_BYTE


def activation_allreduce_bytes(model: catalog.Model, batch: int, tokens: int) -> float:
    """Bytes of one TP all-reduce: batch x tokens x hidden x 2 (16-bit activations)."""
    require_positive("batch", batch)
    require_positive("tokens", tokens)
    return batch * tokens * model.hidden_size * ACTIVATION_BYTES


def layer_compute_us(
    weight_bytes: float,
    active_parameters: float,
    batch: int,
    tokens: int,
    tp: int,
    memory_bandwidth_gb_s: float,
    peak_tflops: float,
) -> float:
    """One layer's compute per GPU (us) = max(weight bytes / (tp x bandwidth),
    2 x active parameters x batch x tokens / (tp x peak)): the roofline on datasheet figures."""
    for name, v in (
        ("memory_bandwidth_gb_s", memory_bandwidth_gb_s),
        ("peak_tflops", peak_tflops),
        ("batch", batch),
        ("tokens", tokens),
        ("tp", tp),
    ):
        require_positive(name, v)
    read_us = weight_bytes / (tp * memory_bandwidth_gb_s * units.BYTES_PER_GB) * units.US_PER_S
    math_us = (
        units.FLOPS_PER_FMA
        * active_parameters
        * batch
        * tokens
        / (tp * peak_tflops * units.FLOPS_PER_TFLOPS)
        * units.US_PER_S
    )
    return max(read_us, math_us)


def tp_efficiency(compute_us: float, comm_us: float) -> float:
    """Compute / (compute + communication), the article's definition (no overlap); 1 without communication."""
    if compute_us < 0 or comm_us < 0:
        raise InputError(f"compute_us and comm_us must be >= 0 (got {compute_us}, {comm_us})")
    return 1.0 if comm_us == 0 else compute_us / (compute_us + comm_us)


def article_tp_efficiency(gemm_time_ms: float, comm_time_ms: float, num_gpus: int) -> float:
    """The article's ``tp_efficiency`` as written: (gemm / n) / (gemm / n + comm)."""
    per_gpu = gemm_time_ms / num_gpus
    return per_gpu / (per_gpu + comm_time_ms)


@dataclass(frozen=True)
class TpStep:
    """One layer of a TP group: compute and communication per GPU (us) and the efficiency."""

    gpu: str
    tp: int
    batch: int
    tokens: int
    link: TpLink
    compute_us: float
    comm_us: float

    @property
    def efficiency(self) -> float:
        return tp_efficiency(self.compute_us, self.comm_us)


def tp_step(
    p: Params,
    gpu_id: str,
    tp: int,
    batch: int,
    tokens: int,
    model_id: str | None = None,
    weights: str | None = None,
    algorithm: str = "ring",
) -> TpStep:
    """Compute and communication of one layer of ``model_id`` (default ``p.tp_model``) at ``weights``
    (default ``p.tp_weights``) on a TP group: decode is tokens = 1, prefill tokens = prompt length."""
    model = catalog.get_model(model_id or p.tp_model, "tp_model")
    gpu = catalog.get_gpu(gpu_id, "gpu")
    link = tp_link(gpu_id, tp)
    compute = layer_compute_us(
        layer_weight_bytes(model, weights or p.tp_weights),
        layer_active_parameters(model),
        batch,
        tokens,
        tp,
        gpu.spec("memory_bandwidth_gb_s"),
        gpu.spec("bf16_tensor_tflops"),
    )
    message = activation_allreduce_bytes(model, batch, tokens)
    comm = ALLREDUCES_PER_LAYER * gpu_allreduce_time_us(p, gpu_id, tp, message, algorithm)
    return TpStep(gpu_id, tp, batch, tokens, link, compute, comm)


def fits_in_memory(p: Params, gpu_id: str, tp: int, model_id: str, weights: str) -> bool:
    """Whether weights and the KV cache of ``p.memory_batch_size`` sequences of ``p.memory_context_tokens``
    fit each of ``tp`` GPUs (memory section's usable memory)."""
    ov = memory.Overheads.from_params(p)
    model = catalog.get_model(model_id, "tp_model")
    need = memory.per_gpu_bytes(
        model, weights, p.memory_kv_cache, p.memory_batch_size, p.memory_context_tokens, tp
    )
    return need <= memory.usable_bytes(
        catalog.get_gpu(gpu_id), ov.gpu_memory_utilization, ov.activation_reserve_gib
    )


def gemm_time_ms_at_peak(
    gpu_id: str, m: int, n: int, k: int, field: str = "fp16_tensor_fp32acc_tflops"
) -> float:
    """Time (ms) of an M x N x K GEMM at the GPU's datasheet dense peak ``field`` (TFLOPS): 2 M N K / peak."""
    flop = gemm.flops(m, n, k)
    peak = catalog.get_gpu(gpu_id).spec(field)
    return flop / (peak * units.FLOPS_PER_TFLOPS) * units.US_PER_S / units.US_PER_MS
