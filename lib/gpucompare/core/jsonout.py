"""The one way the CLI prints JSON: strict JSON or one InputError, never ``Infinity`` or ``NaN``.

Python's ``json.dumps`` writes a non-finite float as ``Infinity``/``NaN`` by default, which no JSON
parser accepts. The parameters and arguments are bounded so that no result overflows; should one
still be non-finite, :func:`dumps` refuses it with a message naming the key instead of printing
invalid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gpucompare.core.errors import InputError


def _non_finite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """(key, value) of the first non-finite float in ``obj``, or None."""
    stack: list[tuple[Any, str]] = [(obj, where)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return at or "(top level)", value
        if isinstance(value, dict):
            stack += [(v, f"{at}.{k}" if at else str(k)) for k, v in reversed(value.items())]
        elif isinstance(value, (list, tuple)):
            stack += [(v, f"{at}[{i}]") for i, v in reversed(list(enumerate(value)))]
    return None


def dumps(obj: Any, indent: int | None = 2) -> str:
    """``obj`` as strict JSON (``allow_nan=False``); a non-finite number raises one InputError naming
    its key (exit code 2: the inputs are out of the range the results are defined for)."""
    try:
        return json.dumps(obj, indent=indent, allow_nan=False)
    except ValueError:
        found = _non_finite(obj)
        if found is None:
            raise
        key, value = found
        raise InputError(
            f"--json: result {key} is {value} (not a finite number), which JSON cannot hold; "
            "the inputs are out of the range this result is defined for, so nothing was printed"
        ) from None


def print_json(obj: Any, indent: int | None = 2) -> None:
    """Print ``obj`` as strict JSON (:func:`dumps`): nothing is printed if it cannot be."""
    print(dumps(obj, indent=indent))
