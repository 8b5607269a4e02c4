"""The work of LLM inference steps: bytes read, FLOPs and split communication per step, and the
time model that turns work into seconds with an engine's fitted parameters. Units: bytes, FLOPs,
seconds; GB = 1e9 bytes.

Decode step for ``batch`` sequences at context c (tokens already in each sequence's KV cache):

* bytes = weights read + batch x KV bytes per token x min(c, window). Weights read = all weights
  less the input-embedding table when it is not tied to the LM head (a lookup of ``batch`` rows,
  not a read of the table; the LM head is read), and for a mixture of experts less the experts no
  token routes to (expected share touched 1 - (1 - k/E)^tokens, routing uniform and independent).
  ``window`` = the model's sliding-window size (Mistral 7B v0.1: 4,096), else unbounded.
* FLOPs = batch x (2 x active matmul parameters + 4 x layers x query heads x head_dim x min(c, window)).
* Prefill of ``prompt`` tokens per sequence: FLOPs = batch x (2 x active parameters x prompt +
  2 x layers x heads x head_dim x (2 prompt w - w^2)), w = min(prompt, window) (causal attention;
  prompt^2 without a window); bytes = weights read for
  batch x prompt tokens + the KV cache written.

Across ``gpus`` GPUs (:data:`gpucompare.data.engines.SPLITS`): ``tensor`` divides weights, FLOPs and
the KV heads among the GPUs and adds two all-reduces of the batch's activations per layer
(batch x tokens x hidden x 2 bytes; :func:`gpucompare.model.interconnect.gpu_allreduce_time_us`);
``layer`` keeps each GPU's share of the layers, so one token still passes every layer on one GPU
after another: the critical path holds all the bytes and FLOPs at one GPU's rates, plus gpus - 1
transfers of the activations between neighbours.

Time (:func:`predict`): step = max(bytes / (bandwidth x eta_bw), matmul FLOPs / (ceiling x eta_c)
+ attention FLOPs / (ceiling x eta_attn)) + overhead + communication, with the datasheet bandwidth, the sustained tensor ceiling of the math's
precision (:func:`compute_ceiling_tflops`, one source of truth with the reliability section) and an
engine's fitted ``eta_bw``, ``eta_c`` (times a prefill and a mixture-of-experts factor,
:func:`matmul_share`), ``eta_attn`` (attention kernels run far from the matmul
rate without fused attention) and overhead = fixed ms + us per layer
(:mod:`gpucompare.model.calibration`). Metrics (:data:`gpucompare.data.measurements.METRICS`):

* decode = batch x output / sum of the steps at contexts input+1 .. input+output;
* prefill = batch x prompt / prefill time;
* generation = batch x output / (prefill + steps at contexts input+1 .. input+output-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.core.guards import require_positive_int
from gpucompare.data import catalog, engines
from gpucompare.data.interconnect import max_gpus_per_node
from gpucompare.model import gemm, interconnect, memory, sustained, tensor_parallel
from gpucompare.params import Params

#: Weight format -> precision the matrix multiplies run at: weight-only quantized formats
#: dequantize to FP16 (AWQ/GPTQ, GGUF and MLC kernels), FP8 runs FP8 where the GPU has FP8 tensor
#: cores (:func:`unsupported_reason` refuses it elsewhere).
COMPUTE_PRECISION = {"fp32": "fp32", "bf16": "bf16", "fp8": "fp8"}
#: Precision of the activations an all-reduce or a layer-split hop sends (bytes per element).
ACTIVATION_BYTES = 2
#: Splits a measurement may name, mapped to the two the model knows (``row`` splits every matrix
#: like tensor parallelism; ``pipeline`` runs the stages one after another for one token).
SPLIT_OF = {
    "none": "none",
    "tensor": "tensor",
    "row": "tensor",
    "layer": "layer",
    "pipeline": "layer",
}


def compute_precision(weights: str) -> str:
    """The GEMM precision the math of ``weights`` runs at (:data:`COMPUTE_PRECISION`, else fp16)."""
    catalog.weight_format(weights)
    return COMPUTE_PRECISION.get(weights, "fp16")


def unsupported_reason(gpu_id: str, weights: str) -> str | None:
    """Why ``gpu_id`` cannot run ``weights`` (FP8 without FP8 tensor cores, e.g. Ampere), else None."""
    if (
        compute_precision(weights) == "fp8"
        and catalog.get_gpu(gpu_id).spec("fp8_tensor_tflops") is None
    ):
        return f"{gpu_id} has no FP8 tensor cores ({catalog.get_gpu(gpu_id).spec('architecture')})"
    return None


def compute_ceiling_tflops(p: Params, gpu_id: str, weights: str) -> float:
    """Sustained dense TFLOPS of the math of ``weights``: the GPU's sustained fraction (parameters
    ``sustained_fraction_*``, measured large-GEMM rate / datasheet peak) x the datasheet's dense peak
    of that precision. InputError where the GPU cannot run the format."""
    reason = unsupported_reason(gpu_id, weights)
    if reason:
        raise InputError(f"weights: {weights} is not supported: {reason}")
    return sustained.sustained_fraction(p, gpu_id) * gemm.peak_tflops(
        gpu_id, compute_precision(weights)
    )


# --- Per-model quantities --------------------------------------------------------------------


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


def input_embedding_parameters(model: catalog.Model) -> int:
    """The input-embedding table: vocab x hidden when untied from the LM head, else 0 (counted once,
    as the head)."""
    return 0 if model.tie_word_embeddings else model.vocab_size * model.hidden_size


def active_matmul_parameters(model: catalog.Model) -> float:
    """Parameters multiplied per token: all, less the untied input-embedding table, less the experts
    a token does not route to (1 - k/E of the expert parameters)."""
    n = model.parameters - input_embedding_parameters(model)
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
    """Weight bytes a step over ``tokens`` tokens reads: all weights, less the untied input-embedding
    table (a lookup), less the experts no token routes to."""
    full = memory.weights_bytes(model, weights)
    table = input_embedding_parameters(model) * catalog.weight_format(weights).embeddings_bits / 8
    expert = expert_parameters(model) * memory.effective_bits(model, weights) / 8
    return full - table - expert * (1 - experts_touched_fraction(model, tokens))


def attention_flops_per_context_token(model: catalog.Model) -> float:
    """Decode attention FLOPs per token of context: 4 x layers x query heads x head_dim."""
    return 4.0 * model.num_hidden_layers * model.num_attention_heads * model.head_dim


def attention_window(model: catalog.Model) -> float:
    """Tokens of context a layer attends to: the sliding window, or infinity."""
    return float(model.sliding_window) if model.sliding_window else float("inf")


# --- One configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One serving configuration and the quantity asked of it."""

    engine: str
    model: str
    weights: str
    kv: str
    gpu: str
    batch: int
    input_tokens: int
    output_tokens: int
    metric: str = "decode"
    gpus: int = 1
    split: str = "none"


@dataclass(frozen=True)
class Work:
    """A case's work on its critical path (per GPU for a tensor split; all layers for a layer split).

    Decode step at context c: bytes = ``wb`` + ``kb`` x min(c, ``window``), matmul FLOPs = ``f0``,
    attention FLOPs = ``f1`` x min(c, window); prefill: ``pb`` bytes, ``pf`` matmul and ``pa``
    attention FLOPs; communication ``comm_decode_s`` per step
    and ``comm_prefill_s`` per prefill; ``prefill_pipeline`` = the speed-up of a layer split's
    pipelined prefill; ``bw`` datasheet B/s, ``ceiling`` sustained FLOP/s."""

    wb: float
    kb: float
    f0: float
    f1: float
    window: float
    pb: float
    pf: float
    pa: float
    comm_decode_s: float
    comm_prefill_s: float
    prefill_pipeline: float
    moe: float
    layers: int
    bw: float
    ceiling: float


def _hop_seconds(p: Params, gpu_id: str, gpus: int, message: float) -> float:
    """One transfer of ``message`` bytes between neighbouring GPUs of a group of ``gpus``: the
    link's per-hop latency (14 us staged through host memory without P2P) plus bytes over its
    per-direction bandwidth."""
    link = interconnect.tp_link(gpu_id, gpus)
    return interconnect.tp_hop_latency_us(p, gpu_id, gpus) / units.US_PER_S + message / (
        link.per_direction_gb_s * units.BYTES_PER_GB
    )


def check_split(case: Case) -> str:
    """The model's split of a case (``none``, ``tensor`` or ``layer``); InputError for a group that
    does not fit a node or a tensor degree that does not divide the heads."""
    split = SPLIT_OF.get(case.split)
    if split is None:
        raise InputError(f"split: unknown '{case.split}'; allowed: {', '.join(SPLIT_OF)}")
    if case.gpus == 1:
        return "none"
    if case.gpus > max_gpus_per_node(case.gpu):
        raise InputError(
            f"gpus: {case.gpus} {case.gpu} do not fit one node (at most {max_gpus_per_node(case.gpu)})"
        )
    model = catalog.get_model(case.model)
    # llama.cpp's row split divides rows in proportions, so only real tensor parallelism needs this.
    if case.split == "tensor" and model.num_attention_heads % case.gpus:
        raise InputError(
            f"gpus: tensor parallelism over {case.gpus} GPUs needs the {model.num_attention_heads} "
            f"attention heads of {case.model} to divide evenly"
        )
    return split


def pipeline_speedup(case: Case, split: str, tokens: int) -> float:
    """Speed-up of a layer split's prefill when the engine pipelines micro-batches of
    ``pipeline_microbatch_tokens`` through the GPUs (llama.cpp's ``--ubatch-size``), at most
    ``pipeline_batch_tokens`` in flight (``--batch-size``): m = ceil(min(tokens, batch) / micro)
    micro-batches over N stages take (m + N - 1) stage-times of T / (m N) each, T = the unsplit
    time, so the speed-up is m N / (m + N - 1); 1 without pipelining."""
    eng = engines.get_engine(case.engine)
    if split != "layer" or not eng.pipeline_microbatch_tokens:
        return 1.0
    in_flight = min(tokens, eng.pipeline_batch_tokens or tokens)
    m, n = -(-in_flight // eng.pipeline_microbatch_tokens), case.gpus
    return m * n / (m + n - 1)


def work(p: Params, case: Case) -> Work:
    """The work of ``case`` (module docstring)."""
    require_positive_int("batch", case.batch)
    model = catalog.get_model(case.model)
    split = check_split(case)
    n = case.gpus if split == "tensor" else 1
    kv_share = memory.kv_shard_fraction(model, n)
    b = case.batch
    prompt = max(case.input_tokens, 1)
    kv_tok = memory.kv_bytes_per_token(model, case.kv)
    heads_dim = model.num_hidden_layers * model.num_attention_heads * model.head_dim
    # Causal attention over a window w: token i attends to min(i, w) tokens, so a prompt of P
    # costs 4 x heads_dim x sum(min(i, w)) = 2 x heads_dim x (2 P w' - w'^2), w' = min(P, w).
    seen = min(prompt, attention_window(model))
    decode_msg = tensor_parallel.activation_allreduce_bytes(model, b, 1)
    prefill_msg = tensor_parallel.activation_allreduce_bytes(model, b, prompt)
    if split == "tensor":
        per_layer = tensor_parallel.ALLREDUCES_PER_LAYER * model.num_hidden_layers
        comm_d = (
            per_layer
            * interconnect.gpu_allreduce_time_us(p, case.gpu, n, decode_msg)
            / units.US_PER_S
        )
        comm_p = (
            per_layer
            * interconnect.gpu_allreduce_time_us(p, case.gpu, n, prefill_msg)
            / units.US_PER_S
        )
    elif split == "layer":
        comm_d = (case.gpus - 1) * _hop_seconds(p, case.gpu, case.gpus, decode_msg)
        comm_p = (case.gpus - 1) * _hop_seconds(p, case.gpu, case.gpus, prefill_msg)
    else:
        comm_d = comm_p = 0.0
    return Work(
        wb=float(weights_read_bytes(model, case.weights, b)) / n,
        kb=b * kv_tok * kv_share,
        f0=b * 2 * active_matmul_parameters(model) / n,
        f1=b * attention_flops_per_context_token(model) / n,
        window=attention_window(model),
        pb=(float(weights_read_bytes(model, case.weights, b * prompt)) + b * kv_tok * prompt) / n,
        pf=b * 2 * active_matmul_parameters(model) * prompt / n,
        pa=b * 2 * heads_dim * (2 * prompt * seen - seen**2) / n,
        comm_decode_s=comm_d,
        comm_prefill_s=comm_p,
        prefill_pipeline=pipeline_speedup(case, split, b * prompt),
        moe=1.0 if model.kind == "moe" else 0.0,
        layers=model.num_hidden_layers,
        bw=gemm.bandwidth_gb_s(case.gpu) * units.BYTES_PER_GB,
        ceiling=compute_ceiling_tflops(p, case.gpu, case.weights) * units.FLOPS_PER_TFLOPS,
    )


# --- Time --------------------------------------------------------------------------------------


def _sum_linear(a, b, lo, hi):
    """sum over integers c = lo..hi of a + b c (0 where hi < lo); broadcasts."""
    n = np.maximum(hi - lo + 1, 0)
    return n * (a + b * (lo + hi) / 2)


def sum_max_linear(a1, b1, a2, b2, lo, hi):
    """sum over integers c = lo..hi of max(a1 + b1 c, a2 + b2 c), exactly: the two lines cross at
    most once, so the sum splits at the last integer before the crossing; broadcasts."""
    a1, b1, a2, b2, lo, hi = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (a1, b1, a2, b2, lo, hi))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.where(b1 != b2, (a2 - a1) / (b1 - b2), np.inf)
    k = np.clip(np.floor(cross), lo - 1, hi)
    # Below the crossing the line with the smaller slope is the larger one.
    low_a, low_b = np.where(b1 < b2, a1, a2), np.where(b1 < b2, b1, b2)
    high_a, high_b = np.where(b1 < b2, a2, a1), np.where(b1 < b2, b2, b1)
    parallel = b1 == b2
    split_sum = _sum_linear(low_a, low_b, lo, k) + _sum_linear(high_a, high_b, k + 1, hi)
    return np.where(parallel, _sum_linear(np.maximum(a1, a2), b1, lo, hi), split_sum)


@dataclass(frozen=True)
class Rates:
    """An engine's achieved fractions, per-step overhead and communication time / the interconnect
    model's (``comm_scale``) on one GPU (arrays broadcast)."""

    eta_bw: np.ndarray | float
    eta_c: np.ndarray | float
    overhead_fixed_ms: np.ndarray | float
    overhead_per_layer_us: np.ndarray | float
    comm_scale: np.ndarray | float = 1.0
    eta_attn: np.ndarray | float = 1.0
    prefill_scale: np.ndarray | float = 1.0
    moe_scale: np.ndarray | float = 1.0


def matmul_share(w: dict, r: Rates, prefill: bool = False) -> np.ndarray:
    """The achieved share of the ceiling in the matrix multiplies: eta_c, times ``moe_scale`` for a
    mixture of experts (grouped expert GEMMs over few tokens each), times ``prefill_scale`` in a
    prefill (large GEMMs over the whole prompt)."""
    share = r.eta_c * np.power(r.moe_scale, w["moe"])
    return share * r.prefill_scale if prefill else share


def decode_steps_sum(w: dict, r: Rates, lo, hi) -> np.ndarray:
    """Seconds of the decode steps at contexts lo..hi (arrays of :class:`Work` fields in ``w``)."""
    bw, fa = w["bw"] * r.eta_bw, w["ceiling"] * r.eta_attn
    fl = w["ceiling"] * matmul_share(w, r)
    step_extra = overhead_s(w, r) + w["comm_decode_s"] * r.comm_scale
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    win = w["window"]
    below_hi = np.minimum(hi, win)
    body = sum_max_linear(w["wb"] / bw, w["kb"] / bw, w["f0"] / fl, w["f1"] / fa, lo, below_hi)
    capped_ctx = np.where(np.isfinite(win), win, 0.0)
    capped_step = np.maximum(
        (w["wb"] + w["kb"] * capped_ctx) / bw, w["f0"] / fl + w["f1"] * capped_ctx / fa
    )
    n_capped = np.maximum(hi - np.maximum(lo, win + 1) + 1, 0)
    n_all = np.maximum(hi - lo + 1, 0)
    return body + n_capped * capped_step + n_all * step_extra


def overhead_s(w: dict, r: Rates) -> np.ndarray:
    """Per-step overhead (s) = fixed ms + us per layer x layers."""
    return r.overhead_fixed_ms / 1e3 + r.overhead_per_layer_us * w["layers"] / units.US_PER_S


def prefill_seconds(w: dict, r: Rates) -> np.ndarray:
    """Prefill time (s): max(bytes / achieved bandwidth, FLOPs / achieved compute) + overhead + comm."""
    compute = w["pf"] / (w["ceiling"] * matmul_share(w, r, prefill=True)) + w["pa"] / (
        w["ceiling"] * r.eta_attn
    )
    busy = np.maximum(w["pb"] / (w["bw"] * r.eta_bw), compute)
    return busy / w["prefill_pipeline"] + overhead_s(w, r) + w["comm_prefill_s"] * r.comm_scale


def stack(works: list[Work]) -> dict:
    """The fields of many :class:`Work` as arrays (for :func:`predict`)."""
    return {
        f: np.array([getattr(x, f) for x in works], dtype=float) for f in Work.__dataclass_fields__
    }


def predict(w: dict, cases: dict, r: Rates) -> np.ndarray:
    """Tokens/s (all sequences, all GPUs) of each case's metric (module docstring); ``cases`` holds
    arrays ``batch``, ``input_tokens``, ``output_tokens`` and ``metric`` (strings)."""
    b = np.asarray(cases["batch"], dtype=float)
    inp = np.asarray(cases["input_tokens"], dtype=float)
    out = np.asarray(cases["output_tokens"], dtype=float)
    metric = np.asarray(cases["metric"])
    pre = prefill_seconds(w, r)
    with np.errstate(divide="ignore", invalid="ignore"):  # rows of other metrics may divide by 0
        decode = b * out / decode_steps_sum(w, r, inp + 1, inp + out)
        prefill = b * np.maximum(inp, 1) / pre
        generation = b * out / (pre + decode_steps_sum(w, r, inp + 1, inp + out - 1))
    return np.where(
        metric == "prefill", prefill, np.where(metric == "generation", generation, decode)
    )


def engine_split(engine_id: str, gpus: int) -> str:
    """The split an engine uses for ``gpus`` GPUs (``none`` for one)."""
    return "none" if gpus == 1 else engines.get_engine(engine_id).split
