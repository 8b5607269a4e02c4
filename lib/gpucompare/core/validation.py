"""Turn pydantic's ValidationError into one InputError that names the file, the key and the fix."""

from __future__ import annotations

import reprlib
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from gpucompare.core.errors import InputError, did_you_mean


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
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out and not str(part).startswith("[") else str(part)
    return out


def _with_ids(loc: tuple, data: Any) -> tuple:
    """``loc`` with each list index replaced by the item's ``id`` where it has one (``gpus[h100-sxm]``)."""
    out, node = [], data
    for part in loc:
        item = None
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            item = node[part]
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out.append(f"[{item['id']}]")
                node = item
                continue
        elif isinstance(node, dict):
            item = node.get(part)
        out.append(part)
        node = item
    return tuple(out)


def _unwrap(annotation: object) -> tuple[object, list, bool]:
    """(type, constraints, nullable) of ``Annotated[float, Field(gt=0)] | None`` and the like."""
    constraints: list = []
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            for e in extra:
                constraints += e.metadata if isinstance(e, FieldInfo) else [e]
            annotation = base
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, constraints, nullable
            annotation = args[0]
        else:
            return annotation, constraints, nullable


def _annotation_at(root: type[BaseModel], loc: tuple) -> tuple[object, list, bool] | None:
    """The schema's (type, constraints, nullable) at ``loc``, or None where it cannot be followed."""
    annotation: object = root
    constraints: list = []
    nullable = False
    for part in loc:
        annotation, more, null = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            annotation, constraints, nullable = field.annotation, list(field.metadata), False
            continue
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is dict and len(args) == 2:
            annotation = args[0] if part == "[key]" else args[1]
        elif origin is list and args:
            annotation = args[0]
        elif origin is tuple and args and isinstance(part, int) and part < len(args):
            annotation = args[part]
        else:
            return None
        constraints, nullable = [], False
    annotation, more, null = _unwrap(annotation)
    return annotation, constraints + more, nullable or null


_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "<="),
)


def _describe(annotation: object, constraints: list, nullable: bool) -> str | None:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        text = "true or false"
    elif annotation is int:
        text = "an integer"
    elif annotation is float:
        text = "a number"
    elif annotation is str:
        text = "text"
    elif origin is typing.Literal:
        text = "one of " + ", ".join(str(a) for a in args)
    elif origin is tuple and args:
        items = [_describe(*_unwrap(a)) for a in args]
        text = f"a list of {len(args)} values" + (
            f" (each {items[0]})" if None not in items and len(set(items)) == 1 else ""
        )
    elif origin in (list, dict) and args:
        item = _describe(*_unwrap(args[-1]))
        text = ("a list" if origin is list else "a mapping") + (f" (each {item})" if item else "")
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        text = "a mapping with keys " + ", ".join(annotation.model_fields)
    else:
        return None
    bounds = [
        f"{sign} {getattr(c, attr)}"
        for c in constraints
        for cls, attr, sign in _BOUNDS
        if isinstance(c, cls)
    ]
    bounds += [
        f"with at least {c.min_length} item{'s' if c.min_length != 1 else ''}"
        for c in constraints
        if isinstance(c, annotated_types.MinLen)
    ]
    if bounds:
        text += " " + " and ".join(bounds)
    return text + (", or null" if nullable else "")


def expected_at(root: type[BaseModel], loc: tuple) -> str | None:
    """What the schema allows at ``loc`` in words (``"a number >= 1.0 and <= 3.0"``), or None."""
    found = _annotation_at(root, loc)
    return None if found is None else _describe(*found)


def _short_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 3, 6, 6, 4, 6
    r.maxstring, r.maxlong, r.maxother = 60, 40, 60
    return r


_REPR = _short_repr()
#: Problems listed in one error message; the rest are counted (a 1 MB file can hold 100,000 of them).
MAX_PROBLEMS_SHOWN = 50


def _short(value: Any, limit: int = 80) -> str:
    """A repr of ``value`` of at most ``limit`` characters, built without reprs of the whole value
    (``repr()`` of an alias bomb's list takes minutes and gigabytes): :mod:`reprlib` stops after a
    few items and levels."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails must not hide the validation error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def input_error(
    exc: ValidationError, root: type[BaseModel], where: Path | str, data: Any = None
) -> InputError:
    """One InputError listing every problem as ``where: key: message; allowed: ...``. With the raw
    ``data``, list items that have an ``id`` are named by it (``gpus[h100-sxm].specs.sm_count``)."""
    lines = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS_SHOWN]:
        loc = tuple(err["loc"])
        key = dotted(_with_ids(loc, data) if data is not None else loc) or "(top level)"
        key = key if len(key) <= 120 else key[:116] + " ..."
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(root, loc) or []
            hint = did_you_mean(str(loc[-1]), allowed)
            lines.append(f"{where}: {key}: unknown key{hint}; allowed keys: {', '.join(allowed)}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        expected = (
            None if "allowed" in msg or err["type"] == "literal_error" else expected_at(root, loc)
        )
        hint = f"; allowed: {expected}" if expected else ""
        if err["type"] == "missing":
            lines.append(f"{where}: {key}: {msg}" + (f"; expected: {expected}" if expected else ""))
        else:
            lines.append(f"{where}: {key}: {msg} (got {_short(err.get('input'))}){hint}")
    if len(errors) > MAX_PROBLEMS_SHOWN:
        lines.append(f"{where}: ... and {len(errors) - MAX_PROBLEMS_SHOWN:,} more problem(s)")
    return InputError("\n".join(lines))
