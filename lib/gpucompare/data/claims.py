"""The article's claims (``data/claims/<section>.yaml``): loading and selection.

A claim holds what the article says (quote, value, unit) and how the report recomputes it
(``check``); it never holds a "correct" value. See ``data/claims/README.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.strict import Strict
from gpucompare.core.validation import input_error


class Claim(Strict):
    """One numeric claim of the article."""

    id: str
    section: str
    quote: str
    value: bool | int | float
    unit: str
    check: dict[str, Any]
    note: str | None = None


class ClaimFile(Strict):
    """One ``data/claims/<section>.yaml``."""

    schema_version: Literal[1]
    claims: list[Claim]


@functools.cache
def _load_dir(folder: Path) -> tuple[Claim, ...]:
    found: list[Claim] = []
    for path in sorted(folder.glob("*.yaml")):
        raw = paths.load_yaml(path)
        try:
            found += ClaimFile.model_validate(raw).claims
        except ValidationError as exc:
            raise input_error(exc, ClaimFile, path) from None
    ids = [c.id for c in found]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InputError(f"{folder}: duplicate claim ids {dupes}")
    return tuple(found)


def claims(kind: str | None = None, section: str | None = None) -> list[Claim]:
    """The article's claims, optionally only those of one check kind and/or section."""
    found = _load_dir(paths.data_dir() / "claims")
    return [
        c
        for c in found
        if (kind is None or c.check.get("kind") == kind)
        and (section is None or c.section == section)
    ]
