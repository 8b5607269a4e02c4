"""Turn pydantic's ValidationError into one InputError that names the file, the key and the fix."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel, ValidationError

from gpucompare.errors import InputError, did_you_mean


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[Workload] | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields_at(root: type[BaseModel], loc: tuple) -> list[str] | None:
    """Field names of the model that holds ``loc[-1]``, walking down from ``root``."""
    cls: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int) or cls is None:
            continue
        field = cls.model_fields.get(part)
        if field is None:
            # A dict key (e.g. a GPU id); the value's model is the same as the dict's.
            continue
        cls = _model_in(field.annotation)
    return sorted(cls.model_fields) if cls is not None else None


def dotted(loc: tuple) -> str:
    """``("workloads", 0, "model")`` -> ``"workloads[0].model"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def input_error(exc: ValidationError, root: type[BaseModel], where: Path | str) -> InputError:
    """One InputError listing every problem as ``where: key: message``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = dotted(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(root, loc) or []
            hint = did_you_mean(str(loc[-1]), allowed)
            lines.append(f"{where}: {key}: unknown key{hint}; allowed keys: {', '.join(allowed)}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {key}: {msg} (got {err.get('input')!r})")
    return InputError("\n".join(lines))
