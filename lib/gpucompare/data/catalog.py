"""The GPU and model catalogs (``data/gpus.yaml``, ``data/models.yaml``): loading and lookup.

Every figure in ``data/gpus.yaml`` is ``{value, source, note}``, and every source id must be
defined in the file's ``sources`` table; the loader enforces both.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Generic, Literal, TypeVar

import pandas as pd
from pydantic import BaseModel, Field, ValidationError, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import InputError, unknown
from gpucompare.core.strict import Strict
from gpucompare.core.validation import input_error

T = TypeVar("T")


class Source(Strict):
    """A document a figure comes from."""

    title: str
    url: str
    publisher: str
    date: str | None = None
    verified: bool
    note: str | None = None


class Sourced(Strict, Generic[T]):
    """One figure with the id of its source."""

    value: T
    source: str
    note: str | None = None


class GpuSpecs(Strict):
    """Datasheet figures of one GPU; units in the names, TFLOPS dense (no 2:4 sparsity)."""

    architecture: Sourced[str]
    chip: Sourced[str]
    compute_capability: Sourced[str]
    sm_count: Sourced[int]
    cuda_cores: Sourced[int]
    tensor_cores: Sourced[int]
    tensor_core_generation: Sourced[int]
    base_clock_mhz: Sourced[float]
    boost_clock_mhz: Sourced[float]
    peak_tflops_clock_mhz: Sourced[float | None]
    fp16_tensor_fp32acc_tflops: Sourced[float]
    fp16_tensor_fp16acc_tflops: Sourced[float]
    bf16_tensor_tflops: Sourced[float]
    tf32_tensor_tflops: Sourced[float]
    fp8_tensor_tflops: Sourced[float | None]
    fp4_tensor_tflops: Sourced[float | None]
    int8_tensor_tops: Sourced[float]
    fp32_tflops: Sourced[float]
    fp64_tflops: Sourced[float]
    fp64_tensor_tflops: Sourced[float | None]
    memory_gib: Sourced[float]
    memory_type: Sourced[str]
    memory_bus_width_bits: Sourced[int]
    memory_data_rate_gbps: Sourced[float | None]
    memory_bandwidth_gb_s: Sourced[float]
    nvlink_generation: Sourced[int | None]
    nvlink_links: Sourced[int | None]
    nvlink_bandwidth_per_direction_gb_s: Sourced[float | None]
    nvlink_bandwidth_total_gb_s: Sourced[float | None]
    pcie_generation: Sourced[int]
    pcie_lanes: Sourced[int]
    tdp_w: Sourced[float]
    ecc: Sourced[bool]
    mig_max_instances: Sourced[int]


class MigProfile(Strict):
    """One MIG partition size: at most ``instances_max`` of them fit on one GPU, each with
    ``sm_count`` SMs (as ``nvidia-smi mig -lgip`` lists them; ``sm_source`` names where they were
    read, ``sm_derived`` marks a count inferred from another GPU's, explained in ``sm_note``)."""

    profile: str
    instances_max: int
    memory_gib: float
    source: str
    sm_count: int = Field(gt=0)
    sm_source: str
    sm_derived: bool = False
    sm_note: str | None = None


class Price(Strict):
    """A dated price of one GPU."""

    value_usd: float
    date: str
    kind: Literal["msrp", "list", "street", "estimate"]
    source: str
    note: str | None = None


class Gpu(Strict):
    """One catalog GPU."""

    id: str
    name: str
    vendor: str
    segment: Literal["datacenter", "workstation", "consumer"]
    form_factor: str
    specs: GpuSpecs
    mig_profiles: list[MigProfile]
    price: Price

    def spec(self, field: str):
        """The value of one spec field (``gpu.spec("memory_gib")``)."""
        return getattr(self.specs, field).value


class Model(Strict):
    """One catalog LLM: its Hugging Face config values and exact parameter count."""

    id: str
    name: str
    family: str
    kind: Literal["dense", "moe"]
    config_source: str
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    num_local_experts: int | None = None
    num_experts_per_tok: int | None = None
    sliding_window: int | None = Field(default=None, gt=0)
    parameters: int
    parameters_source: str
    parameters_note: str | None = None


def _check_source_ids(sources: dict[str, Source], used: list[tuple[str, str]]) -> None:
    missing = sorted({f"{where}: source '{sid}'" for where, sid in used if sid not in sources})
    if missing:
        raise ValueError("undefined source ids: " + "; ".join(missing))


class GpuCatalog(Strict):
    """``data/gpus.yaml``."""

    schema_version: Literal[1]
    conventions: str
    sources: dict[str, Source]
    gpus: list[Gpu]

    @model_validator(mode="after")
    def _consistent(self) -> GpuCatalog:
        ids = [g.id for g in self.gpus]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate GPU ids in {ids}")
        used = []
        for g in self.gpus:
            used += [
                (f"{g.id}.specs.{k}", getattr(g.specs, k).source) for k in GpuSpecs.model_fields
            ]
            used += [(f"{g.id}.mig_profiles", m.source) for m in g.mig_profiles]
            used += [(f"{g.id}.mig_profiles.sm_count", m.sm_source) for m in g.mig_profiles]
            used.append((f"{g.id}.price", g.price.source))
            for m in g.mig_profiles:
                if m.sm_count > g.spec("sm_count"):
                    raise ValueError(
                        f"{g.id}.mig_profiles[{m.profile}].sm_count: {m.sm_count} exceeds the GPU's "
                        f"{g.spec('sm_count')} SMs"
                    )
                if m.sm_derived and not m.sm_note:
                    raise ValueError(
                        f"{g.id}.mig_profiles[{m.profile}]: a derived sm_count needs sm_note saying how"
                    )
        _check_source_ids(self.sources, used)
        return self


class ModelCatalog(Strict):
    """``data/models.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, Source]
    models: list[Model]

    @model_validator(mode="after")
    def _consistent(self) -> ModelCatalog:
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate model ids in {ids}")
        used = [(f"{m.id}.config_source", m.config_source) for m in self.models]
        used += [(f"{m.id}.parameters_source", m.parameters_source) for m in self.models]
        _check_source_ids(self.sources, used)
        return self


class ArchVariant(Strict):
    """Per-SM, per-clock rates of one chip variant (e.g. GeForce AD102 with half-rate FP32 accumulate)."""

    id: str
    architecture: str
    chip: str
    applies_to: list[str]
    fma_per_clock_per_sm: dict[str, Sourced[float | None]]
    fp32_fma_per_clock_per_sm: Sourced[float]
    fp64_fma_per_clock_per_sm: Sourced[float]


class ArchCatalog(Strict):
    """``data/architectures.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, Source]
    variants: list[ArchVariant]

    @model_validator(mode="after")
    def _consistent(self) -> ArchCatalog:
        used = []
        for v in self.variants:
            used += [
                (f"{v.id}.fma_per_clock_per_sm.{k}", s.source)
                for k, s in v.fma_per_clock_per_sm.items()
            ]
            used.append((f"{v.id}.fp32_fma_per_clock_per_sm", v.fp32_fma_per_clock_per_sm.source))
            used.append((f"{v.id}.fp64_fma_per_clock_per_sm", v.fp64_fma_per_clock_per_sm.source))
        _check_source_ids(self.sources, used)
        return self


class WeightFormat(Strict):
    """A weight storage format: bits per weight plus group-wise scale/zero overhead."""

    id: str
    bits: float = Field(gt=0)
    group_size: int | None
    scale_bits: int
    zero_bits: int
    embeddings_bits: float = Field(gt=0)
    source: str
    note: str | None = None


class KvFormat(Strict):
    """A KV-cache storage format: bits per element."""

    id: str
    bits: int
    source: str
    note: str | None = None


class PrecisionCatalog(Strict):
    """``data/precisions.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, Source]
    precisions: list[WeightFormat]
    kv_precisions: list[KvFormat]

    @model_validator(mode="after")
    def _consistent(self) -> PrecisionCatalog:
        used = [(f"precisions.{w.id}", w.source) for w in self.precisions]
        used += [(f"kv_precisions.{k.id}", k.source) for k in self.kv_precisions]
        _check_source_ids(self.sources, used)
        return self


def load_validated(path: Path, schema: type[BaseModel]):
    """Read a YAML data file and validate it against ``schema``: one InputError naming the file
    and keys on any problem (missing file, malformed YAML, not a mapping, schema violations)."""
    raw = paths.load_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise input_error(exc, schema, path, raw) from None


@functools.cache
def _gpu_catalog(path: Path) -> GpuCatalog:
    return load_validated(path, GpuCatalog)


@functools.cache
def _model_catalog(path: Path) -> ModelCatalog:
    return load_validated(path, ModelCatalog)


@functools.cache
def _arch_catalog(path: Path) -> ArchCatalog:
    return load_validated(path, ArchCatalog)


def arch_catalog() -> ArchCatalog:
    """The validated per-SM rate catalog (cached per file path)."""
    return _arch_catalog(paths.data_dir() / "architectures.yaml")


def arch_variant(gpu_id: str) -> ArchVariant:
    """The chip variant whose per-SM rates apply to ``gpu_id``."""
    for v in arch_catalog().variants:
        if gpu_id in v.applies_to:
            return v
    raise InputError(f"data/architectures.yaml: no variant lists GPU '{gpu_id}' in applies_to")


@functools.cache
def _precision_catalog(path: Path) -> PrecisionCatalog:
    return load_validated(path, PrecisionCatalog)


def precision_catalog() -> PrecisionCatalog:
    """The validated number-format catalog (cached per file path)."""
    return _precision_catalog(paths.data_dir() / "precisions.yaml")


def weight_format(precision: str, key: str = "weights") -> WeightFormat:
    """The weight format ``precision``; unknown ids raise InputError naming the allowed ones."""
    formats = {w.id: w for w in precision_catalog().precisions}
    if precision not in formats:
        raise unknown("weight precision", key, precision, formats)
    return formats[precision]


def kv_format(precision: str, key: str = "kv_cache") -> KvFormat:
    """The KV-cache format ``precision``; unknown ids raise InputError naming the allowed ones."""
    formats = {k.id: k for k in precision_catalog().kv_precisions}
    if precision not in formats:
        raise unknown("KV-cache precision", key, precision, formats)
    return formats[precision]


def gpu_catalog() -> GpuCatalog:
    """The validated GPU catalog (cached per file path)."""
    return _gpu_catalog(paths.data_dir() / "gpus.yaml")


def model_catalog() -> ModelCatalog:
    """The validated model catalog (cached per file path)."""
    return _model_catalog(paths.data_dir() / "models.yaml")


def gpu_ids() -> list[str]:
    """All GPU ids in catalog order."""
    return [g.id for g in gpu_catalog().gpus]


def model_ids() -> list[str]:
    """All model ids in catalog order."""
    return [m.id for m in model_catalog().models]


def get_gpu(gpu_id: str, key: str = "gpu") -> Gpu:
    """The catalog GPU ``gpu_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    for g in gpu_catalog().gpus:
        if g.id == gpu_id:
            return g
    raise unknown("GPU", key, gpu_id, gpu_ids())


def get_model(model_id: str, key: str = "model") -> Model:
    """The catalog model ``model_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    for m in model_catalog().models:
        if m.id == model_id:
            return m
    raise unknown("model", key, model_id, model_ids())


def gpu_frame(ids: list[str] | None = None) -> pd.DataFrame:
    """One row per GPU (index ``gpu_id``), one column per spec field (values only)."""
    gpus = [get_gpu(i) for i in ids] if ids is not None else gpu_catalog().gpus
    rows = {g.id: {"name": g.name, **{k: g.spec(k) for k in GpuSpecs.model_fields}} for g in gpus}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "gpu_id"
    return frame


def model_frame(ids: list[str] | None = None) -> pd.DataFrame:
    """One row per model (index ``model_id``) with its config values and parameter count."""
    models = [get_model(i) for i in ids] if ids is not None else model_catalog().models
    frame = pd.DataFrame([m.model_dump() for m in models]).set_index("id")
    frame.index.name = "model_id"
    return frame


def sources_frame(sources: dict[str, Source], ids=None, **columns: str) -> pd.DataFrame:
    """One row per source id (sorted; all of ``sources`` unless ``ids`` are given) with the source's
    fields except its note; ``columns`` adds constant columns (e.g. the file) after the id."""
    chosen = sorted(sources if ids is None else ids)
    rows = [
        {"source": sid, **columns, **sources[sid].model_dump(exclude={"note"})} for sid in chosen
    ]
    return pd.DataFrame(rows).set_index("source")


def gpu_sources_frame(ids: list[str]) -> pd.DataFrame:
    """The sources cited by the given GPUs' figures, one row per source (sorted by id)."""
    cat = gpu_catalog()
    used: set[str] = set()
    for g in (get_gpu(i) for i in ids):
        used |= {getattr(g.specs, k).source for k in GpuSpecs.model_fields}
        used |= {m.source for m in g.mig_profiles} | {m.sm_source for m in g.mig_profiles}
        used |= {g.price.source}
    return sources_frame(cat.sources, used)


def model_sources_frame() -> pd.DataFrame:
    """The sources of the model catalog and of the number formats, one row per source."""
    return pd.concat(
        [
            sources_frame(model_catalog().sources, file="models.yaml"),
            sources_frame(precision_catalog().sources, file="precisions.yaml"),
        ]
    )
