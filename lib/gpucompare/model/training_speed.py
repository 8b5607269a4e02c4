"""Training speed: FLOPs per token, the data-parallel communication of a step over the GPU's real
link, and the step time and tokens per second at a given model FLOPs utilisation (MFU).

Notation: P = all parameters (embeddings included, as MosaicML's and torchtitan's MFU count them),
T = trained adapter parameters (LoRA/QLoRA), L = layers, h = hidden size, s = sequence length.
FLOP = one floating-point operation (a multiply-add is 2); times in seconds unless named.

* Model FLOPs per token (Kaplan et al. 2020 §2.1, "C = 6N"; the attention term of Chowdhery et al.
  2022, PaLM, Appendix B, "6N + 12 L H Q T", used by MosaicML's and torchtitan's MFU): full training
  6 P + 12 L h s: each weight does a multiply-add in the forward pass (2 P), in the backward pass
  for the input gradient (2 P) and for its own gradient (2 P); attention scores and their use,
  4 L h s forward, twice that backward. LoRA/QLoRA (derived the same way): a frozen weight gets no
  gradient of its own, so 4 P + 6 T + 12 L h s; the attention term stays (its gradients flow to
  earlier adapters).
* Executed FLOPs add the recomputation: selective (attention core) + 4 L h s; full (a second
  forward pass) + 2 P + 2 T + 4 L h s. MFU counts model FLOPs only, and the calibrated MFU is an
  average over runs with and without recomputation (most recompute), so recomputation changes a
  step only through its backward-pass share (the overlap window): calibrating the utilisation of
  executed FLOPs instead gave a larger held-out error (median 20% against 15%).
* Compute time of a step = model FLOPs / (MFU x peak) + QLoRA's dequantisation, peak the
  datasheet's dense tensor rate of the precision (:func:`peak_tflops`). MFU is calibrated per GPU
  class (datacenter, consumer) on ``data/measurements/training.csv``
  (:mod:`gpucompare.model.training_calibration`).
* QLoRA dequantisation (:func:`dequant_s`): bitsandbytes' ``MatMul4Bit``
  (bitsandbytes-foundation/bitsandbytes, ``bitsandbytes/autograd/_functions.py`` at 012c660:
  ``forward`` runs ``linear(A, dequantize_4bit(B, quant_state))``, ``backward`` runs
  ``grad_A = matmul(grad_output, dequantize_4bit(B, ctx.state))``) and torchao's ``linear_nf4``
  (torchtune's QLoRA) rebuild every 4-bit weight as a 16-bit matrix before each matmul that reads
  it: in the forward pass, in the backward pass (the input gradient) and in a recomputed forward
  pass. Each rebuild reads the weight's NF4 code with its block constants (``NF4_BITS`` / 8 =
  0.516 bytes, :mod:`~gpucompare.model.training_memory`) and writes the 16-bit copy (2 bytes) that
  the matmul then reads as LoRA's matmul reads its 16-bit weight: 2.52 bytes of extra memory
  traffic per quantised weight and pass, at the datasheet memory bandwidth, once per micro-batch
  whatever its tokens. Real kernels move more than this floor (launches, the double-quantised
  constants, unfused casts): the traffic is multiplied by a factor k fitted on the published QLoRA
  runs that have a LoRA twin (same source, GPU and configuration;
  :mod:`gpucompare.model.training_calibration`; k = 2.3, held-out QLoRA / LoRA speed ratio error
  median 3%, worst 19%).
* Communication of a step (N GPUs, per-direction bandwidth B and per-hop latency of the link
  :func:`link` finds with :mod:`gpucompare.model.interconnect`): ZeRO 0-2 all-reduce the gradients
  once per optimizer step in buckets of :data:`DDP_BUCKET_BYTES` (ring: 2 (N-1)/N x bytes / B plus
  latency, :func:`gpucompare.model.interconnect.allreduce_time_us`; stages 1-2 reduce-scatter the
  gradients and all-gather the weights, the same volume); ZeRO 3 all-gathers each layer's weights
  in the forward and the backward pass and reduce-scatters its gradients, every micro-batch (each
  half an all-reduce: 1.5x the all-reduce volume, ZeRO §7.2.2). Offload sends the gradients to the
  host and the updated weights back over the GPU's PCIe link.
* Overlap: exposed = max(0, communication - overlap x window) with window = the backward pass
  (ZeRO 0-2, gradients are reduced while later layers still compute) or the whole step (ZeRO 3,
  weights are prefetched); the weight upload after an offloaded optimizer step is never hidden.
  Scaling efficiency = compute / (compute + exposed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpucompare.core import units
from gpucompare.core.errors import InputError, unknown
from gpucompare.data import catalog
from gpucompare.data.interconnect import get_link, max_gpus_per_node
from gpucompare.model import interconnect
from gpucompare.model import training_memory as tm
from gpucompare.params import Params

#: The node-to-node link of a run over more GPUs than one node holds, when none is given: one
#: InfiniBand NDR port (400 Gb/s) per GPU, as in a DGX H100 (data/interconnect.yaml). An assumption.
DEFAULT_NODE_LINK = "infiniband-ndr"
#: PyTorch DDP's default gradient bucket (bucket_cap_mb = 25, MiB).
DDP_BUCKET_BYTES = 25 * units.BYTES_PER_MIB
#: Share of the overlap window in which communication proceeds under compute. An assumption: NCCL
#: kernels share SMs and memory bandwidth with the compute, and the last bucket has nothing after it.
#: The held-out MFU error is the same for 0.8 to 1.0 and larger below (median 16% at 0.5, 21% at 0).
DEFAULT_OVERLAP = 0.8
#: Datasheet peak used for each training precision (PyTorch accumulates fp16 GEMMs in fp32; fp32
#: training does not use TF32 unless asked to, PyTorch's default since 1.12).
PEAK_FIELDS = {
    "bf16": "bf16_tensor_tflops",
    "fp16": "fp16_tensor_fp32acc_tflops",
    "fp32": "fp32_tflops",
}


@dataclass(frozen=True)
class Job:
    """What the speed model needs of one run (a catalog setup or a measurement row)."""

    gpu: str
    gpus: int
    method: str
    parameters: int
    num_layers: int
    hidden_size: int
    trained: int
    frozen_weight_bytes: float
    seq_len: int
    micro_batch: int
    recompute: str
    zero: int
    offload: bool
    precision: str = "bf16"
    grad_accum: int = 1
    node_link: str | None = None
    #: Weights stored in NF4 and dequantised before every matmul (QLoRA's linear layers; else 0).
    quantized_parameters: int = 0

    @property
    def tokens_per_gpu_step(self) -> int:
        """Tokens one GPU processes per optimizer step: micro-batch x sequence x accumulation."""
        return self.micro_batch * self.seq_len * self.grad_accum


def job_of(setup: tm.Setup, gpu_id: str, node_link: str | None = None) -> Job:
    """The :class:`Job` of a checked catalog setup on ``gpu_id``."""
    model = catalog.get_model(setup.model)
    return Job(
        gpu=gpu_id,
        gpus=setup.gpus,
        method=setup.method,
        parameters=model.parameters,
        num_layers=model.num_hidden_layers,
        hidden_size=model.hidden_size,
        trained=tm.trained_parameters(setup),
        frozen_weight_bytes=tm.frozen_weight_bytes(setup),
        seq_len=setup.seq_len,
        micro_batch=setup.micro_batch,
        recompute=setup.recompute,
        zero=setup.zero,
        offload=setup.offload,
        precision=setup.precision,
        grad_accum=setup.grad_accum,
        node_link=node_link,
        quantized_parameters=tm.quantized_parameters(setup),
    )


# --- FLOPs ----------------------------------------------------------------------------------------


def attention_flops_per_token(num_layers: int, hidden_size: int, seq_len: int) -> float:
    """Attention scores and their product with V, forward and backward: 12 L h s."""
    return 12.0 * num_layers * hidden_size * seq_len


def model_flops_per_token(job: Job) -> float:
    """Full: 6 P + 12 L h s; LoRA/QLoRA: 4 P + 6 T + 12 L h s (see the module docstring)."""
    attn = attention_flops_per_token(job.num_layers, job.hidden_size, job.seq_len)
    if job.method == "full":
        return 6.0 * job.parameters + attn
    return 4.0 * job.parameters + 6.0 * job.trained + attn


def recompute_flops_per_token(job: Job) -> float:
    """FLOPs recomputed per token: none 0 (unknown counts as none); selective 4 L h s (the attention
    core); full a second forward pass, 2 P (+ 2 T for adapters) + 4 L h s."""
    attn_fwd = attention_flops_per_token(job.num_layers, job.hidden_size, job.seq_len) / 3
    if job.recompute == "selective":
        return attn_fwd
    if job.recompute == "full":
        return 2.0 * job.parameters + (2.0 * job.trained if job.method != "full" else 0) + attn_fwd
    return 0.0


def backward_share(job: Job) -> float:
    """Share of a step's executed FLOPs after the forward pass (the gradient all-reduce's window)."""
    attn_fwd = attention_flops_per_token(job.num_layers, job.hidden_size, job.seq_len) / 3
    forward = 2.0 * job.parameters + (2.0 * job.trained if job.method != "full" else 0) + attn_fwd
    executed = model_flops_per_token(job) + recompute_flops_per_token(job)
    return (executed - forward) / executed


def peak_tflops(gpu_id: str, precision: str = "bf16") -> float:
    """Dense datasheet peak (TFLOPS) of the tensor or FP32 rate a precision trains at (:data:`PEAK_FIELDS`)."""
    if precision not in PEAK_FIELDS:
        raise unknown("precision", "precision", precision, PEAK_FIELDS)
    return catalog.get_gpu(gpu_id, "gpu").spec(PEAK_FIELDS[precision])


# --- QLoRA dequantisation -------------------------------------------------------------------------


def dequant_bytes_per_weight(precision: str = "bf16") -> float:
    """Memory traffic of rebuilding one NF4 weight (bytes): read its code and block constants
    (NF4_BITS / 8 = 0.516) and write its 16-bit copy (2): 2.516 bytes in bf16."""
    return tm.NF4_BITS / units.BITS_PER_BYTE + tm.value_bytes(precision)


def dequant_passes(recompute: str) -> int:
    """Passes per micro-batch that rebuild every 4-bit weight: forward and backward (2), plus the
    recomputed forward pass of full recomputation (3). Selective recomputation recomputes the
    attention core only, which has no weights; ``unknown`` counts as none."""
    return 3 if recompute == "full" else 2


def dequant_s(job: Job, factor: float) -> float:
    """Seconds per optimizer step one GPU spends rebuilding its 4-bit weights: grad_accum x passes x
    quantised weights x bytes per weight / (memory bandwidth x 1e9) x ``factor`` (the fitted
    multiple of that traffic floor; see the module docstring); 0 unless the job is QLoRA. Under
    ZeRO-3 each GPU still rebuilds every layer it gathers: the whole model."""
    if job.method != "qlora" or job.quantized_parameters <= 0:
        return 0.0
    bandwidth = catalog.get_gpu(job.gpu).spec("memory_bandwidth_gb_s") * units.BYTES_PER_GB
    traffic = job.quantized_parameters * dequant_bytes_per_weight(job.precision)
    return job.grad_accum * dequant_passes(job.recompute) * traffic / bandwidth * factor


# --- Communication --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """The link a data-parallel group crosses: per-direction GB/s, per-hop latency, name."""

    per_direction_gb_s: float
    hop_latency_us: float
    name: str
    inter_node: bool


def link(p: Params, gpu_id: str, gpus: int, node_link: str | None = None) -> Link | None:
    """The slowest link of ``gpus`` GPUs: inside a node the link a group of that size crosses
    (:func:`gpucompare.model.interconnect.tp_link`: NVLink/NVSwitch, PCIe with P2P, or PCIe staged
    through host memory); across nodes the slower of that and ``node_link`` (default
    :data:`DEFAULT_NODE_LINK`), with the network's per-hop latency ``allreduce_latency_us``. None
    for one GPU."""
    if gpus == 1:
        return None
    per_node = max_gpus_per_node(gpu_id)
    inside = interconnect.tp_link(gpu_id, min(gpus, per_node), "gpus")
    hop = interconnect.hop_latency_us(p, inside.link_id)
    if gpus <= per_node:
        return Link(inside.per_direction_gb_s, hop, inside.name, False)
    net_id = node_link or DEFAULT_NODE_LINK
    net = get_link(net_id, "node_link")
    net_bw = interconnect.link_per_direction_gb_s(net_id)
    bw = min(net_bw, inside.per_direction_gb_s)
    return Link(bw, max(hop, p.allreduce_latency_us), f"{inside.name} + {net.name}", True)


def _half_allreduce_s(p: Params, nbytes: float, n: int, lk: Link) -> float:
    """An all-gather or reduce-scatter: half a ring all-reduce (N-1 steps, (N-1)/N x bytes)."""
    if nbytes <= 0:
        return 0.0
    t = interconnect.allreduce_time_us(
        nbytes, n, lk.per_direction_gb_s, lk.hop_latency_us, p.allreduce_base_latency_us
    )
    return t / 2 / units.US_PER_S


def communication_s(p: Params, job: Job) -> dict[str, float]:
    """Seconds of communication per optimizer step: ``overlappable`` (collectives, offload downloads)
    and ``exposed_always`` (the weight upload after an offloaded optimizer step)."""
    gb = tm.value_bytes(job.precision)
    grads = job.trained * gb
    lk = link(p, job.gpu, job.gpus, job.node_link)
    comm = 0.0
    if lk is not None:
        n = job.gpus
        if job.zero <= 2:
            buckets = max(1, math.ceil(grads / DDP_BUCKET_BYTES))
            comm = 2 * buckets * _half_allreduce_s(p, grads / buckets, n, lk)
        else:
            weights_layer = (job.frozen_weight_bytes + job.trained * gb) / job.num_layers
            per_micro = job.num_layers * (
                2 * _half_allreduce_s(p, weights_layer, n, lk)
                + _half_allreduce_s(p, grads / job.num_layers, n, lk)
            )
            comm = job.grad_accum * per_micro
    upload = 0.0
    if job.offload:
        shard = job.gpus if job.zero >= 1 else 1
        gpu = catalog.get_gpu(job.gpu)
        pcie = interconnect.pcie_per_direction_gb_s(
            gpu.spec("pcie_generation"), gpu.spec("pcie_lanes")
        )
        pcie_bytes_s = pcie * units.BYTES_PER_GB
        comm += grads / shard / pcie_bytes_s
        upload = job.trained * gb / shard / pcie_bytes_s
    return {"overlappable": comm, "exposed_always": upload}


def exposed_s(comm: dict[str, float], compute_s: float, job: Job, overlap: float) -> float:
    """max(0, communication - overlap x window) + the never-hidden upload; window = the backward
    pass (ZeRO 0-2) or the whole step (ZeRO 3)."""
    window = compute_s * (1.0 if job.zero >= 3 else backward_share(job))
    return max(0.0, comm["overlappable"] - overlap * window) + comm["exposed_always"]


def step(
    p: Params,
    job: Job,
    mfu: float,
    *,
    dequant_factor: float,
    overlap: float = DEFAULT_OVERLAP,
) -> dict[str, float]:
    """One optimizer step at compute MFU ``mfu``: ``compute_s`` (the matmuls at that MFU plus
    ``dequant_s``, QLoRA's weight rebuilds at ``dequant_factor`` x their traffic floor),
    ``communication_s``, ``exposed_s``, ``step_s``, ``tokens_per_s`` (all GPUs),
    ``scaling_efficiency`` = compute / step and the end-to-end ``mfu`` (model FLOPs / (step x GPUs x
    peak))."""
    if not 0 < mfu <= 1:
        raise InputError(f"mfu: must be in (0, 1] (got {mfu!r})")
    if not (math.isfinite(dequant_factor) and dequant_factor >= 0):
        raise InputError(f"dequant_factor: must be a finite number >= 0 (got {dequant_factor!r})")
    flops = model_flops_per_token(job) * job.tokens_per_gpu_step
    peak = peak_tflops(job.gpu, job.precision) * units.FLOPS_PER_TFLOPS
    dequant = dequant_s(job, dequant_factor)
    compute = flops / (mfu * peak) + dequant
    comm = communication_s(p, job)
    hidden = exposed_s(comm, compute, job, overlap)
    total = compute + hidden
    return {
        "dequant_s": dequant,
        "compute_s": compute,
        "communication_s": comm["overlappable"] + comm["exposed_always"],
        "exposed_s": hidden,
        "step_s": total,
        "tokens_per_s": job.gpus * job.tokens_per_gpu_step / total,
        "scaling_efficiency": compute / total,
        "mfu": flops / (total * peak),
    }
