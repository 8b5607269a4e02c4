"""Interconnect: the link catalog, all-reduce time with a latency-bandwidth (alpha-beta) model, and
tensor-parallel (TP) efficiency of LLM inference, next to the article's "size / bandwidth" model.

Notation: S = message bytes, n = GPUs in the group, B = per-direction link bandwidth (bytes/s),
alpha = latency per ring step or tree level (``allreduce_latency_us``), alpha0 = fixed latency per
all-reduce (``allreduce_base_latency_us``). GB = 1e9 bytes; times in microseconds (us) unless named ms.

* Ring all-reduce: t = alpha0 + 2(n-1) x alpha + 2(n-1)/n x S / B. Every element needs n-1 additions
  and n assignments, 2(n-1) transfers, spread over n links (NCCL tests, doc/PERFORMANCE.md); NCCL's
  own tuning model charges base + 2(n-1) x per-step latency (src/graph/tuning.cc, ``nsteps``).
* Tree all-reduce (pipelined reduce up a binary tree, then broadcast down): t = alpha0 +
  2 ceil(log2 n) x alpha + 2 S / B; NCCL's tuning model gives trees half the bus bandwidth as algorithm
  bandwidth (``ratio .5``). Inside one node NCCL's trees are chains with the ring's step count, so the
  log2 latency is the textbook (inter-node) form.
* Bus bandwidth (nccl-tests): busbw = S / t x 2(n-1)/n, comparable with B.
* The article's model: t = S / B_article, with whatever bandwidth it quotes. For n = 2 the ring's
  bandwidth term is also S / B, so the two agree when B is per direction and latency is negligible.
* What tensor parallelism all-reduces: Megatron-style TP splits attention by heads and the MLP by its
  intermediate dimension; each of the two blocks ends with one all-reduce of its output activations,
  batch x tokens x hidden x 2 bytes (16-bit activations). Two per transformer layer, never a weight.
* Per-layer compute per GPU (a documented roofline on datasheet figures): max(layer weight bytes /
  (n x memory bandwidth), 2 x layer active parameters x batch x tokens / (n x dense BF16 peak)).
  Attention-score FLOPs and KV-cache reads are left out; both lengthen compute, so the efficiency
  below is a lower bound on that count.
* TP efficiency (the article's definition, no overlap of compute and communication) =
  compute / (compute + communication).

The link bandwidths are line rates and the latencies NCCL's low-latency protocol figures, so the
modelled all-reduce is a lower bound on its time (NCCL's ring reaches ~370 of NVLink 4's 450 GB/s).
Data: ``data/interconnect.yaml`` (links, per-GPU topology, measurements) and ``data/gpus.yaml``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from gpucompare import memory
from gpucompare.core import paths, units
from gpucompare.core.errors import InputError, unknown
from gpucompare.data import catalog, claims
from gpucompare.data.catalog import Source, Sourced
from gpucompare.sections.figures import colour, new_row

#: Bytes per activation element: inference engines all-reduce in the model's 16-bit dtype.
ACTIVATION_BYTES = 2
#: All-reduces per transformer layer in Megatron-style TP (attention output, MLP output).
ALLREDUCES_PER_LAYER = 2
#: All-reduce algorithms modelled.
ALGORITHMS = ("ring", "tree")
#: Relative tolerance for times and bandwidths the article rounds (it writes "~").
TIME_TOLERANCE = 0.10
#: Relative tolerance for link figures quoted from datasheets.
LINK_TOLERANCE = 0.05
#: Efficiency claims within this many percentage points of the model count as agreeing.
EFFICIENCY_TOLERANCE_PTS = 10.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PcieGeneration(_Strict):
    """One PCIe generation: transfer rate per lane and line encoding."""

    generation: int
    transfer_rate_gt_s: float
    payload_bits: int
    encoded_bits: int
    source: str


class Link(_Strict):
    """One link of the catalog: NVLink, NVSwitch, PCIe (bandwidth computed) or a network port."""

    id: str
    name: str
    kind: Literal["nvlink", "nvswitch", "pcie", "network"]
    scope: Literal["intra-node", "rack", "inter-node"]
    per_direction_gb_s: Sourced[float] | None = None
    total_gb_s: Sourced[float] | None = None
    pcie_generation: int | None = None
    pcie_lanes: int | None = None
    host_staged: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _bandwidth_given_once(self) -> Link:
        if self.kind == "pcie":
            if self.pcie_generation is None or self.pcie_lanes is None:
                raise ValueError(f"{self.id}: a PCIe link needs pcie_generation and pcie_lanes")
            if self.per_direction_gb_s is not None or self.total_gb_s is not None:
                raise ValueError(f"{self.id}: a PCIe link's bandwidth is computed, not stored")
        else:
            if self.per_direction_gb_s is None or self.total_gb_s is None:
                raise ValueError(f"{self.id}: needs per_direction_gb_s and total_gb_s")
            if self.host_staged:
                raise ValueError(f"{self.id}: only PCIe links can be host_staged")
        return self


class GpuTopology(_Strict):
    """How one catalog GPU connects to its peers inside a node."""

    id: str
    nvlink_link: str | None
    nvlink_domain_gpus: Sourced[int | None]
    max_gpus_per_node: Sourced[int]
    p2p_over_pcie: Sourced[bool]


class Measurement(_Strict):
    """A published measurement of what GPU-to-GPU traffic gets."""

    id: str
    setup: str
    quantity: str
    value: float
    unit: str
    link: str
    compare_to: Literal["per_direction", "total"] = "per_direction"
    source: str
    note: str | None = None


class InterconnectCatalog(_Strict):
    """``data/interconnect.yaml``."""

    schema_version: Literal[1]
    conventions: str
    sources: dict[str, Source]
    pcie_generations: list[PcieGeneration]
    host_staged_fraction: Sourced[float]
    links: list[Link]
    gpus: list[GpuTopology]
    measurements: list[Measurement]

    @model_validator(mode="after")
    def _consistent(self) -> InterconnectCatalog:
        for what, ids in (
            ("link", [x.id for x in self.links]),
            ("GPU", [g.id for g in self.gpus]),
            ("measurement", [m.id for m in self.measurements]),
            ("PCIe generation", [g.generation for g in self.pcie_generations]),
        ):
            dupes = sorted({str(i) for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} ids {dupes}")
        link_ids = {x.id for x in self.links}
        gens = {g.generation for g in self.pcie_generations}
        for g in self.gpus:
            if g.nvlink_link is not None and g.nvlink_link not in link_ids:
                raise ValueError(f"GPU {g.id}: unknown nvlink_link '{g.nvlink_link}'")
            if (g.nvlink_link is None) != (g.nvlink_domain_gpus.value is None):
                raise ValueError(
                    f"GPU {g.id}: nvlink_link and nvlink_domain_gpus must both be set or both null"
                )
        for m in self.measurements:
            if m.link not in link_ids:
                raise ValueError(f"measurement {m.id}: unknown link '{m.link}'")
        for x in self.links:
            if x.kind == "pcie" and x.pcie_generation not in gens:
                raise ValueError(
                    f"{x.id}: PCIe generation {x.pcie_generation} not in pcie_generations"
                )
        if not 0 < self.host_staged_fraction.value <= 1:
            raise ValueError("host_staged_fraction must be in (0, 1]")
        return self

    def source_ids(self) -> list[tuple[str, str]]:
        """(where, source id) for every figure of the file."""
        used = [(f"pcie_generations.{g.generation}", g.source) for g in self.pcie_generations]
        used.append(("host_staged_fraction", self.host_staged_fraction.source))
        for x in self.links:
            for name in ("per_direction_gb_s", "total_gb_s"):
                fig = getattr(x, name)
                if fig is not None:
                    used.append((f"links.{x.id}.{name}", fig.source))
        for g in self.gpus:
            for name in ("nvlink_domain_gpus", "max_gpus_per_node", "p2p_over_pcie"):
                used.append((f"gpus.{g.id}.{name}", getattr(g, name).source))
        used += [(f"measurements.{m.id}", m.source) for m in self.measurements]
        return used


@functools.cache
def _load(path: Path) -> InterconnectCatalog:
    cat = catalog.load_validated(path, InterconnectCatalog)
    known = set(cat.sources) | set(catalog.gpu_catalog().sources)
    missing = sorted(
        {f"{where}: source '{sid}'" for where, sid in cat.source_ids() if sid not in known}
    )
    if missing:
        raise InputError(f"{path}: undefined source ids: " + "; ".join(missing))
    return cat


def interconnect_catalog() -> InterconnectCatalog:
    """The validated interconnect catalog (cached per file path)."""
    return _load(paths.data_dir() / "interconnect.yaml")


def source(source_id: str) -> Source:
    """A source of ``data/interconnect.yaml`` or, failing that, of ``data/gpus.yaml``."""
    own = interconnect_catalog().sources
    return own[source_id] if source_id in own else catalog.gpu_catalog().sources[source_id]


# --- Links ------------------------------------------------------------------------------------


def _check_positive(name: str, value: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise InputError(f"{name}: must be a positive number (got {value!r})")


def pcie_per_direction_gb_s(generation: int, lanes: int) -> float:
    """PCIe bandwidth one way (GB/s) = transfer rate (GT/s) x lanes x payload / encoded bits / 8.

    PCIe 3.0-5.0 use 128b/130b encoding; a lane is a pair of simplex links, so this is per direction
    (PCIe 4.0 x16: 16 x 16 x 128/130 / 8 = 31.5 GB/s; the "64 GB/s" of marketing adds both directions).
    """
    gens = {g.generation: g for g in interconnect_catalog().pcie_generations}
    if generation not in gens:
        raise unknown("PCIe generation", "pcie_generation", str(generation), [str(g) for g in gens])
    _check_positive("pcie_lanes", lanes)
    g = gens[generation]
    return g.transfer_rate_gt_s * lanes * g.payload_bits / g.encoded_bits / units.BITS_PER_BYTE


def link_ids() -> list[str]:
    """All link ids in catalog order."""
    return [x.id for x in interconnect_catalog().links]


def get_link(link_id: str, key: str = "link") -> Link:
    """The catalog link ``link_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    for x in interconnect_catalog().links:
        if x.id == link_id:
            return x
    raise unknown("link", key, link_id, link_ids())


def link_per_direction_gb_s(link_id: str) -> float:
    """Per-direction bandwidth (GB/s) of a link. PCIe: computed from its generation; staged through
    host memory (P2P disabled): that times ``host_staged_fraction`` (data/interconnect.yaml)."""
    x = get_link(link_id)
    if x.kind != "pcie":
        return x.per_direction_gb_s.value
    bw = pcie_per_direction_gb_s(x.pcie_generation, x.pcie_lanes)
    return bw * interconnect_catalog().host_staged_fraction.value if x.host_staged else bw


def link_total_gb_s(link_id: str) -> float:
    """Both directions added (GB/s), the way NVLink and PCIe are marketed."""
    x = get_link(link_id)
    return 2 * link_per_direction_gb_s(link_id) if x.kind == "pcie" else x.total_gb_s.value


def link_source_ids(link_id: str) -> list[str]:
    """The source ids behind a link's bandwidth."""
    x = get_link(link_id)
    cat = interconnect_catalog()
    if x.kind == "pcie":
        gens = {g.generation: g.source for g in cat.pcie_generations}
        ids = [gens[x.pcie_generation]]
        return ids + ([cat.host_staged_fraction.source] if x.host_staged else [])
    return sorted({x.per_direction_gb_s.source, x.total_gb_s.source})


# --- GPUs and their tensor-parallel links -----------------------------------------------------


def gpu_topology(gpu_id: str, key: str = "gpu") -> GpuTopology:
    """The topology entry of a catalog GPU; unknown ids raise InputError naming the allowed ones."""
    catalog.get_gpu(gpu_id, key)
    for g in interconnect_catalog().gpus:
        if g.id == gpu_id:
            return g
    raise unknown(
        "GPU in data/interconnect.yaml", key, gpu_id, [g.id for g in interconnect_catalog().gpus]
    )


def max_gpus_per_node(gpu_id: str) -> int:
    """GPUs one node holds, hence the largest tensor-parallel degree inside a node."""
    return gpu_topology(gpu_id).max_gpus_per_node.value


def nvlink_link_id(gpu_id: str) -> str | None:
    """The catalog NVLink/NVSwitch link of a GPU (``nvlink_link`` in data/interconnect.yaml; None without
    NVLink). Its per-direction figure must equal the GPU's ``nvlink_bandwidth_per_direction_gb_s`` spec."""
    link_id = gpu_topology(gpu_id).nvlink_link
    spec = catalog.get_gpu(gpu_id).spec("nvlink_bandwidth_per_direction_gb_s")
    if (link_id is None) != (spec is None) or (
        link_id is not None and link_per_direction_gb_s(link_id) != spec
    ):
        raise InputError(
            f"data/interconnect.yaml: GPU '{gpu_id}': nvlink_link {link_id!r} disagrees with its "
            f"nvlink_bandwidth_per_direction_gb_s {spec!r} in data/gpus.yaml"
        )
    return link_id


def pcie_link_id(gpu_id: str) -> str:
    """The PCIe link a GPU's traffic takes outside its NVLink domain: its generation and lanes
    (``pcie_generation``, ``pcie_lanes`` in data/gpus.yaml), staged through host memory where P2P
    over PCIe does not work."""
    gpu = catalog.get_gpu(gpu_id)
    staged = not gpu_topology(gpu_id).p2p_over_pcie.value
    link_id = f"pcie{gpu.spec('pcie_generation')}-x{gpu.spec('pcie_lanes')}" + (
        "-host-staged" if staged else ""
    )
    get_link(link_id, f"PCIe link of {gpu_id}")
    return link_id


@dataclass(frozen=True)
class TpLink:
    """The slowest link a tensor-parallel group of ``tp`` GPUs crosses (None-like for tp = 1)."""

    gpu: str
    tp: int
    link_id: str | None
    per_direction_gb_s: float

    @property
    def name(self) -> str:
        return "none (one GPU)" if self.link_id is None else get_link(self.link_id).name


def check_tp(gpu_id: str, tp: int, key: str = "tp") -> None:
    """A TP degree must be a positive integer no larger than the GPUs one node holds."""
    limit = max_gpus_per_node(gpu_id)
    if isinstance(tp, bool) or not isinstance(tp, (int, np.integer)) or not 1 <= tp <= limit:
        raise InputError(
            f"{key}: tensor-parallel degree {tp!r} does not fit one {gpu_id} node, which holds {limit} GPUs; "
            f"allowed: {', '.join(str(t) for t in range(1, limit + 1))}"
        )


def tp_link(gpu_id: str, tp: int, key: str = "tp") -> TpLink:
    """The link a TP group of ``tp`` GPUs of one type is limited by: the GPU's NVLink (per-direction
    figure from data/gpus.yaml) while the group fits its NVLink domain (8 on an NVSwitch board, 2 with
    bridges), else its PCIe link (a ring through bridged pairs still crosses PCIe)."""
    catalog.get_gpu(gpu_id, "gpu")
    check_tp(gpu_id, tp, key)
    if tp == 1:
        return TpLink(gpu_id, 1, None, math.inf)
    nv = nvlink_link_id(gpu_id)
    domain = gpu_topology(gpu_id).nvlink_domain_gpus.value
    if nv is not None and domain is not None and tp <= domain:
        bw = catalog.get_gpu(gpu_id).spec("nvlink_bandwidth_per_direction_gb_s")
        return TpLink(gpu_id, tp, nv, bw)
    pcie = pcie_link_id(gpu_id)
    return TpLink(gpu_id, tp, pcie, link_per_direction_gb_s(pcie))


def check_tp_degrees(p, gpu_ids: list[str] | None = None) -> None:
    """Every degree of ``p.tp_degrees`` must fit one node of every GPU of ``gpu_ids`` (default
    ``p.tp_gpus``); otherwise InputError naming ``tp_degrees`` and the allowed degrees."""
    for gid in gpu_ids if gpu_ids is not None else p.tp_gpus:
        for tp in p.tp_degrees:
            check_tp(gid, tp, "tp_degrees")


# --- All-reduce time -------------------------------------------------------------------------


def allreduce_time_us(
    message_bytes: float,
    n_gpus: int,
    per_direction_gb_s: float,
    hop_latency_us: float,
    base_latency_us: float = 0.0,
    algorithm: str = "ring",
) -> float:
    """All-reduce time (us) of ``message_bytes`` over ``n_gpus`` (see the module docstring):

    ring: alpha0 + 2(n-1) alpha + 2(n-1)/n S/B; tree: alpha0 + 2 ceil(log2 n) alpha + 2 S/B; 0 for n = 1.
    """
    if algorithm not in ALGORITHMS:
        raise unknown("all-reduce algorithm", "algorithm", algorithm, ALGORITHMS)
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, (int, np.integer)) or n_gpus < 1:
        raise InputError(f"n_gpus: must be a positive integer (got {n_gpus!r})")
    _check_positive("message_bytes", message_bytes)
    _check_positive("per_direction_gb_s", per_direction_gb_s)
    for name, v in (("hop_latency_us", hop_latency_us), ("base_latency_us", base_latency_us)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise InputError(f"{name}: must be a number >= 0 (got {v!r})")
    if n_gpus == 1:
        return 0.0
    bytes_per_us = per_direction_gb_s * units.BYTES_PER_GB / units.US_PER_S
    if algorithm == "ring":
        steps = 2 * (n_gpus - 1)
        wire_bytes = 2 * (n_gpus - 1) / n_gpus * message_bytes
    else:
        steps = 2 * math.ceil(math.log2(n_gpus))
        wire_bytes = 2 * message_bytes
    return base_latency_us + steps * hop_latency_us + wire_bytes / bytes_per_us


def article_allreduce_time_us(message_bytes: float, bandwidth_gb_s: float) -> float:
    """The article's model: size / bandwidth (us), whatever bandwidth figure it is given."""
    _check_positive("message_bytes", message_bytes)
    _check_positive("bandwidth_gb_s", bandwidth_gb_s)
    return message_bytes / (bandwidth_gb_s * units.BYTES_PER_GB) * units.US_PER_S


def bus_bandwidth_gb_s(message_bytes: float, time_us: float, n_gpus: int) -> float:
    """nccl-tests bus bandwidth of an all-reduce (GB/s): algbw x 2(n-1)/n with algbw = S / t."""
    _check_positive("time_us", time_us)
    algbw = message_bytes / (time_us / units.US_PER_S) / units.BYTES_PER_GB
    return algbw * 2 * (n_gpus - 1) / n_gpus


def gpu_allreduce_time_us(
    p, gpu_id: str, tp: int, message_bytes: float, algorithm: str = "ring"
) -> float:
    """All-reduce time (us) over the TP link of ``tp`` GPUs of type ``gpu_id``, with the parameters'
    per-step and base latencies."""
    link = tp_link(gpu_id, tp)
    if tp == 1:
        return 0.0
    return allreduce_time_us(
        message_bytes,
        tp,
        link.per_direction_gb_s,
        p.allreduce_latency_us,
        p.allreduce_base_latency_us,
        algorithm,
    )


# --- Tensor-parallel efficiency --------------------------------------------------------------


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
    _check_positive("batch", batch)
    _check_positive("tokens", tokens)
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
        _check_positive(name, v)
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
    p,
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


def fits_in_memory(p, gpu_id: str, tp: int, model_id: str, weights: str) -> bool:
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


# --- Tables, figures and captions for the notebook --------------------------------------------


def links_table() -> pd.DataFrame:
    """The link catalog: per-direction and total bandwidth (GB/s) with their sources."""
    rows = []
    for x in interconnect_catalog().links:
        rows.append(
            {
                "link": x.id,
                "name": x.name,
                "kind": x.kind,
                "scope": x.scope,
                "per_direction_gb_s": link_per_direction_gb_s(x.id),
                "total_gb_s": link_total_gb_s(x.id),
                "sources": ", ".join(link_source_ids(x.id)),
            }
        )
    return pd.DataFrame(rows).set_index("link")


def links_caption() -> str:
    """One sentence quoting the spread between the fastest intra-node link and staged PCIe."""
    t = links_table()
    intra = t[t["scope"] == "intra-node"]["per_direction_gb_s"]
    return (
        f"Per direction, intra-node links range from {intra.min():.2f} GB/s ({intra.idxmin()}) to "
        f"{intra.max():.0f} GB/s ({intra.idxmax()}), a factor of {intra.max() / intra.min():.0f}; "
        f"PCIe 4.0 x16 carries {link_per_direction_gb_s('pcie4-x16'):.1f} GB/s each way, "
        f"{link_total_gb_s('pcie4-x16'):.0f} GB/s both ways together."
    )


def gpu_link_table(p) -> pd.DataFrame:
    """Every catalog GPU: its NVLink (spec fields), NVLink domain, PCIe, P2P, GPUs per node, and the
    link (per-direction GB/s) a TP group of each of ``p.tp_degrees`` is limited by."""
    check_tp_degrees(p, catalog.gpu_ids())
    rows = []
    for gid in catalog.gpu_ids():
        gpu = catalog.get_gpu(gid)
        topo = gpu_topology(gid)
        row = {
            "gpu": gid,
            "nvlink_per_direction_gb_s": gpu.spec("nvlink_bandwidth_per_direction_gb_s"),
            "nvlink_total_gb_s": gpu.spec("nvlink_bandwidth_total_gb_s"),
            "nvlink_domain_gpus": topo.nvlink_domain_gpus.value,
            "pcie": f"{gpu.spec('pcie_generation')}.0 x{gpu.spec('pcie_lanes')}",
            "p2p_over_pcie": topo.p2p_over_pcie.value,
            "pcie_per_direction_gb_s": link_per_direction_gb_s(pcie_link_id(gid)),
            "max_gpus_per_node": topo.max_gpus_per_node.value,
        }
        for tp in p.tp_degrees:
            link = tp_link(gid, tp)
            row[f"TP {tp} link"] = link.link_id
            row[f"TP {tp} per_direction_gb_s"] = link.per_direction_gb_s
        rows.append(row)
    return pd.DataFrame(rows).set_index("gpu").astype(object).replace({np.nan: None})


def gpu_link_caption(p) -> str:
    """One sentence: the TP link of the largest degree for the slowest and fastest GPU."""
    tp = max(p.tp_degrees)
    col = f"TP {tp} per_direction_gb_s"
    t = gpu_link_table(p)[col].dropna().astype(float)
    staged = [g for g in catalog.gpu_ids() if not gpu_topology(g).p2p_over_pcie.value]
    return (
        f"At TP {tp}, per-direction bandwidth runs from {t.min():.2f} GB/s ({t.idxmin()}) to {t.max():.0f} GB/s "
        f"({t.idxmax()}); {', '.join(staged)} have no P2P over PCIe, so their traffic is staged through host "
        f"memory at {interconnect_catalog().host_staged_fraction.value:.0%} of the PCIe rate."
    )


def measurements_table() -> pd.DataFrame:
    """Published measurements of GPU-to-GPU traffic next to the model's line rate of the same link: per
    direction for one-way copies and bus bandwidths, both directions for two-way copies (``compare_to``)."""
    rows = []
    for m in interconnect_catalog().measurements:
        if m.compare_to == "per_direction":
            rate = link_per_direction_gb_s(m.link)
        else:
            rate = link_total_gb_s(m.link)
        rows.append(
            {
                "measurement": m.id,
                "setup": m.setup,
                "quantity": m.quantity,
                "measured": m.value,
                "unit": m.unit,
                "model link": m.link,
                "model compares": m.compare_to,
                "model gb_s": rate,
                "measured / model": m.value / rate if m.unit == "GB/s" else None,
                "source": m.source,
            }
        )
    return pd.DataFrame(rows).set_index("measurement").astype(object).replace({np.nan: None})


def measurements_caption() -> str:
    """One sentence on how GeForce P2P measurements compare with the PCIe rate."""
    t = measurements_table()
    staged = t[t["model link"].str.contains("host-staged") & (t["unit"] == "GB/s")]
    pcie4 = link_per_direction_gb_s("pcie4-x16")
    uni = t.loc["rtx4090-staged-unidirectional", "measured"]
    both = t.loc["rtx4090-staged-bidirectional", "measured"]
    return (
        f"With P2P disabled, six RTX 4090s copied {uni:.0f} GB/s one way but {both:.0f} GB/s both ways together, "
        f"{both / (2 * pcie4):.0%} of PCIe 4.0 x16's {2 * pcie4:.0f} GB/s; the {len(staged)} staged measurements "
        f"land between {staged['measured / model'].min():.2f} and {staged['measured / model'].max():.2f} of the "
        "model's staged rate."
    )


def _article_messages() -> list[int]:
    """The all-reduce message sizes (bytes) of the article's claims, smallest first."""
    return sorted({int(c.check["message_bytes"]) for c in claims.claims(kind="allreduce_time")})


def _article_bandwidths() -> list[float]:
    """The bandwidth figures (GB/s) the article divides by in its all-reduce claims, largest first."""
    found = {c.check.get("article_bandwidth_gb_s") for c in claims.claims(kind="allreduce_time")}
    return sorted((b for b in found if b is not None), reverse=True)


def _messages(p) -> list[tuple[str, float]]:
    """Message sizes of the all-reduce table: the article's (smallest and largest) and the TP model's
    decode and prefill activations, smallest first."""
    model = catalog.get_model(p.tp_model, "tp_model")
    art = _article_messages()
    rows = [
        (f"article: {art[0]:,} B", art[0]),
        (f"{p.tp_model} decode, batch 1", activation_allreduce_bytes(model, 1, 1)),
        (
            f"{p.tp_model} prefill, {p.tp_prefill_tokens} tokens",
            activation_allreduce_bytes(model, 1, p.tp_prefill_tokens),
        ),
        (f"article: {art[-1]:,} B", art[-1]),
    ]
    return sorted(rows, key=lambda r: r[1])


def allreduce_table(p) -> pd.DataFrame:
    """All-reduce time (us) per message and GPU: the article's size / bandwidth (with the TP-2 link's
    per-direction figure) next to the ring and tree alpha-beta model for each of ``p.tp_degrees``."""
    check_tp_degrees(p)
    rows = []
    for label, size in _messages(p):
        for gid in p.tp_gpus:
            link2 = tp_link(gid, 2)
            row = {
                "message": label,
                "gpu": gid,
                "message_bytes": size,
                "TP 2 link": link2.link_id,
                "per_direction_gb_s": link2.per_direction_gb_s,
                "size / bandwidth (us)": article_allreduce_time_us(size, link2.per_direction_gb_s),
            }
            for algo in ALGORITHMS:
                for tp in p.tp_degrees:
                    row[f"{algo}, {tp} GPUs (us)"] = gpu_allreduce_time_us(p, gid, tp, size, algo)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["message", "gpu"])


def allreduce_caption(p) -> str:
    """One sentence: how far size / bandwidth misses for the smallest and largest message."""
    t = allreduce_table(p)
    tp = max(p.tp_degrees)
    if tp == 1:
        return "With TP 1 (one GPU per model) there is no all-reduce; the times are zero."
    small = t.xs(_messages(p)[0][0], level="message")
    small_ratio = (
        small[f"ring, {min(d for d in p.tp_degrees if d > 1)} GPUs (us)"]
        / small["size / bandwidth (us)"]
    ).min()
    size = _messages(p)[-1][1]
    large_ratio = max(
        gpu_allreduce_time_us(p, g, tp, size)
        / article_allreduce_time_us(size, tp_link(g, tp).per_direction_gb_s)
        for g in p.tp_gpus
        if tp <= max_gpus_per_node(g)
    )
    return (
        f"For the {_messages(p)[0][1]:,.0f}-byte message, latency makes the ring at least {small_ratio:.0f}x slower "
        f"than size / bandwidth; for {size:,.0f} bytes the bandwidth term dominates, and {tp} GPUs take up to "
        f"{large_ratio:.2f}x size / bandwidth on the same link because each GPU moves 2({tp}-1)/{tp} of the message."
    )


def allreduce_figure(p):
    """All-reduce time (us) against message size (bytes), log-log, one panel per TP degree, one line
    per GPU's link (ring), with the article's size / bandwidth at its two quoted figures."""
    check_tp_degrees(p)
    sizes = np.logspace(10, 30, 81, base=2)
    degrees = [tp for tp in p.tp_degrees if tp > 1] or [2]
    fig, axes = new_row(
        "All-reduce time: alpha-beta ring vs the article's size / bandwidth",
        [f"{tp} GPUs" for tp in degrees],
        "message size (bytes)",
        "all-reduce time (us)",
    )
    for ax, tp in zip(axes, degrees, strict=True):
        for i, gid in enumerate(p.tp_gpus):
            # gpu_allreduce_time_us (tp > 1 here), with the link looked up once per line
            link = tp_link(gid, tp)
            times = [
                allreduce_time_us(
                    float(s),
                    tp,
                    link.per_direction_gb_s,
                    p.allreduce_latency_us,
                    p.allreduce_base_latency_us,
                )
                for s in sizes
            ]
            ax.loglog(sizes, times, color=colour(i), label=f"{gid} ({link.link_id})")
        for style, bw in zip((":", "--", "-."), _article_bandwidths(), strict=False):
            ax.loglog(
                sizes,
                [article_allreduce_time_us(float(s), bw) for s in sizes],
                color="#555555",
                linestyle=style,
                linewidth=1,
                label=f"article: size / {bw:g} GB/s",
            )
        ax.legend(fontsize=6)
    return fig


def allreduce_figure_caption(p) -> str:
    """One sentence: the latency floor at the smallest degree and the message size where the bandwidth
    term catches up with it (floor x B / (2(n-1)/n)) on the slowest and fastest link."""
    tp = max(2, min(p.tp_degrees))
    floor = p.allreduce_base_latency_us + 2 * (tp - 1) * p.allreduce_latency_us
    rates = [tp_link(g, tp).per_direction_gb_s for g in p.tp_gpus if tp <= max_gpus_per_node(g)]
    cross = [
        floor / units.US_PER_S * b * units.BYTES_PER_GB / (2 * (tp - 1) / tp)
        for b in (min(rates), max(rates))
    ]
    return (
        f"At {tp} GPUs every link sits on a {floor:.1f} us latency floor until the bandwidth term matches it, at "
        f"{cross[0] / 1e3:,.0f} KB on the slowest link and {cross[1] / 1e6:,.1f} MB on the fastest; the article's "
        "size / bandwidth lines ignore that floor and fall toward zero."
    )


def ratio_table() -> pd.DataFrame:
    """The article's 28x NVLink / PCIe ratio next to like-for-like ratios (H100 SXM vs RTX 4090)."""
    nv_total, nv_dir = link_total_gb_s("nvlink4-h100"), link_per_direction_gb_s("nvlink4-h100")
    pc_total, pc_dir = link_total_gb_s("pcie4-x16"), link_per_direction_gb_s("pcie4-x16")
    staged = link_per_direction_gb_s(pcie_link_id("rtx-4090"))
    art = claims.claims(kind="link_ratio")[0].check
    rows = [
        (
            "article: NVLink total / PCIe 4.0 per direction",
            art["article_numerator_gb_s"],
            art["article_denominator_gb_s"],
        ),
        ("NVLink total / PCIe 4.0 total", nv_total, pc_total),
        ("NVLink per direction / PCIe 4.0 per direction", nv_dir, pc_dir),
        ("NVLink per direction / RTX 4090's staged PCIe per direction", nv_dir, staged),
    ]
    return pd.DataFrame(
        [
            {"comparison": c, "numerator_gb_s": a, "denominator_gb_s": b, "ratio": a / b}
            for c, a, b in rows
        ]
    ).set_index("comparison")


def ratio_caption() -> str:
    """One sentence: the article's ratio against the like-for-like one."""
    t = ratio_table()["ratio"]
    return (
        f"The article's {t.iloc[0]:.0f}x divides a two-way figure by a one-way one; like for like the NVLink 4 / "
        f"PCIe 4.0 x16 ratio is {t.iloc[2]:.1f}x, and against the RTX 4090's staged path it is {t.iloc[3]:.0f}x."
    )


def tp_efficiency_table(p) -> pd.DataFrame:
    """TP efficiency (%) of ``p.tp_model`` at ``p.tp_weights`` per GPU and TP degree: decode at each
    batch of ``p.tp_decode_batches`` and prefill of ``p.tp_prefill_tokens`` tokens, with per-layer
    compute and communication (us) at decode batch 1 and at prefill."""
    check_tp_degrees(p)
    rows = []
    for gid in p.tp_gpus:
        for tp in p.tp_degrees:
            d1 = tp_step(p, gid, tp, 1, 1)
            pre = tp_step(p, gid, tp, 1, p.tp_prefill_tokens)
            row = {
                "gpu": gid,
                "tp": tp,
                "link": d1.link.link_id,
                "per_direction_gb_s": d1.link.per_direction_gb_s,
                "fits in memory": fits_in_memory(p, gid, tp, p.tp_model, p.tp_weights),
                "decode b=1 compute (us)": d1.compute_us,
                "decode b=1 comm (us)": d1.comm_us,
            }
            for b in p.tp_decode_batches:
                row[f"decode b={b} (%)"] = 100 * tp_step(p, gid, tp, b, 1).efficiency
            row[f"prefill {p.tp_prefill_tokens} compute (us)"] = pre.compute_us
            row[f"prefill {p.tp_prefill_tokens} comm (us)"] = pre.comm_us
            row[f"prefill {p.tp_prefill_tokens} (%)"] = 100 * pre.efficiency
            rows.append(row)
    return pd.DataFrame(rows).set_index(["gpu", "tp"])


def tp_efficiency_caption(p) -> str:
    """One sentence: best and worst decode batch-1 and prefill efficiency at the largest degree."""
    t = tp_efficiency_table(p)
    tp = max(p.tp_degrees)
    if tp == 1:
        return "At TP 1 a single GPU holds the model: there is no all-reduce, so no efficiency is lost."
    batch = min(p.tp_decode_batches)
    at = t.xs(tp, level="tp")
    d = at[f"decode b={batch} (%)"]
    pre = at[f"prefill {p.tp_prefill_tokens} (%)"]
    latency_us = ALLREDUCES_PER_LAYER * (
        p.allreduce_base_latency_us + 2 * (tp - 1) * p.allreduce_latency_us
    )
    comm_us = pd.Series([tp_step(p, g, tp, batch, 1).comm_us for g in at.index], index=at.index)
    share = latency_us / comm_us
    return (
        f"At TP {tp}, decode at batch {batch} keeps {d.min():.0f}% ({d.idxmin()}) to "
        f"{d.max():.0f}% ({d.idxmax()}) of the ideal speed-up, with latency {share.min():.0%}-{share.max():.0%} of "
        f"its all-reduce time; a {p.tp_prefill_tokens}-token prefill keeps {pre.min():.0f}% ({pre.idxmin()}) to "
        f"{pre.max():.0f}% ({pre.idxmax()})."
    )


def tp_efficiency_figure(p):
    """TP efficiency (%) against decode batch, one panel per TP degree, one line per GPU."""
    fig, axes = new_row(
        f"Tensor-parallel efficiency, {p.tp_model} {p.tp_weights} decode",
        [f"TP {tp}" for tp in p.tp_degrees],
        "batch (sequences)",
        "TP efficiency (%)",
    )
    check_tp_degrees(p)
    batches = np.asarray(p.tp_decode_batches)
    for ax, tp in zip(axes, p.tp_degrees, strict=True):
        for i, gid in enumerate(p.tp_gpus):
            eff = [100 * tp_step(p, gid, tp, int(b), 1).efficiency for b in batches]
            ax.semilogx(batches, eff, marker="o", markersize=3, color=colour(i), label=gid, base=2)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
    return fig


def tp_efficiency_figure_caption(p) -> str:
    """One sentence: how efficiency moves from the smallest to the largest batch at the largest degree."""
    t = tp_efficiency_table(p).xs(max(p.tp_degrees), level="tp")
    lo, hi = f"decode b={min(p.tp_decode_batches)} (%)", f"decode b={max(p.tp_decode_batches)} (%)"
    change = (t[hi] - t[lo]).round(1)
    return (
        f"From batch {min(p.tp_decode_batches)} to {max(p.tp_decode_batches)} at TP {max(p.tp_degrees)}, efficiency "
        f"changes by {change.min():+.0f} ({change.idxmin()}) to {change.max():+.0f} ({change.idxmax()}) points: decode "
        "reads the same weights at any batch while the all-reduced activations grow with it, which costs most on "
        "the slowest links."
    )


def cluster_table(p) -> pd.DataFrame:
    """The "RTX 4090 cluster" argument for ``p.tp_model``: per weight precision and catalog GPU, the GPUs
    needed (memory.gpus_needed at the memory section's batch, context and KV precision), the link at that
    degree, decode batch-1 and prefill TP efficiency (%), and the decode time per token (ms) over all layers."""
    ov = memory.Overheads.from_params(p)
    model = catalog.get_model(p.tp_model, "tp_model")
    rows = []
    for prec in p.tp_cluster_precisions:
        for gid in catalog.gpu_ids():
            need = memory.gpus_needed(
                model,
                prec,
                p.memory_kv_cache,
                p.memory_batch_size,
                p.memory_context_tokens,
                catalog.get_gpu(gid),
                ov,
            )
            row = {"weights": prec, "gpu": gid, "gpus_needed": need}
            if need is None or need > max_gpus_per_node(gid):
                row.update(
                    {
                        "link": None,
                        "decode b=1 (%)": None,
                        f"prefill {p.tp_prefill_tokens} (%)": None,
                        "decode ms/token": None,
                    }
                )
            else:
                d = tp_step(p, gid, need, 1, 1, weights=prec)
                pre = tp_step(p, gid, need, 1, p.tp_prefill_tokens, weights=prec)
                row.update(
                    {
                        "link": d.link.link_id,
                        "decode b=1 (%)": 100 * d.efficiency,
                        f"prefill {p.tp_prefill_tokens} (%)": 100 * pre.efficiency,
                        "decode ms/token": model.num_hidden_layers
                        * (d.compute_us + d.comm_us)
                        / units.US_PER_MS,
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows).set_index(["weights", "gpu"]).astype(object).replace({np.nan: None})


def cluster_caption(p) -> str:
    """One sentence: GPUs needed and decode time at the first precision for the article's two GPUs."""
    t = cluster_table(p)
    prec = p.tp_cluster_precisions[0]
    h, r = t.loc[(prec, "h100-sxm")], t.loc[(prec, "rtx-4090")]
    if h["gpus_needed"] is None or r["gpus_needed"] is None:
        return f"{p.tp_model} at {prec} does not fit one node of H100s or RTX 4090s."
    return (
        f"{p.tp_model} at {prec} needs {r['gpus_needed']} RTX 4090s (TP must divide the heads and not all memory "
        f"is usable) or {h['gpus_needed']} H100s; their decode takes {r['decode ms/token']:.1f} and "
        f"{h['decode ms/token']:.1f} ms per token, at {r['decode b=1 (%)']:.0f}% and {h['decode b=1 (%)']:.0f}% TP efficiency."
    )


def article_tp_table(p) -> pd.DataFrame:
    """The article's 4-configuration table (claims of kind tp_*) recomputed two ways: its own formula with
    its inputs, and with catalog figures (datasheet FP16 peak for its 8192^3 GEMM, alpha-beta ring on the
    real link for its 128 MiB all-reduce), plus the activation-based model of a Llama-2-70B layer."""
    by_config: dict[str, dict] = {}
    for c in claims.claims(section="interconnect"):
        if c.check.get("kind") not in (
            "tp_gemm_per_gpu",
            "tp_comm",
            "tp_step_total",
            "tp_efficiency",
        ):
            continue
        entry = by_config.setdefault(c.check["config"], {"check": c.check})
        entry[c.check["kind"]] = c.value
    rows = []
    for config, e in by_config.items():
        chk = e["check"]
        gemm_ms, comm_ms = chk["per_gpu_gemm_ms"], chk["comm_ms"]
        cat_gemm = _gemm_ms_at_peak(chk) / chk["tp"]
        cat_comm = (
            gpu_allreduce_time_us(p, chk["gpu"], chk["tp"], chk["message_bytes"]) / units.US_PER_MS
        )
        prefill_tokens = int(
            chk["message_bytes"] // (catalog.get_model(chk["model"]).hidden_size * ACTIVATION_BYTES)
        )
        rows.append(
            {
                "configuration": config,
                "article per-GPU GEMM (ms)": e.get("tp_gemm_per_gpu"),
                "article comm (ms)": e.get("tp_comm"),
                "article total (ms)": e.get("tp_step_total"),
                "article efficiency (%)": e.get("tp_efficiency"),
                "its formula, its inputs (%)": 100
                * article_tp_efficiency(gemm_ms * chk["tp"], comm_ms, chk["tp"]),
                "GEMM at datasheet peak (ms)": cat_gemm,
                "comm, ring on catalog link (ms)": cat_comm,
                "catalog figures (%)": 100 * tp_efficiency(cat_gemm, cat_comm),
                f"Llama layer, prefill {prefill_tokens} (%)": 100
                * tp_step(
                    p, chk["gpu"], chk["tp"], 1, prefill_tokens, chk["model"], chk["weights"]
                ).efficiency,
                "Llama layer, decode b=1 (%)": 100
                * tp_step(p, chk["gpu"], chk["tp"], 1, 1, chk["model"], chk["weights"]).efficiency,
            }
        )
    return pd.DataFrame(rows).set_index("configuration")


def article_tp_caption(p) -> str:
    """One sentence: the article's efficiencies against the catalog recomputation."""
    t = article_tp_table(p)
    art, cat = t["article efficiency (%)"], t["catalog figures (%)"]
    worst = (art - cat).abs().idxmax()
    off = (art - t["its formula, its inputs (%)"]).abs().max()
    layer = t["Llama layer, decode b=1 (%)"]
    return (
        f"Its formula reproduces its efficiencies within {off:.1f} points, but with catalog figures its own "
        f"GEMM-plus-all-reduce scenario gives {cat.min():.0f}-{cat.max():.0f}% instead of {art.min():.0f}-"
        f"{art.max():.0f}% (furthest apart for {worst}: {art[worst]:.0f}% vs {cat[worst]:.0f}%), and a real "
        f"Llama layer at batch-1 decode keeps {layer.min():.0f}-{layer.max():.0f}%."
    )


def audit_table() -> pd.DataFrame:
    """This section's claims with the audit's recomputation and verdict."""
    from gpucompare import audit

    t = audit.audit_table("interconnect")
    return t[["seed_value", "computed_value", "unit", "verdict", "explanation"]]


def audit_caption() -> str:
    """One sentence counting verdicts."""
    counts = audit_table()["verdict"].value_counts()
    parts = [f"{counts.get(v, 0)} {v}" for v in ("ok", "wrong", "misleading", "unverifiable")]
    return f"Of the article's {int(counts.sum())} interconnect figures: " + ", ".join(parts) + "."


def sources_frame() -> pd.DataFrame:
    """Every source of data/interconnect.yaml (its own table, then the data/gpus.yaml sources its figures
    cite), one row per source (sorted by id)."""
    cat = interconnect_catalog()
    used = set(cat.sources) | {sid for _, sid in cat.source_ids()}
    return catalog.sources_frame({**catalog.gpu_catalog().sources, **cat.sources}, used)


# --- Claims audit -----------------------------------------------------------------------------


def _defaults():
    from gpucompare import params

    return params.validate(params.defaults_dict(), str(params.default_file()))


def _to_unit_us(value: float, unit: str) -> float:
    if unit == "us":
        return value
    if unit == "ms":
        return value * units.US_PER_MS
    raise InputError(f"claim unit '{unit}': allowed for times: ms, us")


def _gemm_ms_at_peak(chk: dict) -> float:
    """2 x M x N x K at the GPU's datasheet dense peak (check ``field``), in ms."""
    flop = units.FLOPS_PER_FMA * chk["m"] * chk["n"] * chk["k"]
    peak = catalog.get_gpu(chk["gpu"]).spec(chk.get("field", "fp16_tensor_fp32acc_tflops"))
    return flop / (peak * units.FLOPS_PER_TFLOPS) * units.US_PER_S / units.US_PER_MS


def _check_link_bandwidth(c):
    """A link figure against the catalog; a figure that is the other direction's is wrong, and says so."""
    from gpucompare.audit import Finding, relative_verdict

    link, direction = c.check["link"], c.check["direction"]
    figures = {"per_direction": link_per_direction_gb_s(link), "total": link_total_gb_s(link)}
    computed = figures[direction]
    verdict = relative_verdict(float(c.value), computed, LINK_TOLERANCE)
    why = f"{get_link(link).name}: {figures['per_direction']:.4g} GB/s per direction, {figures['total']:.4g} total"
    other = "total" if direction == "per_direction" else "per_direction"
    if (
        verdict == "wrong"
        and relative_verdict(float(c.value), figures[other], LINK_TOLERANCE) == "ok"
    ):
        why += f"; {c.value} is the {other.replace('_', ' ')} figure, labelled {direction.replace('_', ' ')}"
    return Finding(computed, verdict, why)


def _check_link_ratio(c):
    """A bandwidth ratio: like for like (per direction / per direction) against the article's, which is
    misleading when its own arithmetic holds but divides a total by a per-direction figure."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    like = link_per_direction_gb_s(chk["numerator_link"]) / link_per_direction_gb_s(
        chk["denominator_link"]
    )
    own = chk["article_numerator_gb_s"] / chk["article_denominator_gb_s"]
    num = _check_link_bandwidth_value(chk["numerator_link"], chk["article_numerator_gb_s"])
    den = _check_link_bandwidth_value(chk["denominator_link"], chk["article_denominator_gb_s"])
    why = (
        f"its arithmetic {chk['article_numerator_gb_s']} / {chk['article_denominator_gb_s']} = {own:.1f}; but "
        f"{chk['article_numerator_gb_s']} is {num} and {chk['article_denominator_gb_s']} is {den}: per direction "
        f"{link_per_direction_gb_s(chk['numerator_link']):.4g} / {link_per_direction_gb_s(chk['denominator_link']):.4g} = {like:.1f}x"
    )
    if relative_verdict(float(c.value), like, LINK_TOLERANCE) == "ok":
        return Finding(like, "ok", why)
    verdict = (
        "misleading" if relative_verdict(float(c.value), own, LINK_TOLERANCE) == "ok" else "wrong"
    )
    return Finding(like, verdict, why)


def _check_link_bandwidth_value(link_id: str, value: float) -> str:
    """Which figure of a link ``value`` is: 'the per-direction figure', 'the total' or 'neither'."""
    from gpucompare.audit import relative_verdict

    if relative_verdict(value, link_per_direction_gb_s(link_id), LINK_TOLERANCE) == "ok":
        return f"{link_id}'s per-direction figure"
    if relative_verdict(value, link_total_gb_s(link_id), LINK_TOLERANCE) == "ok":
        return f"{link_id}'s total (both directions)"
    return f"neither figure of {link_id}"


def _check_allreduce_time(c):
    """An all-reduce time against the alpha-beta ring on the GPU's real TP link (default latencies).
    Right time from a wrong bandwidth figure (``article_bandwidth_gb_s`` vs ``article_link``) is misleading."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    p = _defaults()
    size = chk["message_bytes"]
    us = gpu_allreduce_time_us(p, chk["gpu"], chk["tp"], size)
    link = tp_link(chk["gpu"], chk["tp"])
    computed = us / (units.US_PER_MS if c.unit == "ms" else 1)
    size_only = article_allreduce_time_us(size, link.per_direction_gb_s) / (
        units.US_PER_MS if c.unit == "ms" else 1
    )
    verdict = relative_verdict(_to_unit_us(float(c.value), c.unit), us, TIME_TOLERANCE)
    why = (
        f"{size:,} B over {chk['tp']} x {chk['gpu']} ({link.link_id}, {link.per_direction_gb_s:.4g} GB/s per direction): "
        f"ring {computed:.4g} {c.unit} with {p.allreduce_base_latency_us} + {2 * (chk['tp'] - 1)} x "
        f"{p.allreduce_latency_us} us latency; size / bandwidth alone {size_only:.4g} {c.unit}"
    )
    stated = chk.get("article_bandwidth_gb_s")
    if stated is not None:
        named = chk["article_link"]
        right = link_per_direction_gb_s(named)
        if relative_verdict(stated, right, LINK_TOLERANCE) == "wrong":
            why += f"; its {stated} GB/s is not {named}'s per-direction {right:.4g} GB/s"
            if verdict == "ok":
                verdict = "misleading"
    return Finding(computed, verdict, why)


def _check_gemm_time(c):
    """A GEMM time against 2 M N K at the article's own measured TFLOPS for that shape; the datasheet
    peak's time is given too."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    flop = units.FLOPS_PER_FMA * chk["m"] * chk["n"] * chk["k"]
    own = flop / (chk["article_tflops"] * units.FLOPS_PER_TFLOPS) * units.US_PER_S / units.US_PER_MS
    peak = catalog.get_gpu(chk["gpu"]).spec(chk["field"])
    return Finding(
        own,
        relative_verdict(float(c.value), own, TIME_TOLERANCE),
        f"2 x {chk['m']} x {chk['n']} x {chk['k']} = {flop:.4g} FLOP at its own {chk['article_tflops']} TFLOPS "
        f"(its GEMM table) = {own:.3g} ms; at the datasheet {peak} TFLOPS = {_gemm_ms_at_peak(chk):.3g} ms",
    )


def _check_tp_gemm_per_gpu(c):
    """A per-GPU GEMM time against the datasheet-peak lower bound 2 M N K / (tp x peak): below it is
    impossible (wrong), above it plausible (ok, with the fraction of peak it implies)."""
    from gpucompare.audit import Finding

    chk = c.check
    bound = _gemm_ms_at_peak(chk) / chk["tp"]
    share = bound / float(c.value)
    verdict = "ok" if float(c.value) >= bound * (1 - TIME_TOLERANCE) else "wrong"
    return Finding(
        bound,
        verdict,
        f"half of 2 x {chk['m']}^3 FLOP at {chk['gpu']}'s datasheet {catalog.get_gpu(chk['gpu']).spec(chk['field'])} "
        f"TFLOPS takes at least {bound:.3g} ms; {c.value} ms implies {share:.0%} of peak"
        + ("" if verdict == "ok" else ", faster than the GPU can compute"),
    )


def _check_tp_comm(c):
    """The table's communication column: same recomputation as :func:`_check_allreduce_time`."""
    return _check_allreduce_time(c)


def _check_tp_step_total(c):
    """A total step against the article's own per-GPU GEMM + communication; the catalog total is given."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    p = _defaults()
    own = chk["per_gpu_gemm_ms"] + chk["comm_ms"]
    cat = (
        _gemm_ms_at_peak(chk) / chk["tp"]
        + gpu_allreduce_time_us(p, chk["gpu"], chk["tp"], chk["message_bytes"]) / units.US_PER_MS
    )
    return Finding(
        own,
        relative_verdict(float(c.value), own, TIME_TOLERANCE),
        f"{chk['per_gpu_gemm_ms']} + {chk['comm_ms']} = {own:.3g} ms; with catalog figures (datasheet peak, ring on "
        f"the real link) the same step takes {cat:.3g} ms",
    )


def _check_tp_efficiency(c):
    """An efficiency (%): its formula with its inputs must reproduce it (else wrong); it is misleading when
    a Llama layer (activation all-reduces, catalog figures) at the message's token count differs by more
    than EFFICIENCY_TOLERANCE_PTS."""
    from gpucompare.audit import Finding

    chk = c.check
    p = _defaults()
    own = 100 * article_tp_efficiency(chk["per_gpu_gemm_ms"] * chk["tp"], chk["comm_ms"], chk["tp"])
    model = catalog.get_model(chk["model"])
    tokens = int(chk["message_bytes"] // (model.hidden_size * ACTIVATION_BYTES))
    layer = (
        100 * tp_step(p, chk["gpu"], chk["tp"], 1, tokens, chk["model"], chk["weights"]).efficiency
    )
    decode = 100 * tp_step(p, chk["gpu"], chk["tp"], 1, 1, chk["model"], chk["weights"]).efficiency
    why = (
        f"its formula with its inputs: {own:.1f}%; a {chk['model']} layer all-reducing its activations on "
        f"{chk['tp']} x {chk['gpu']}: {layer:.0f}% for a {tokens}-token prefill (the token count its {chk['message_bytes']:,} B "
        f"message implies), {decode:.0f}% for batch-1 decode"
    )
    if abs(float(c.value) - own) > 1.0:
        return Finding(layer, "wrong", why)
    verdict = "ok" if abs(float(c.value) - layer) <= EFFICIENCY_TOLERANCE_PTS else "misleading"
    return Finding(layer, verdict, why)


def _check_tp_gpus_needed(c):
    """GPUs needed against memory.gpus_needed (TP degrees 1, 2, 4, 8 dividing the heads; default overheads)."""
    from gpucompare.audit import Finding

    chk = c.check
    p = _defaults()
    model = catalog.get_model(chk["model"])
    gpu = catalog.get_gpu(chk["gpu"])
    need = memory.gpus_needed(
        model,
        chk["weights"],
        chk["kv"],
        chk["batch"],
        chk["context_tokens"],
        gpu,
        memory.Overheads.from_params(p),
    )
    naive = memory.weights_bytes(model, chk["weights"]) / (
        gpu.spec("memory_gib") * units.BYTES_PER_GIB
    )
    why = (
        f"{memory.weights_bytes(model, chk['weights']) / units.BYTES_PER_GB:.1f} GB of weights plus KV, in "
        f"{memory.usable_bytes(gpu, p.gpu_memory_utilization, p.activation_reserve_gib) / units.BYTES_PER_GB:.1f} GB usable "
        f"per GPU, at a TP degree dividing {model.num_attention_heads} heads (1, 2, 4, 8): {need}; raw capacity alone "
        f"would say {math.ceil(naive)}"
    )
    return Finding(need, "ok" if need == c.value else "wrong", why)


def _check_tp_cluster_efficiency(c):
    """A cluster's TP efficiency (%) at the GPUs it needs: ok within EFFICIENCY_TOLERANCE_PTS of batch-1
    decode; misleading if it only matches the prefill case; else wrong."""
    from gpucompare.audit import Finding

    chk = c.check
    p = _defaults()
    model = catalog.get_model(chk["model"])
    need = memory.gpus_needed(
        model,
        chk["weights"],
        chk["kv"],
        chk["batch"],
        chk["context_tokens"],
        catalog.get_gpu(chk["gpu"]),
        memory.Overheads.from_params(p),
    )
    if need is None:
        return Finding(
            None,
            "wrong",
            f"{chk['model']} at {chk['weights']} does not fit one node of {chk['gpu']}",
        )
    decode = (
        100 * tp_step(p, chk["gpu"], need, chk["batch"], 1, chk["model"], chk["weights"]).efficiency
    )
    prefill = (
        100
        * tp_step(
            p, chk["gpu"], need, chk["batch"], p.tp_prefill_tokens, chk["model"], chk["weights"]
        ).efficiency
    )
    why = (
        f"at the {need} GPUs it needs ({tp_link(chk['gpu'], need).link_id}): {decode:.0f}% for batch-{chk['batch']} decode, "
        f"{prefill:.0f}% for a {p.tp_prefill_tokens}-token prefill"
    )
    if abs(float(c.value) - decode) <= EFFICIENCY_TOLERANCE_PTS:
        verdict = "ok"
    elif abs(float(c.value) - prefill) <= EFFICIENCY_TOLERANCE_PTS:
        verdict = "misleading"
    else:
        verdict = "wrong"
    return Finding(decode, verdict, why)


CLAIM_CHECKS = {
    "link_bandwidth": _check_link_bandwidth,
    "link_ratio": _check_link_ratio,
    "allreduce_time": _check_allreduce_time,
    "gemm_time": _check_gemm_time,
    "tp_gemm_per_gpu": _check_tp_gemm_per_gpu,
    "tp_comm": _check_tp_comm,
    "tp_step_total": _check_tp_step_total,
    "tp_efficiency": _check_tp_efficiency,
    "tp_gpus_needed": _check_tp_gpus_needed,
    "tp_cluster_efficiency": _check_tp_cluster_efficiency,
}
