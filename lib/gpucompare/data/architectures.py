"""``data/architectures.yaml``: the per-compute-unit, per-clock rates of each GPU chip variant, what
each vendor calls its parts (compute units, cores, GPU link), and how the GPU catalog's
tensor-throughput fields map onto the rates (:data:`TENSOR_RATES`).

Shared by the derivation formula (:mod:`gpucompare.model.specs`) and the data checks
(:mod:`gpucompare.data.checkdata`); :mod:`gpucompare.data.catalog` re-exports the schema and loaders."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.strict import Strict
from gpucompare.data.loading import Source, Sourced, check_source_ids, load_validated

#: Throughput spec fields (``data/gpus.yaml``) and the key of their per-SM rate in ``data/architectures.yaml``.
TENSOR_RATES: dict[str, str] = {
    "fp16_tensor_fp32acc_tflops": "fp16_fp32acc",
    "fp16_tensor_fp16acc_tflops": "fp16_fp16acc",
    "bf16_tensor_tflops": "bf16_fp32acc",
    "tf32_tensor_tflops": "tf32",
    "fp8_tensor_tflops": "fp8_fp32acc",
    "int8_tensor_tops": "int8",
}


class VendorTerms(Strict):
    """What a vendor calls its parts (the report's labels follow the GPU's vendor)."""

    compute_unit: str
    compute_units: str
    shader_cores: str
    matrix_cores: str
    gpu_link_name: str
    partitioning: str | None = None


class ArchVariant(Strict):
    """Per-compute-unit, per-clock rates of one chip variant (e.g. GeForce AD102 with half-rate FP32
    accumulate); a compute unit is an SM, CU or Xe core by the variant's vendor."""

    id: str
    vendor: str
    architecture: str
    chip: str
    applies_to: list[str]
    fma_per_clock_per_unit: dict[str, Sourced[float | None]]
    fp32_fma_per_clock_per_unit: Sourced[float]
    fp64_fma_per_clock_per_unit: Sourced[float]
    shader_cores_per_unit: Sourced[int]

    @property
    def fma_per_clock_per_sm(self) -> dict[str, Sourced[float | None]]:
        """Former name of :attr:`fma_per_clock_per_unit` (NVIDIA's compute unit is the SM)."""
        return self.fma_per_clock_per_unit

    @property
    def fp32_fma_per_clock_per_sm(self) -> Sourced[float]:
        """Former name of :attr:`fp32_fma_per_clock_per_unit`."""
        return self.fp32_fma_per_clock_per_unit

    @property
    def fp64_fma_per_clock_per_sm(self) -> Sourced[float]:
        """Former name of :attr:`fp64_fma_per_clock_per_unit`."""
        return self.fp64_fma_per_clock_per_unit

    def source_ids(self) -> list[tuple[str, str]]:
        """(where, source id) of every rate."""
        used = [
            (f"{self.id}.fma_per_clock_per_unit.{k}", s.source)
            for k, s in self.fma_per_clock_per_unit.items()
        ]
        for name in (
            "fp32_fma_per_clock_per_unit",
            "fp64_fma_per_clock_per_unit",
            "shader_cores_per_unit",
        ):
            used.append((f"{self.id}.{name}", getattr(self, name).source))
        return used


class ArchCatalog(Strict):
    """``data/architectures.yaml``."""

    schema_version: Literal[1]
    vendors: dict[str, VendorTerms]
    sources: dict[str, Source] = Field(default_factory=dict)
    variants: list[ArchVariant]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ArchCatalog:
        used = []
        for v in self.variants:
            if v.vendor not in self.vendors:
                raise ValueError(
                    f"{v.id}.vendor: unknown vendor '{v.vendor}'; allowed: {', '.join(self.vendors)}"
                )
            used += v.source_ids()
        check_source_ids(self.sources, used, info)
        return self


@functools.cache
def _arch_catalog(path: Path) -> ArchCatalog:
    return load_validated(path, ArchCatalog)


def arch_catalog() -> ArchCatalog:
    """The validated per-compute-unit rate catalog (cached per file path)."""
    return _arch_catalog(paths.data_dir() / "architectures.yaml")


def arch_variant(gpu_id: str) -> ArchVariant:
    """The chip variant whose per-compute-unit rates apply to ``gpu_id``."""
    for v in arch_catalog().variants:
        if gpu_id in v.applies_to:
            return v
    raise InputError(f"data/architectures.yaml: no variant lists GPU '{gpu_id}' in applies_to")
