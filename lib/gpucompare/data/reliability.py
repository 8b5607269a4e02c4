"""The reliability data file, ``data/reliability.yaml``: memory-error field studies (counts over a fleet
or FIT per Mbit), which study sets which model default, measured large matmuls behind the sustained
fractions, and the SMs of MIG profiles; its schema, loader, lookups and source table."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import unknown
from gpucompare.core.strict import Strict
from gpucompare.data import catalog
from gpucompare.data.loading import check_source_ids

if TYPE_CHECKING:
    import pandas as pd

Segment = Literal["datacenter", "workstation", "consumer"]


class Duration(Strict):
    """A study's length as published."""

    value: float
    unit: Literal["days", "months", "years"]


class FieldStudy(Strict):
    """One memory-error field study, as published: counts over a fleet, or FIT per Mbit."""

    id: str
    label: str
    memory: str
    kind: Literal["correctable", "uncorrectable", "interruption"]
    source: str
    events: float | None = None
    outlier_share: float = 0.0
    memory_share: float = 1.0
    devices: int | None = None
    memory_gib_per_device: float | None = None
    duration: Duration | None = None
    fit_per_mbit: float | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> FieldStudy:
        counts = (self.events, self.devices, self.memory_gib_per_device, self.duration)
        if self.fit_per_mbit is None and any(x is None for x in counts):
            raise ValueError(
                f"{self.id}: give either fit_per_mbit or all of events, devices, memory_gib_per_device, duration"
            )
        if self.fit_per_mbit is not None and any(x is not None for x in counts):
            raise ValueError(f"{self.id}: fit_per_mbit and counts are exclusive")
        for name in ("outlier_share", "memory_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{self.id}: {name} must be within [0, 1]")
        return self


class Defaults(Strict):
    """Which field study sets which model default."""

    correctable: str
    uncorrectable: str
    h100_uncorrectable_check: str


class SustainedMeasurement(Strict):
    """A measured large matmul: achieved TFLOPS against a catalog peak field of the same GPU."""

    id: str
    gpu: str
    measured_tflops: float
    peak_field: str
    source: str
    note: str | None = None


class ReliabilityData(Strict):
    """``data/reliability.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, catalog.Source] = Field(default_factory=dict)
    field_studies: list[FieldStudy]
    defaults: Defaults
    sustained_measurements: list[SustainedMeasurement]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ReliabilityData:
        used = [(f"field_studies.{s.id}", s.source) for s in self.field_studies]
        used += [(f"sustained_measurements.{m.id}", m.source) for m in self.sustained_measurements]
        check_source_ids(self.sources, used, info)
        ids = [s.id for s in self.field_studies]
        for name, sid in self.defaults.model_dump().items():
            if sid not in ids:
                raise ValueError(f"defaults.{name}: unknown field study '{sid}'; allowed: {ids}")
        for m in self.sustained_measurements:
            if catalog.LEGACY_SPEC_NAMES.get(m.peak_field, m.peak_field) not in (
                catalog.GpuSpecs.model_fields
            ):
                raise ValueError(f"{m.id}: peak_field '{m.peak_field}' is not a GPU spec field")
        return self


@functools.cache
def _load(path: Path) -> ReliabilityData:
    data = catalog.load_validated(path, ReliabilityData)
    for gid in [m.gpu for m in data.sustained_measurements]:
        catalog.get_gpu(gid, f"{path.name}: gpu")
    return data


def data() -> ReliabilityData:
    """The validated ``data/reliability.yaml`` (cached per file path)."""
    return _load(paths.data_dir() / "reliability.yaml")


def field_study(study_id: str) -> FieldStudy:
    """One field study by id; an unknown id raises InputError naming the allowed ones."""
    studies = {s.id: s for s in data().field_studies}
    if study_id not in studies:
        raise unknown("field study", "field_study", study_id, studies)
    return studies[study_id]


def sources_frame() -> pd.DataFrame:
    """The sources of ``data/reliability.yaml`` (its own and the shared ones it cites), one row per
    source (sorted by id)."""
    d = data()
    cited = {s.source for s in d.field_studies} | {m.source for m in d.sustained_measurements}
    return catalog.cited_sources_frame(d.sources, cited)
