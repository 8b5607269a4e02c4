"""The template of a new GPU, ``data/templates/gpu.yaml`` (part of ``gpucompare check-data``).

The template holds, in one file, every block a new GPU needs: its sources (for ``data/sources.yaml``
or the GPU file's own table), its catalog entry (``data/gpus.yaml``), its architecture variant
(``data/architectures.yaml``), its topology (``data/interconnect.yaml``) and its cloud prices
(``data/cloud_prices.yaml``). Each block is validated with the schema of the file it goes to, and
the GPU passes the same per-GPU checks as the catalog's (:mod:`gpucompare.data.check_gpus`) against
its own variant, so a GPU copied from the template is accepted as it is. ``docs/adding-a-gpu.md``
walks through it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.strict import Strict
from gpucompare.data import catalog, check_gpus
from gpucompare.data.interconnect import GpuTopology
from gpucompare.data.loading import Source, check_source_ids, load_validated
from gpucompare.data.prices import CloudPrice
from gpucompare.data.problem import Problem

#: The template, relative to the data folder.
TEMPLATE = "templates/gpu.yaml"


class GpuTemplate(Strict):
    """``data/templates/gpu.yaml``: the blocks of one new GPU, by the file each goes to."""

    schema_version: Literal[1]
    sources: dict[str, Source] = Field(default_factory=dict)
    gpu: catalog.Gpu
    architecture_variant: catalog.ArchVariant
    topology: GpuTopology
    cloud_prices: list[CloudPrice] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> GpuTemplate:
        gid = self.gpu.id
        used = self.gpu.source_ids() + self.architecture_variant.source_ids()
        used += [
            (f"topology.{name}", getattr(self.topology, name).source)
            for name in ("gpu_link_domain_gpus", "max_gpus_per_node", "p2p_over_pcie")
        ]
        used += [(f"cloud_prices[{i}]", r.source) for i, r in enumerate(self.cloud_prices)]
        check_source_ids(self.sources, used, info)
        wrong = [
            f"{where} is '{other}', not the template GPU '{gid}'"
            for where, other in [
                ("topology.id", self.topology.id),
                *[(f"cloud_prices[{i}].gpu", r.gpu) for i, r in enumerate(self.cloud_prices)],
            ]
            if other != gid
        ]
        if gid not in self.architecture_variant.applies_to:
            wrong.append(f"architecture_variant.applies_to does not list '{gid}'")
        wrong += [w.replace(f"{gid}.", "gpu.", 1) for w in catalog.vendor_problems(self.gpu)]
        if wrong:
            raise ValueError("; ".join(wrong))
        return self


def load(path: Path | None = None) -> GpuTemplate:
    """The validated template (InputError naming the file and keys on any schema problem)."""
    return load_validated(path or paths.data_dir() / TEMPLATE, GpuTemplate)


def _figure_problems(t: GpuTemplate, shown: str) -> list[Problem]:
    """Numeric figures of the template GPU that are not positive (the catalog's unit rule)."""
    out = []
    for field, fig in t.gpu.figures().items():
        v = fig.value
        if not check_gpus.is_numeric_spec(field) or v is None:
            continue
        may_be_zero = field == "mig_max_instances"
        if not math.isfinite(v) or v < 0 or (v == 0 and not may_be_zero):
            need = ">= 0" if may_be_zero else "> 0"
            out.append(Problem(shown, f"gpu.specs.{field}", f"must be {need} (got {v!r})"))
    return out


def template_problems(loaded: dict[str, Any]) -> list[Problem]:
    """The template's problems: schema (as :func:`load` reports them), then, against the loaded
    catalog files, the per-GPU cross checks of :mod:`gpucompare.data.check_gpus`, its vendor's terms
    and its link. Problems are named by the template file and the template's keys."""
    data = paths.data_dir()
    path = data / TEMPLATE
    shown = str(path)
    needed = ("sources.yaml", "gpus.yaml", "architectures.yaml", "interconnect.yaml")
    if any(name not in loaded for name in needed):
        return []  # the files the template is checked against do not load: reported there
    try:
        t = load(path)
    except InputError as exc:
        out = []
        for line in str(exc).splitlines():
            rest = line.removeprefix(f"{path}:").strip()
            key, sep, problem = rest.partition(": ")
            out.append(Problem(shown, key, problem) if sep else Problem(shown, "(file)", rest))
        return out
    prefix = f"{t.gpu.id}."
    out = [
        Problem(
            shown,
            p.key.replace(prefix, "gpu.", 1) if p.key.startswith(prefix) else p.key,
            p.problem,
        )
        for p in check_gpus.gpu_problems(t.gpu, shown)
        + check_gpus.tensor_problems(t.gpu, t.architecture_variant, shown)
    ]
    out += _figure_problems(t, shown)
    if "architectures.yaml" in loaded:
        vendors = loaded["architectures.yaml"].vendors
        for where, vendor in (
            ("gpu.vendor", t.gpu.vendor),
            ("architecture_variant.vendor", t.architecture_variant.vendor),
        ):
            if vendor not in vendors:
                out.append(
                    Problem(
                        shown, where, f"unknown vendor '{vendor}'; allowed: {', '.join(vendors)}"
                    )
                )
        if t.gpu.vendor != t.architecture_variant.vendor:
            out.append(
                Problem(
                    shown,
                    "gpu.vendor",
                    f"'{t.gpu.vendor}' but the variant is '{t.architecture_variant.vendor}'",
                )
            )
    if "interconnect.yaml" in loaded:
        ic = loaded["interconnect.yaml"]
        out += [
            Problem(shown, p.key.replace(f"gpus[{t.gpu.id}]", "topology", 1), p.problem)
            for p in check_gpus.link_problems([t.gpu], _with_topology(ic, t.topology), shown)
        ]
    return out


def _with_topology(ic: Any, topology: GpuTopology) -> Any:
    """The interconnect catalog with the template's topology in place of the catalog GPUs'."""
    return ic.model_copy(update={"gpus": [topology]})
