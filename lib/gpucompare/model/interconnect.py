"""Interconnect formulas: link bandwidths (PCIe computed from its generation), the link a
tensor-parallel (TP) group crosses, and all-reduce time with a latency-bandwidth (alpha-beta) model next
to the article's "size / bandwidth" model.

Notation: S = message bytes, n = GPUs in the group, B = per-direction link bandwidth (bytes/s),
alpha = latency per ring step or tree level (per hop), alpha0 = fixed latency per all-reduce
(``allreduce_base_latency_us``). GB = 1e9 bytes; times in microseconds (us) unless named ms.

alpha depends on the link (:func:`hop_latency_us`): with peer-to-peer (NVLink, NVSwitch, PCIe with P2P)
it is the ``allreduce_latency_us`` parameter (NCCL's tuning figure); without P2P (GeForce cards over
PCIe, every transfer staged through host memory) it is the measured GPU-to-GPU latency with P2P
disabled, ``host_staged_hop_latency_us`` in ``data/interconnect.yaml`` (~14 us).

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

The link bandwidths are line rates and, on P2P links, the latencies NCCL's low-latency protocol
figures, so there the modelled all-reduce is a lower bound on its time (NCCL's ring reaches ~370 of
NVLink 4's 450 GB/s). A host-staged step is charged one measured staged copy, which can exceed what
NCCL's shared-memory transport achieves for tiny messages.
Data: ``data/interconnect.yaml`` (links, per-GPU topology, measurements) and ``data/gpus.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpucompare.core import units
from gpucompare.core.errors import InputError, unknown
from gpucompare.core.guards import require_positive
from gpucompare.data import catalog
from gpucompare.data.interconnect import (
    get_link,
    gpu_topology,
    interconnect_catalog,
    max_gpus_per_node,
)
from gpucompare.params import Params

#: All-reduce algorithms modelled.
ALGORITHMS = ("ring", "tree")


def pcie_per_direction_gb_s(generation: int, lanes: int) -> float:
    """PCIe bandwidth one way (GB/s) = transfer rate (GT/s) x lanes x payload / encoded bits / 8.

    PCIe 3.0-5.0 use 128b/130b encoding; a lane is a pair of simplex links, so this is per direction
    (PCIe 4.0 x16: 16 x 16 x 128/130 / 8 = 31.5 GB/s; the "64 GB/s" of marketing adds both directions).
    """
    gens = {g.generation: g for g in interconnect_catalog().pcie_generations}
    if generation not in gens:
        raise unknown("PCIe generation", "pcie_generation", str(generation), [str(g) for g in gens])
    require_positive("pcie_lanes", lanes)
    g = gens[generation]
    return g.transfer_rate_gt_s * lanes * g.payload_bits / g.encoded_bits / units.BITS_PER_BYTE


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


def gpu_link_id(gpu_id: str) -> str | None:
    """The catalog scale-up link of a GPU (NVLink, NVSwitch or xGMI: ``gpu_link`` in
    data/interconnect.yaml; None without one). Its per-direction figure must equal the GPU's
    ``gpu_link_bandwidth_per_direction_gb_s`` spec."""
    link_id = gpu_topology(gpu_id).gpu_link
    spec = catalog.get_gpu(gpu_id).spec("gpu_link_bandwidth_per_direction_gb_s")
    if (link_id is None) != (spec is None) or (
        link_id is not None and link_per_direction_gb_s(link_id) != spec
    ):
        raise InputError(
            f"data/interconnect.yaml: GPU '{gpu_id}': gpu_link {link_id!r} disagrees with its "
            f"gpu_link_bandwidth_per_direction_gb_s {spec!r} in data/gpus.yaml"
        )
    return link_id


#: Former name of :func:`gpu_link_id` (the scale-up link was NVLink-only).
nvlink_link_id = gpu_link_id


def group_per_direction_gb_s(link_id: str, n_gpus: int) -> float:
    """Per-direction bandwidth (GB/s) a GPU of a group of ``n_gpus`` gets over a scale-up link: the
    link's figure, except on a full mesh (``mesh_peers`` links per GPU, one to each peer: AMD
    Infinity Fabric on an 8-GPU MI300X platform), where a GPU of a group of n reaches its n - 1 peers
    over n - 1 of its links: figure x min(n - 1, mesh_peers) / mesh_peers."""
    x = get_link(link_id)
    bw = link_per_direction_gb_s(link_id)
    if x.mesh_peers is None or n_gpus < 2:
        return bw
    return bw * min(n_gpus - 1, x.mesh_peers) / x.mesh_peers


def pcie_link_id(gpu_id: str) -> str:
    """The PCIe link a GPU's traffic takes outside its scale-up domain: its generation and lanes
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
    """The link a TP group of ``tp`` GPUs of one type is limited by: the GPU's scale-up link (NVLink,
    NVSwitch, Infinity Fabric; per-direction figure from data/gpus.yaml, the group's share of it on a
    full mesh: :func:`group_per_direction_gb_s`) while the group fits its domain (8 on an NVSwitch
    board or an MI300X platform, 2 with bridges), else its PCIe link (a ring through bridged pairs
    still crosses PCIe)."""
    catalog.get_gpu(gpu_id, "gpu")
    check_tp(gpu_id, tp, key)
    if tp == 1:
        return TpLink(gpu_id, 1, None, math.inf)
    nv = gpu_link_id(gpu_id)
    domain = gpu_topology(gpu_id).gpu_link_domain_gpus.value
    if nv is not None and domain is not None and tp <= domain:
        return TpLink(gpu_id, tp, nv, group_per_direction_gb_s(nv, tp))
    pcie = pcie_link_id(gpu_id)
    return TpLink(gpu_id, tp, pcie, link_per_direction_gb_s(pcie))


def check_tp_degrees(p: Params, gpu_ids: list[str] | None = None) -> None:
    """Every degree of ``p.tp_degrees`` must fit one node of every GPU of ``gpu_ids`` (default
    ``p.tp_gpus``); otherwise InputError naming ``tp_degrees`` and the allowed degrees."""
    for gid in gpu_ids if gpu_ids is not None else p.tp_gpus:
        for tp in p.tp_degrees:
            check_tp(gid, tp, "tp_degrees")


def hop_latency_us(p: Params, link_id: str) -> float:
    """Latency (us) per ring step or tree level on a link: for a PCIe link staged through host memory
    (no P2P), the measured GPU-to-GPU latency with P2P disabled (``host_staged_hop_latency_us``,
    data/interconnect.yaml); for every other link, the ``allreduce_latency_us`` parameter."""
    if get_link(link_id).host_staged:
        return interconnect_catalog().host_staged_hop_latency_us.value
    return p.allreduce_latency_us


def tp_hop_latency_us(p: Params, gpu_id: str, tp: int) -> float:
    """Per-hop latency (us) on the link a TP group of ``tp`` GPUs crosses (0 for one GPU)."""
    link = tp_link(gpu_id, tp)
    return 0.0 if link.link_id is None else hop_latency_us(p, link.link_id)


def latency_floor_us(p: Params, gpu_id: str, tp: int, algorithm: str = "ring") -> float:
    """The all-reduce time of a vanishing message (us): alpha0 + steps x alpha on the group's link
    (ring: 2(n-1) steps; tree: 2 ceil(log2 n)); 0 for one GPU."""
    if algorithm not in ALGORITHMS:
        raise unknown("all-reduce algorithm", "algorithm", algorithm, ALGORITHMS)
    if tp_link(gpu_id, tp).link_id is None:
        return 0.0
    steps = 2 * (tp - 1) if algorithm == "ring" else 2 * math.ceil(math.log2(tp))
    return p.allreduce_base_latency_us + steps * tp_hop_latency_us(p, gpu_id, tp)


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
    require_positive("message_bytes", message_bytes)
    require_positive("per_direction_gb_s", per_direction_gb_s)
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
    require_positive("message_bytes", message_bytes)
    require_positive("bandwidth_gb_s", bandwidth_gb_s)
    return message_bytes / (bandwidth_gb_s * units.BYTES_PER_GB) * units.US_PER_S


def bus_bandwidth_gb_s(message_bytes: float, time_us: float, n_gpus: int) -> float:
    """nccl-tests bus bandwidth of an all-reduce (GB/s): algbw x 2(n-1)/n with algbw = S / t."""
    require_positive("time_us", time_us)
    algbw = message_bytes / (time_us / units.US_PER_S) / units.BYTES_PER_GB
    return algbw * 2 * (n_gpus - 1) / n_gpus


def gpu_allreduce_time_us(
    p: Params, gpu_id: str, tp: int, message_bytes: float, algorithm: str = "ring"
) -> float:
    """All-reduce time (us) over the TP link of ``tp`` GPUs of type ``gpu_id``: the link's per-hop
    latency (:func:`hop_latency_us`) and the base latency parameter."""
    link = tp_link(gpu_id, tp)
    if tp == 1:
        return 0.0
    return allreduce_time_us(
        message_bytes,
        tp,
        link.per_direction_gb_s,
        hop_latency_us(p, link.link_id),
        p.allreduce_base_latency_us,
        algorithm,
    )
