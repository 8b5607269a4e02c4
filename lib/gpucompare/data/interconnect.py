"""The interconnect catalog, ``data/interconnect.yaml``: PCIe generations, links (NVLink, NVSwitch,
xGMI / Infinity Fabric, PCIe, network ports), each catalog GPU's topology inside a node, and published
measurements of GPU-to-GPU traffic; its loader, lookups and source table. Its figures cite its own
sources and the shared ones of ``data/sources.yaml``.

Link kinds: ``nvlink`` (NVIDIA point-to-point or bridged links), ``nvswitch`` (NVIDIA switched fabric,
all-to-all), ``xgmi`` (AMD Infinity Fabric GPU links; ``mesh_peers`` when each GPU has one direct
link to each of that many peers, as on an 8-GPU MI300X platform), ``pcie`` (bandwidth computed from
generation and lanes) and ``network`` (ports between nodes). A GPU's scale-up link (``gpu_link``)
is its fastest GPU-to-GPU path inside a node, whatever the vendor."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import unknown
from gpucompare.core.strict import Strict
from gpucompare.data import catalog
from gpucompare.data.catalog import Source, Sourced
from gpucompare.data.loading import all_sources, check_source_ids

if TYPE_CHECKING:
    import pandas as pd

#: Link kinds of the catalog (see the module docstring).
LINK_KINDS = ("nvlink", "nvswitch", "xgmi", "pcie", "network")
#: Kinds that join GPUs inside a node directly (a GPU's ``gpu_link`` is one of them).
SCALE_UP_KINDS = ("nvlink", "nvswitch", "xgmi")


class PcieGeneration(Strict):
    """One PCIe generation: transfer rate per lane and line encoding."""

    generation: int
    transfer_rate_gt_s: float
    payload_bits: int
    encoded_bits: int
    source: str


class Link(Strict):
    """One link of the catalog: NVLink, NVSwitch, xGMI (Infinity Fabric), PCIe (bandwidth computed)
    or a network port. ``mesh_peers``: the link is a full mesh in which each GPU has one direct link
    to each of that many peers; ``per_direction_gb_s`` is then what a GPU sends over all its links
    together (a group of n GPUs uses n - 1 of them)."""

    id: str
    name: str
    #: What tables call the link ("PCIe 4.0 x16 via host"): the full name is long for a cell;
    #: None: ``name``.
    short_name: str | None = None
    kind: Literal["nvlink", "nvswitch", "xgmi", "pcie", "network"]
    scope: Literal["intra-node", "rack", "inter-node"]
    per_direction_gb_s: Sourced[float] | None = None
    total_gb_s: Sourced[float] | None = None
    pcie_generation: int | None = None
    pcie_lanes: int | None = None
    host_staged: bool = False
    mesh_peers: int | None = Field(default=None, gt=0)
    note: str | None = None

    @property
    def label(self) -> str:
        """The link's name in table cells: its short name, else its name."""
        return self.short_name or self.name

    @model_validator(mode="after")
    def _bandwidth_given_once(self) -> Link:
        if self.mesh_peers is not None and self.kind not in SCALE_UP_KINDS:
            raise ValueError(
                f"{self.id}: only GPU-to-GPU links ({', '.join(SCALE_UP_KINDS)}) form a mesh"
            )
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


class GpuTopology(Strict):
    """How one catalog GPU connects to its peers inside a node: its scale-up link (``gpu_link``:
    NVLink, NVSwitch or xGMI; null without one) and how many GPUs that link joins
    (``gpu_link_domain_gpus``), the GPUs one node holds, and whether peer-to-peer works over PCIe."""

    id: str
    gpu_link: str | None
    gpu_link_domain_gpus: Sourced[int | None]
    max_gpus_per_node: Sourced[int]
    p2p_over_pcie: Sourced[bool]

    @property
    def nvlink_link(self) -> str | None:
        """Former name of :attr:`gpu_link`."""
        return self.gpu_link

    @property
    def nvlink_domain_gpus(self) -> Sourced[int | None]:
        """Former name of :attr:`gpu_link_domain_gpus`."""
        return self.gpu_link_domain_gpus


class Measurement(Strict):
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


class InterconnectCatalog(Strict):
    """``data/interconnect.yaml``."""

    schema_version: Literal[1]
    conventions: str
    sources: dict[str, Source] = Field(default_factory=dict)
    pcie_generations: list[PcieGeneration]
    host_staged_fraction: Sourced[float]
    host_staged_hop_latency_us: Sourced[float]
    links: list[Link]
    gpus: list[GpuTopology]
    measurements: list[Measurement]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> InterconnectCatalog:
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
        kinds = {x.id: x.kind for x in self.links}
        for g in self.gpus:
            if g.gpu_link is not None and g.gpu_link not in link_ids:
                raise ValueError(f"GPU {g.id}: unknown gpu_link '{g.gpu_link}'")
            if g.gpu_link is not None and kinds[g.gpu_link] not in SCALE_UP_KINDS:
                raise ValueError(
                    f"GPU {g.id}: gpu_link '{g.gpu_link}' is a {kinds[g.gpu_link]} link; "
                    f"allowed kinds: {', '.join(SCALE_UP_KINDS)}"
                )
            if (g.gpu_link is None) != (g.gpu_link_domain_gpus.value is None):
                raise ValueError(
                    f"GPU {g.id}: gpu_link and gpu_link_domain_gpus must both be set or both null"
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
        if not self.host_staged_hop_latency_us.value > 0:
            raise ValueError("host_staged_hop_latency_us must be > 0")
        check_source_ids(self.sources, self.source_ids(), info)
        return self

    def source_ids(self) -> list[tuple[str, str]]:
        """(where, source id) for every figure of the file."""
        used = [(f"pcie_generations.{g.generation}", g.source) for g in self.pcie_generations]
        used.append(("host_staged_fraction", self.host_staged_fraction.source))
        used.append(("host_staged_hop_latency_us", self.host_staged_hop_latency_us.source))
        for x in self.links:
            for name in ("per_direction_gb_s", "total_gb_s"):
                fig = getattr(x, name)
                if fig is not None:
                    used.append((f"links.{x.id}.{name}", fig.source))
        for g in self.gpus:
            for name in ("gpu_link_domain_gpus", "max_gpus_per_node", "p2p_over_pcie"):
                used.append((f"gpus.{g.id}.{name}", getattr(g, name).source))
        used += [(f"measurements.{m.id}", m.source) for m in self.measurements]
        return used


@functools.cache
def _load(path: Path) -> InterconnectCatalog:
    return catalog.load_validated(path, InterconnectCatalog)


@functools.cache
def _load_in(folder: Path) -> InterconnectCatalog:
    # Found once per data folder: the planner asks for the catalog thousands of times a command.
    return _load(folder / "interconnect.yaml")


def interconnect_catalog() -> InterconnectCatalog:
    """The validated interconnect catalog (cached per file path)."""
    return _load_in(paths.data_dir())


def source(source_id: str) -> Source:
    """A source of ``data/interconnect.yaml`` or, failing that, of ``data/sources.yaml``."""
    return all_sources(interconnect_catalog().sources)[source_id]


def link_ids() -> list[str]:
    """All link ids in catalog order."""
    return [x.id for x in interconnect_catalog().links]


def get_link(link_id: str, key: str = "link") -> Link:
    """The catalog link ``link_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    for x in interconnect_catalog().links:
        if x.id == link_id:
            return x
    raise unknown("link", key, link_id, link_ids())


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


def sources_frame() -> pd.DataFrame:
    """Every source of data/interconnect.yaml (its own table, then the shared sources its figures
    cite), one row per source (sorted by id)."""
    cat = interconnect_catalog()
    return catalog.cited_sources_frame(cat.sources, {sid for _, sid in cat.source_ids()})
