"""Sources and the validated loading of every data file.

A figure names its document by a source id. The id is defined once: in the ``sources`` table of the
file that cites it, or, for a document that several files cite, in the shared table
``data/sources.yaml``. Every data file may cite the shared ids; the same id (or the same address) in
two tables is a problem of ``gpucompare check-data``. :func:`load_validated` reads a YAML file,
validates it against its schema and hands the schema's validators the shared ids (pydantic
validation context), so each loader accepts ``own table + data/sources.yaml`` and nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError, ValidationInfo

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.strict import Strict
from gpucompare.core.validation import input_error

T = TypeVar("T")

#: The shared source table, relative to the data folder.
SOURCES_FILE = "sources.yaml"
#: Key of the pydantic validation context that carries the shared source ids.
CONTEXT_KEY = "shared_source_ids"


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


class SourceFile(Strict):
    """``data/sources.yaml``: documents cited by more than one data file."""

    schema_version: Literal[1]
    conventions: str | None = None
    sources: dict[str, Source]


def load_validated(path: Path, schema: type[BaseModel]):
    """Read a YAML data file and validate it against ``schema``: one InputError naming the file
    and keys on any problem (missing file, malformed YAML, not a mapping, schema violations). The
    schema's validators see the ids of ``data/sources.yaml`` (:func:`shared_source_ids`)."""
    raw = paths.load_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    context = None if schema is SourceFile else {CONTEXT_KEY: frozenset(shared_sources())}
    try:
        return schema.model_validate(raw, context=context)
    except ValidationError as exc:
        raise input_error(exc, schema, path, raw) from None


@functools.cache
def _shared(path: Path) -> dict[str, Source]:
    if not path.exists():
        return {}
    return dict(load_validated(path, SourceFile).sources)


def shared_sources() -> dict[str, Source]:
    """The shared source table ``data/sources.yaml`` (empty when the data folder has none; cached per
    file path)."""
    return _shared(paths.data_dir() / SOURCES_FILE)


def shared_source_ids(info: ValidationInfo | None = None) -> frozenset[str]:
    """The shared ids a validator may accept: those of the validation context, else of the file."""
    context = getattr(info, "context", None)
    if isinstance(context, Mapping) and CONTEXT_KEY in context:
        return frozenset(context[CONTEXT_KEY])
    return frozenset(shared_sources())


def check_source_ids(
    local: Mapping[str, Source], used: Iterable[tuple[str, str]], info: ValidationInfo | None = None
) -> None:
    """Raise ValueError naming every ``(where, source id)`` of ``used`` defined neither in the file's
    own table ``local`` nor in ``data/sources.yaml``."""
    shared = shared_source_ids(info)
    missing = sorted(
        {
            f"{where}: source '{sid}'"
            for where, sid in used
            if sid not in local and sid not in shared
        }
    )
    if missing:
        raise ValueError(
            "undefined source ids: "
            + "; ".join(missing)
            + " (define each in the file's sources table or in data/sources.yaml)"
        )


def all_sources(local: Mapping[str, Source]) -> dict[str, Source]:
    """The sources a file may cite: ``data/sources.yaml`` and the file's own table (its own wins)."""
    return {**shared_sources(), **local}


def known_source_ids(local: Mapping[str, Source]) -> set[str]:
    """The ids a file may cite (:func:`all_sources`)."""
    return set(local) | set(shared_sources())
