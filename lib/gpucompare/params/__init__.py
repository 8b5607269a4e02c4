"""Report parameters: one schema (:mod:`gpucompare.params.schema`), the defaults in
``params/default.yaml``, overrides on top.

Resolution order (later wins): ``params/default.yaml``, each ``--params`` file, each
``--set key=value``. Everything is validated here before any notebook starts, and each
notebook validates the values it was given again (:func:`notebook_params`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.validation import input_error
from gpucompare.params.fields import (
    MAX_BATCH,
    MAX_CONTEXT_TOKENS,
    MAX_DAYS,
    MAX_ERRORS_PER_GB_YEAR,
    MAX_GIB_PER_GPU,
    MAX_GPUS,
    MAX_HOURS,
    MAX_LATENCY_US,
    MAX_MC_DRAWS,
    MAX_RATE_PER_S,
    MAX_REQUEST_S,
    MAX_SEED,
    MAX_TP_DEGREE,
    MAX_USD_PER_GPU,
    MAX_USD_PER_GPU_HOUR,
    MAX_USD_PER_KWH,
    BatchSize,
    ContextTokens,
    Fraction,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Precision,
    TpDegree,
    UsdPerGpu,
    UsdPerGpuHour,
    UsdPerKwh,
)
from gpucompare.params.schema import Params
from gpucompare.params.services import Workload


def default_file() -> Path:
    """``params/default.yaml``."""
    return paths.params_dir() / "default.yaml"


def _read_mapping(path: Path) -> dict[str, Any]:
    return _mapping_of(paths.load_yaml(path), path)


def _mapping_of(raw: Any, path: Path) -> dict[str, Any]:
    if raw is None:
        raise InputError(
            f"{path}: the parameters file is empty; expected a mapping of parameter: value"
        )
    if not isinstance(raw, dict):
        raise InputError(
            f"{path}: expected a mapping of parameter: value, got {type(raw).__name__}"
        )
    return raw


#: ``params/default.yaml`` as last parsed: (its path, its text, the mapping). Every ``make`` and
#: audit check asks for the defaults; parsing costs ~1-3 ms, reading and comparing the text ~0.05 ms.
_DEFAULTS: list[tuple[Path, str, dict[str, Any]]] = []


def defaults_dict() -> dict[str, Any]:
    """The default parameters as plain data: a new copy per call (callers may change it), parsed
    again only when the file's text differs from the last parse."""
    path = default_file()
    text = paths.read_text_bounded(path)  # the same bounds and errors as every YAML read
    if not (_DEFAULTS and _DEFAULTS[0][:2] == (path, text)):
        _DEFAULTS[:] = [(path, text, _mapping_of(paths.parse_yaml(text, str(path)), path))]
    return copy.deepcopy(_DEFAULTS[0][2])


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; lists and scalars in ``override`` replace those in ``base``."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``--set key=value``; ``key`` is dotted (``price_usd.h100-sxm``, ``workloads.0.batch_size``)
    and ``value`` is read as YAML (so ``25000`` is a number and ``[a, b]`` a list)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {paths.clip(repr(assignment))}: expected key=value")
    parts = key.strip().split(".")
    key = paths.clip(key)  # quoted in messages: a key of 10,000 dots is not printed whole
    if len(parts) > paths.MAX_YAML_DEPTH:
        raise InputError(
            f"--set {key}: {len(parts)} dotted parts, more than the {paths.MAX_YAML_DEPTH} levels "
            "of nesting allowed (parameters nest at most 3 levels deep)"
        )
    value = paths.parse_yaml(text, f"--set {key}")  # bounded like a file: depth, size, aliases
    out = copy.deepcopy(data)
    node: Any = out
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                raise InputError(
                    f"--set {key}: '{paths.clip(part)}' is not an index of a list of {len(node)}"
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise InputError(
                f"--set {key}: '{paths.clip('.'.join(parts[:i]))}' is not a mapping or list"
            )
    return paths.check_bounded(out, f"--set {key}")  # the key's depth plus the value's


def validate(data: dict[str, Any], where: str = "parameters") -> Params:
    """Validate plain data against :class:`Params`; problems raise one InputError."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, Params, where) from None


def resolve(files: list[Path] = (), sets: list[str] = ()) -> tuple[Params, dict[str, Any]]:
    """Defaults, then each file, then each ``--set``: the validated Params and the merged data.
    The report also checks the parameters against the data before any notebook runs
    (:func:`gpucompare.report.preflight.resolve`)."""
    data = defaults_dict()
    sources = [str(default_file())]
    for f in files:
        data = _merge(data, _read_mapping(Path(f)))
        sources.append(str(f))
    for s in sets:
        data = apply_set(data, s)
    where = " + ".join(sources) + ("" if not sets else " + --set")
    p = validate(data, where)
    return p, data


def make(**values: Any) -> Params:
    """Validated parameters: the given values over the defaults (for the library and tests)."""
    bad = [k for k in values if k not in Params.model_fields]
    if bad:
        raise InputError(
            f"parameters: unknown parameter(s) {bad}; allowed: {sorted(Params.model_fields)}"
        )
    for k, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"parameters: {k}: must be finite (got {v})")
    return validate({**defaults_dict(), **values}, "notebook parameters")


class SectionParams:
    """A notebook's view of the parameters: reading a parameter that the notebook's
    ``parameters`` cell did not declare raises, because the build injects only declared ones
    (an undeclared parameter would silently keep its default when a user overrides it)."""

    def __init__(self, params: Params, declared: set[str]):
        self._params = params
        self._declared = frozenset(declared)

    def __getattr__(self, name: str) -> Any:
        if name in Params.model_fields and name not in self._declared:
            raise InputError(
                f"this section reads parameter '{name}' but its parameters cell does not declare it; "
                "add it there (with its default from params/default.yaml)"
            )
        return getattr(self._params, name)

    def price_of(self, gpu_id: str) -> float:
        """Purchase price in USD (reads ``price_usd``, so the section must declare it)."""
        self.price_usd  # noqa: B018 - a declared-parameter check, value unused
        return self._params.price_of(gpu_id)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return self._params.model_dump(**kwargs)


def notebook_params(namespace: Mapping[str, Any] | None = None, /, **values: Any) -> SectionParams:
    """Validate a notebook's parameters (its values over the defaults, same schema as the build)
    and return a view that refuses parameters the notebook did not declare.

    A notebook passes its namespace, ``notebook_params(globals())``: the declared parameters are
    the schema's names its parameters cell assigned (the build injects exactly those). A value of
    ``None`` in the cell means "the default of ``params/default.yaml``", so long lists such as the
    workloads live in that file only. Keyword ``values`` are for library code and tests."""
    if namespace is not None:
        values = {k: v for k, v in namespace.items() if k in Params.model_fields} | values
    declared = set(values)
    return SectionParams(make(**{k: v for k, v in values.items() if v is not None}), declared)


def non_default_keys(p: Params) -> list[str]:
    """Parameter names whose validated value differs from the validated defaults."""
    resolved, defaults = p.model_dump(), validate(defaults_dict(), str(default_file())).model_dump()
    return sorted(k for k in resolved if resolved[k] != defaults[k])


def describe() -> list[dict[str, str]]:
    """One row per parameter: name and description (from the schema)."""
    return [
        {"parameter": name, "description": f.description or ""}
        for name, f in Params.model_fields.items()
    ]


__all__ = [
    "MAX_BATCH",
    "MAX_CONTEXT_TOKENS",
    "MAX_DAYS",
    "MAX_ERRORS_PER_GB_YEAR",
    "MAX_GIB_PER_GPU",
    "MAX_GPUS",
    "MAX_HOURS",
    "MAX_LATENCY_US",
    "MAX_MC_DRAWS",
    "MAX_RATE_PER_S",
    "MAX_REQUEST_S",
    "MAX_SEED",
    "MAX_TP_DEGREE",
    "MAX_USD_PER_GPU",
    "MAX_USD_PER_GPU_HOUR",
    "MAX_USD_PER_KWH",
    "BatchSize",
    "ContextTokens",
    "Fraction",
    "NonNegativeFloat",
    "Params",
    "PositiveFloat",
    "PositiveInt",
    "Precision",
    "SectionParams",
    "TpDegree",
    "UsdPerGpu",
    "UsdPerGpuHour",
    "UsdPerKwh",
    "Workload",
    "apply_set",
    "default_file",
    "defaults_dict",
    "describe",
    "make",
    "non_default_keys",
    "notebook_params",
    "resolve",
    "validate",
]
