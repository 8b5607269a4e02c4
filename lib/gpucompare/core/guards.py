"""Positive-integer guards: argparse types for the command line (a usage error, exit code 2) and
a check for library arguments (an :class:`InputError` that names the argument)."""

from __future__ import annotations

import argparse
import math
import sys

from gpucompare.core import paths
from gpucompare.core.errors import InputError

#: The largest value of an integer argument without a bound of its own: the largest integer parameter
#: (a context of ``params.MAX_CONTEXT_TOKENS``, 10 million tokens; a test keeps the two equal); as
#: seconds (``--timeout``) it is 115 days. Larger numbers are typos, and would overflow float results
#: (inf in ``--json``).
MAX_CLI_INT = 10_000_000


def _int_in_range(text: str, high: int, why: str) -> int:
    try:
        value = int(text)
    except ValueError:
        if text.strip().isdigit():  # an integer of more than 4,300 digits
            raise argparse.ArgumentTypeError(
                f"must be at most {high:,} ({why}), got {paths.clip(text.strip(), 40)}"
            ) from None
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {paths.clip(repr(text), 40)}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    if value > high:
        raise argparse.ArgumentTypeError(
            f"must be at most {high:,} ({why}), got {paths.clip(str(value), 40)}"
        )
    return value


def positive_int(text: str) -> int:
    """argparse type: a positive integer up to :data:`MAX_CLI_INT`, else a usage error (exit code 2)
    that names the argument. ``1e309``, ``inf`` and ``nan`` are not integers."""
    return _int_in_range(text, MAX_CLI_INT, "the largest integer argument")


def bounded_int(high: int, why: str):
    """argparse type: a positive integer up to ``high`` (``why`` says where the bound comes from)."""

    def parse(text: str) -> int:
        return _int_in_range(text, high, why)

    parse.__name__ = "positive_int"  # argparse names the type in its messages
    return parse


def _numpy_scalars(*kinds: str) -> tuple[type, ...]:
    """numpy's scalar types ``kinds`` (``"integer"``, ``"floating"``) where numpy is loaded, else
    none: a value cannot be a numpy scalar before numpy is imported, and importing it only to rule
    that out would cost the one-line commands a tenth of a second (issue 21)."""
    np = sys.modules.get("numpy")
    return tuple(getattr(np, k) for k in kinds) if np is not None else ()


def _is_integer(value) -> bool:
    if type(value) is int:  # the common case, without looking numpy up
        return True
    return isinstance(value, (int, *_numpy_scalars("integer"))) and not isinstance(value, bool)


def require_positive_int(name: str, value) -> int:
    """``value`` as an int when it is a positive integer (bool is not), else an InputError naming ``name``."""
    if not _is_integer(value) or value < 1:
        raise InputError(f"{name}: must be a positive integer (got {value!r})")
    return int(value)


def _is_number(value) -> bool:
    if type(value) in (int, float):  # the common case, without looking numpy up
        return True
    numbers = (int, float, *_numpy_scalars("integer", "floating"))
    return isinstance(value, numbers) and not isinstance(value, bool)


def require_positive(name: str, value: float) -> None:
    """InputError naming ``name`` unless ``value`` is a finite number > 0 (true/false are not numbers)."""
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise InputError(f"{name}: must be a positive number (got {value!r})")


def require_nonnegative(name: str, value: float) -> None:
    """InputError naming ``name`` unless ``value`` is a finite number >= 0 (true/false are not numbers)."""
    if not (_is_number(value) and math.isfinite(value)):
        raise InputError(f"{name}: must be a finite number (got {value!r})")
    if value < 0:
        raise InputError(f"{name}: must be >= 0 (got {value!r})")
