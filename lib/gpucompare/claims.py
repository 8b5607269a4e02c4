"""The article's claims (``data/claims.yaml``): loading and selection.

A claim holds what the article says (quote, value, unit) and how the report recomputes it
(``check``); it never holds a "correct" value.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from gpucompare import paths
from gpucompare.errors import InputError
from gpucompare.validation import input_error


class Claim(BaseModel):
    """One numeric claim of the article."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    section: str
    quote: str
    value: bool | int | float
    unit: str
    check: dict[str, Any]
    note: str | None = None


class ClaimFile(BaseModel):
    """``data/claims.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    article: dict[str, str]
    claims: list[Claim]


@functools.cache
def _load(path: Path) -> ClaimFile:
    raw = paths.load_yaml(path)
    try:
        return ClaimFile.model_validate(raw)
    except ValidationError as exc:
        raise input_error(exc, ClaimFile, path) from None


def claims(kind: str | None = None, section: str | None = None) -> list[Claim]:
    """The article's claims, optionally only those of one check kind and/or section."""
    found = _load(paths.data_dir() / "claims.yaml").claims
    ids = [c.id for c in found]
    if len(ids) != len(set(ids)):
        raise InputError("data/claims.yaml: duplicate claim ids")
    return [
        c
        for c in found
        if (kind is None or c.check.get("kind") == kind)
        and (section is None or c.section == section)
    ]
