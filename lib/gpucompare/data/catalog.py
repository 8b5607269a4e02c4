"""The GPU and model catalogs (``data/gpus.yaml``, ``data/models.yaml``) and the per-architecture
rates (``data/architectures.yaml``): loading and lookup.

Every figure is ``{value, source, note}``, and every source id must be defined in the file's own
``sources`` table or in the shared ``data/sources.yaml`` (:mod:`gpucompare.data.loading`); the
loaders enforce both. The GPU schema is vendor-neutral: a GPU has ``compute_units`` (SMs on NVIDIA,
CUs on AMD, Xe cores on Intel: the name comes from the vendor's terms in ``architectures.yaml``),
``shader_cores`` and ``matrix_cores``, and a GPU-to-GPU link (NVLink, Infinity Fabric, Xe Link: the
vendor says which) in the ``gpu_link_*`` fields. :data:`NVIDIA_ONLY_FIELDS` are given for NVIDIA
GPUs and only for them. :data:`LEGACY_SPEC_NAMES` keeps the former NVIDIA names readable through
:meth:`Gpu.spec`.
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import unknown
from gpucompare.core.strict import Strict
from gpucompare.data.architectures import (
    ArchCatalog,
    ArchVariant,
    VendorTerms,
    arch_catalog,
    arch_variant,
)
from gpucompare.data.loading import (
    Source,
    Sourced,
    all_sources,
    check_source_ids,
    load_validated,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ArchCatalog",
    "ArchVariant",
    "Source",
    "Sourced",
    "VendorTerms",
    "arch_catalog",
    "arch_variant",
    "load_validated",
]

#: Former (NVIDIA-only) spec names and the vendor-neutral field each now reads.
LEGACY_SPEC_NAMES: dict[str, str] = {
    "sm_count": "compute_units",
    "cuda_cores": "shader_cores",
    "tensor_cores": "matrix_cores",
    "tensor_core_generation": "matrix_core_generation",
    "nvlink_generation": "gpu_link_generation",
    "nvlink_links": "gpu_links",
    "nvlink_bandwidth_per_direction_gb_s": "gpu_link_bandwidth_per_direction_gb_s",
    "nvlink_bandwidth_total_gb_s": "gpu_link_bandwidth_total_gb_s",
}
#: The vendor whose GPUs have the :data:`NVIDIA_ONLY_FIELDS`.
NVIDIA = "NVIDIA"
#: Spec fields that exist only on NVIDIA GPUs: CUDA compute capability, MIG partitions.
NVIDIA_ONLY_FIELDS: tuple[str, ...] = ("compute_capability", "mig_max_instances")


class GpuSpecs(Strict):
    """Datasheet figures of one GPU; units in the names, TFLOPS dense (no 2:4 sparsity).

    Vendor-neutral: ``compute_units`` are the GPU's SMs (NVIDIA), CUs (AMD) or Xe cores (Intel);
    ``shader_cores`` its FP32 lanes (CUDA cores, stream processors); ``matrix_cores`` its Tensor
    Cores, Matrix Cores or XMX engines; ``gpu_link_*`` its GPU-to-GPU link (NVLink, Infinity Fabric
    xGMI, Xe Link), all null without one. ``compute_capability`` and ``mig_max_instances`` are
    NVIDIA-only (:data:`NVIDIA_ONLY_FIELDS`)."""

    architecture: Sourced[str]
    chip: Sourced[str]
    compute_capability: Sourced[str] | None = None
    compute_units: Sourced[int]
    shader_cores: Sourced[int]
    matrix_cores: Sourced[int]
    matrix_core_generation: Sourced[int | None]
    base_clock_mhz: Sourced[float | None]
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
    gpu_link_generation: Sourced[int | None]
    gpu_links: Sourced[int | None]
    gpu_link_bandwidth_per_direction_gb_s: Sourced[float | None]
    gpu_link_bandwidth_total_gb_s: Sourced[float | None]
    pcie_generation: Sourced[int]
    pcie_lanes: Sourced[int]
    tdp_w: Sourced[float]
    ecc: Sourced[bool]
    mig_max_instances: Sourced[int] | None = None


def spec_value_type(field: str) -> Any:
    """The Python type of a GPU spec field's ``value`` (``float | None`` etc.; a legacy name reads its
    vendor-neutral field)."""
    annotation = GpuSpecs.model_fields[LEGACY_SPEC_NAMES.get(field, field)].annotation
    figure = next(a for a in (typing.get_args(annotation) or (annotation,)) if a is not type(None))
    return figure.model_fields["value"].annotation


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
    #: What tables call the GPU ("H100 SXM"): the full name is long for a row label; None: ``name``.
    short_name: str | None = None
    vendor: str
    segment: Literal["datacenter", "workstation", "consumer"]
    form_factor: str
    specs: GpuSpecs
    mig_profiles: list[MigProfile] = Field(default_factory=list)
    price: Price

    @property
    def label(self) -> str:
        """The GPU's name in table cells: its short name, else its name."""
        return self.short_name or self.name

    def spec(self, field: str):
        """The value of one spec field (``gpu.spec("memory_gib")``); None for a field the GPU does not
        have (an NVIDIA-only field of another vendor's GPU). A legacy name (:data:`LEGACY_SPEC_NAMES`,
        ``sm_count``) reads its vendor-neutral field."""
        figure = getattr(self.specs, LEGACY_SPEC_NAMES.get(field, field))
        return None if figure is None else figure.value

    def figures(self) -> dict[str, Sourced]:
        """The spec figures the GPU gives, by field (NVIDIA-only fields of other vendors left out)."""
        return {k: getattr(self.specs, k) for k in GpuSpecs.model_fields if getattr(self.specs, k)}

    def source_ids(self) -> list[tuple[str, str]]:
        """(where, source id) of every figure, MIG profile and the price."""
        used = [(f"{self.id}.specs.{k}", f.source) for k, f in self.figures().items()]
        used += [(f"{self.id}.mig_profiles", m.source) for m in self.mig_profiles]
        used += [(f"{self.id}.mig_profiles.sm_count", m.sm_source) for m in self.mig_profiles]
        return [*used, (f"{self.id}.price", self.price.source)]


class Model(Strict):
    """One catalog LLM: its Hugging Face config values and exact parameter count (biases: on q, k and
    v (Qwen2), on q, k, v and o (a Llama config's ``attention_bias``), on the MLP (``mlp_bias``);
    none by default)."""

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
    attention_bias: Literal["none", "qkv", "qkvo"] = "none"
    mlp_bias: bool = False
    parameters: int
    parameters_source: str
    parameters_note: str | None = None

    @property
    def label(self) -> str:
        """The model's name in table cells (its catalog name is short already)."""
        return self.name


def vendor_problems(g: Gpu) -> list[str]:
    """NVIDIA-only fields given for another vendor's GPU, or missing on an NVIDIA GPU."""
    out = []
    for field in NVIDIA_ONLY_FIELDS:
        given = getattr(g.specs, field) is not None
        if g.vendor == NVIDIA and not given:
            out.append(f"{g.id}.specs.{field}: required for an NVIDIA GPU")
        elif g.vendor != NVIDIA and given:
            out.append(f"{g.id}.specs.{field}: NVIDIA-only field; leave it out for {g.vendor} GPUs")
    if g.vendor != NVIDIA and g.mig_profiles:
        out.append(f"{g.id}.mig_profiles: MIG is NVIDIA-only; leave them out for a {g.vendor} GPU")
    return out


class GpuCatalog(Strict):
    """``data/gpus.yaml``."""

    schema_version: Literal[1]
    conventions: str
    sources: dict[str, Source] = Field(default_factory=dict)
    gpus: list[Gpu]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> GpuCatalog:
        ids = [g.id for g in self.gpus]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate GPU ids in {ids}")
        used = []
        for g in self.gpus:
            used += g.source_ids()
            problems = vendor_problems(g)
            if problems:
                raise ValueError("; ".join(problems))
            for m in g.mig_profiles:
                if m.sm_count > g.spec("compute_units"):
                    raise ValueError(
                        f"{g.id}.mig_profiles[{m.profile}].sm_count: {m.sm_count} exceeds the GPU's "
                        f"{g.spec('compute_units')} SMs"
                    )
                if m.sm_derived and not m.sm_note:
                    raise ValueError(
                        f"{g.id}.mig_profiles[{m.profile}]: a derived sm_count needs sm_note saying how"
                    )
        check_source_ids(self.sources, used, info)
        return self


class ModelCatalog(Strict):
    """``data/models.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, Source] = Field(default_factory=dict)
    models: list[Model]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ModelCatalog:
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate model ids in {ids}")
        used = [(f"{m.id}.config_source", m.config_source) for m in self.models]
        used += [(f"{m.id}.parameters_source", m.parameters_source) for m in self.models]
        check_source_ids(self.sources, used, info)
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
    sources: dict[str, Source] = Field(default_factory=dict)
    precisions: list[WeightFormat]
    kv_precisions: list[KvFormat]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> PrecisionCatalog:
        used = [(f"precisions.{w.id}", w.source) for w in self.precisions]
        used += [(f"kv_precisions.{k.id}", k.source) for k in self.kv_precisions]
        check_source_ids(self.sources, used, info)
        return self


@functools.cache
def _gpu_catalog(path: Path) -> GpuCatalog:
    return load_validated(path, GpuCatalog)


@functools.cache
def _model_catalog(path: Path) -> ModelCatalog:
    return load_validated(path, ModelCatalog)


def vendor_terms(vendor: str) -> VendorTerms:
    """What ``vendor`` calls its compute units, cores and GPU link (``vendors`` in
    ``data/architectures.yaml``); an unknown vendor raises InputError naming the known ones."""
    terms = arch_catalog().vendors
    if vendor not in terms:
        raise unknown("vendor", "vendor", vendor, terms)
    return terms[vendor]


def gpu_terms(gpu_id: str) -> VendorTerms:
    """:func:`vendor_terms` of the GPU's vendor."""
    return vendor_terms(get_gpu(gpu_id).vendor)


def vendor_label(gpu_ids: list[str], term: str) -> str:
    """The vendors' words for ``term`` (a :class:`VendorTerms` field) over the given GPUs, in order
    and once each: "SMs" for NVIDIA GPUs only, "SMs / CUs" for NVIDIA and AMD."""
    words: list[str] = []
    for g in gpu_ids:
        word = getattr(gpu_terms(g), term)
        if word and word not in words:
            words.append(word)
    return " / ".join(words)


@functools.cache
def _precision_catalog(path: Path) -> PrecisionCatalog:
    return load_validated(path, PrecisionCatalog)


# The lookups below run tens of thousands of times in one `gpucompare plan`: each catalog and its
# index by id are found once per data folder, not by joining a path and scanning a list per call.
@functools.cache
def _precisions_in(
    folder: Path,
) -> tuple[PrecisionCatalog, dict[str, WeightFormat], dict[str, KvFormat]]:
    cat = _precision_catalog(folder / "precisions.yaml")
    return cat, {w.id: w for w in cat.precisions}, {k.id: k for k in cat.kv_precisions}


@functools.cache
def _gpus_in(folder: Path) -> tuple[GpuCatalog, dict[str, Gpu]]:
    cat = _gpu_catalog(folder / "gpus.yaml")
    return cat, {g.id: g for g in cat.gpus}


@functools.cache
def _models_in(folder: Path) -> tuple[ModelCatalog, dict[str, Model]]:
    cat = _model_catalog(folder / "models.yaml")
    return cat, {m.id: m for m in cat.models}


def precision_catalog() -> PrecisionCatalog:
    """The validated number-format catalog (cached per file path)."""
    return _precisions_in(paths.data_dir())[0]


def weight_format(precision: str, key: str = "weights") -> WeightFormat:
    """The weight format ``precision``; unknown ids raise InputError naming the allowed ones."""
    formats = _precisions_in(paths.data_dir())[1]
    if precision not in formats:
        raise unknown("weight precision", key, precision, formats)
    return formats[precision]


def kv_format(precision: str, key: str = "kv_cache") -> KvFormat:
    """The KV-cache format ``precision``; unknown ids raise InputError naming the allowed ones."""
    formats = _precisions_in(paths.data_dir())[2]
    if precision not in formats:
        raise unknown("KV-cache precision", key, precision, formats)
    return formats[precision]


def gpu_catalog() -> GpuCatalog:
    """The validated GPU catalog (cached per file path)."""
    return _gpus_in(paths.data_dir())[0]


def model_catalog() -> ModelCatalog:
    """The validated model catalog (cached per file path)."""
    return _models_in(paths.data_dir())[0]


def gpu_ids() -> list[str]:
    """All GPU ids in catalog order."""
    return [g.id for g in gpu_catalog().gpus]


def model_ids() -> list[str]:
    """All model ids in catalog order."""
    return [m.id for m in model_catalog().models]


def display_names() -> dict[str, str]:
    """Catalog id -> the name tables show for it: GPUs by their short name, models by their name."""
    names = {g.id: g.label for g in gpu_catalog().gpus}
    return names | {m.id: m.label for m in model_catalog().models}


def get_gpu(gpu_id: str, key: str = "gpu") -> Gpu:
    """The catalog GPU ``gpu_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    # Only a string can equal an id (and an unhashable value must not raise TypeError here).
    gpu = _gpus_in(paths.data_dir())[1].get(gpu_id) if isinstance(gpu_id, str) else None
    if gpu is None:
        raise unknown("GPU", key, gpu_id, gpu_ids())
    return gpu


def get_model(model_id: str, key: str = "model") -> Model:
    """The catalog model ``model_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    # Only a string can equal an id (and an unhashable value must not raise TypeError here).
    model = _models_in(paths.data_dir())[1].get(model_id) if isinstance(model_id, str) else None
    if model is None:
        raise unknown("model", key, model_id, model_ids())
    return model


def gpu_frame(ids: list[str] | None = None) -> pd.DataFrame:
    """One row per GPU (index ``gpu_id``): name, vendor and one column per spec field (values only;
    None where the GPU does not have the field, e.g. an NVIDIA-only one)."""
    import pandas as pd  # only the report's tables need frames; lookups stay light

    gpus = [get_gpu(i) for i in ids] if ids is not None else gpu_catalog().gpus
    rows = {
        g.id: {"name": g.name, "vendor": g.vendor, **{k: g.spec(k) for k in GpuSpecs.model_fields}}
        for g in gpus
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "gpu_id"
    return frame


def model_frame(ids: list[str] | None = None) -> pd.DataFrame:
    """One row per model (index ``model_id``) with its config values and parameter count."""
    import pandas as pd

    models = [get_model(i) for i in ids] if ids is not None else model_catalog().models
    frame = pd.DataFrame([m.model_dump() for m in models]).set_index("id")
    frame.index.name = "model_id"
    return frame


def sources_frame(sources: dict[str, Source], ids=None, **columns: str) -> pd.DataFrame:
    """One row per source id (sorted; all of ``sources`` unless ``ids`` are given) with the source's
    fields except its note; ``columns`` adds constant columns (e.g. the file) after the id."""
    import pandas as pd

    chosen = sorted(sources if ids is None else ids)
    rows = [
        {"source": sid, **columns, **sources[sid].model_dump(exclude={"note"})} for sid in chosen
    ]
    return pd.DataFrame(rows).set_index("source")


def cited_sources_frame(local: dict[str, Source], cited: set[str], **columns: str) -> pd.DataFrame:
    """A file's own sources and the shared ones (``data/sources.yaml``) it cites, one row per source
    (sorted by id; see :func:`sources_frame`)."""
    return sources_frame(all_sources(local), set(local) | set(cited), **columns)


def gpu_sources_frame(ids: list[str]) -> pd.DataFrame:
    """The sources cited by the given GPUs' figures, one row per source (sorted by id)."""
    used = {sid for i in ids for _, sid in get_gpu(i).source_ids()}
    return sources_frame(all_sources(gpu_catalog().sources), used)


def model_sources_frame() -> pd.DataFrame:
    """The sources of the model catalog and of the number formats, one row per source."""
    import pandas as pd

    models, formats = model_catalog(), precision_catalog()
    model_cited = {m.config_source for m in models.models} | {
        m.parameters_source for m in models.models
    }
    format_cited = {w.source for w in formats.precisions} | {
        k.source for k in formats.kv_precisions
    }
    return pd.concat(
        [
            cited_sources_frame(models.sources, model_cited, file="models.yaml"),
            cited_sources_frame(formats.sources, format_cited, file="precisions.yaml"),
        ]
    )
