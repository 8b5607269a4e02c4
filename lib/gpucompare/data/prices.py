"""Cloud rental prices: the schema and loader of ``data/cloud_prices.yaml`` (dated snapshots of
on-demand, reserved and marketplace USD per GPU-hour, each citing a source)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.strict import Strict
from gpucompare.data import catalog
from gpucompare.data.loading import known_source_ids

if TYPE_CHECKING:
    import pandas as pd


class CloudPrice(Strict):
    """One dated rental price of one GPU."""

    gpu: str
    kind: Literal["on_demand", "reserved", "marketplace"]
    usd_per_gpu_hour: float
    provider: str
    date: str | None
    source: str
    note: str | None = None


class CloudPriceFile(Strict):
    """``data/cloud_prices.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, catalog.Source] = Field(default_factory=dict)
    prices: list[CloudPrice]


@functools.cache
def _cloud_file(path: Path) -> CloudPriceFile:
    data = catalog.load_validated(path, CloudPriceFile)
    missing = sorted({p.source for p in data.prices} - known_source_ids(data.sources))
    if missing:
        raise InputError(f"{path}: undefined source ids {missing}")
    return data


def cloud_prices() -> CloudPriceFile:
    """The validated cloud price file."""
    return _cloud_file(paths.data_dir() / "cloud_prices.yaml")


def sources_frame() -> pd.DataFrame:
    """The cloud-price sources (the file's own and the shared ones it cites), one row per source."""
    data = cloud_prices()
    return catalog.cited_sources_frame(data.sources, {p.source for p in data.prices})
