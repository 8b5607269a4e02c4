"""``data/engines.yaml``: inference engines, how each splits a model across GPUs and the weight and
KV-cache formats it runs. What an engine achieves is fitted from measurements
(:mod:`gpucompare.model.calibration`); this module only says what it can do."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from gpucompare.core import paths
from gpucompare.core.errors import InputError, unknown
from gpucompare.core.strict import Strict
from gpucompare.data import catalog
from gpucompare.data.loading import check_source_ids

#: How an engine spreads one model over several GPUs: ``tensor`` = Megatron-style tensor
#: parallelism (every GPU holds 1/N of every layer, two all-reduces per layer); ``layer`` = each GPU
#: holds whole layers and the GPUs run one after another for each token (llama.cpp's default
#: ``--split-mode layer``, ExLlama's ``gpu_split``).
SPLITS = ("tensor", "layer")


class Engine(Strict):
    """One inference engine."""

    id: str
    name: str
    split: Literal["tensor", "layer"]
    weights: list[str]
    kv_cache: list[str]
    source: str
    pipeline_microbatch_tokens: int | None = None
    pipeline_batch_tokens: int | None = None
    vendors: list[str] | None = None
    note: str | None = None


class EngineCatalog(Strict):
    """``data/engines.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, catalog.Source] = Field(default_factory=dict)
    engines: list[Engine]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> EngineCatalog:
        ids = [e.id for e in self.engines]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate engine ids in {ids}")
        check_source_ids(self.sources, [(f"engines.{e.id}", e.source) for e in self.engines], info)
        return self


@functools.cache
def _engine_catalog(path: Path) -> EngineCatalog:
    cat = catalog.load_validated(path, EngineCatalog)
    for e in cat.engines:
        for w in e.weights:
            catalog.weight_format(w, f"{path}: engines.{e.id}.weights")
        for k in e.kv_cache:
            catalog.kv_format(k, f"{path}: engines.{e.id}.kv_cache")
    return cat


@functools.cache
def _engines_in(folder: Path) -> EngineCatalog:
    # Found once per data folder: the planner asks for the catalog thousands of times a command.
    return _engine_catalog(folder / "engines.yaml")


def engine_catalog() -> EngineCatalog:
    """The validated engine catalog (cached per file path)."""
    return _engines_in(paths.data_dir())


def engine_ids() -> list[str]:
    """Engine ids in catalog order."""
    return [e.id for e in engine_catalog().engines]


def get_engine(engine_id: str, key: str = "engine") -> Engine:
    """The engine ``engine_id``; an unknown id raises InputError naming ``key`` and the allowed ids."""
    for e in engine_catalog().engines:
        if e.id == engine_id:
            return e
    raise unknown("engine", key, engine_id, engine_ids())


def require_formats(
    engine_id: str,
    weights: str,
    kv: str,
    key_weights: str = "weights",
    key_kv: str = "kv_cache",
    key_engine: str = "engine",
) -> Engine:
    """The engine, after checking it runs ``weights`` and ``kv``: else InputError with the allowed
    values (exit 2 at the command line)."""
    eng = get_engine(engine_id, key_engine)
    catalog.weight_format(weights, key_weights)
    catalog.kv_format(kv, key_kv)
    if weights not in eng.weights:
        raise InputError(
            f"{key_weights}: {eng.name} does not run '{weights}' weights; allowed: "
            + ", ".join(eng.weights)
        )
    if kv not in eng.kv_cache:
        raise InputError(
            f"{key_kv}: {eng.name} does not run a '{kv}' KV cache; allowed: "
            + ", ".join(eng.kv_cache)
        )
    return eng


def runs(engine_id: str, weights: str, kv: str) -> bool:
    """Whether ``engine_id`` runs ``weights`` with a ``kv`` cache."""
    eng = get_engine(engine_id)
    return weights in eng.weights and kv in eng.kv_cache


def runs_on(engine_id: str, vendor: str) -> bool:
    """Whether ``engine_id`` runs on GPUs of ``vendor`` (``vendors`` in data/engines.yaml; an engine
    without the key runs on every vendor's GPUs: TensorRT-LLM is NVIDIA-only)."""
    eng = get_engine(engine_id)
    return eng.vendors is None or vendor in eng.vendors
