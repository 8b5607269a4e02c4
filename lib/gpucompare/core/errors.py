"""The project's exceptions and the exit codes the CLI maps them to."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Exit code for bad input (unknown id, malformed YAML, invalid value, unknown key).
EXIT_BAD_INPUT = 2
#: Exit code for a build that started but failed (a notebook raised).
EXIT_BUILD_FAILED = 1


class GpucompareError(Exception):
    """Base class: a message meant for the user, printed without a traceback."""

    exit_code = EXIT_BUILD_FAILED


class InputError(GpucompareError):
    """Bad input: the message names the file and key and, where known, the allowed values."""

    exit_code = EXIT_BAD_INPUT


class BuildError(GpucompareError):
    """A report build failed after it started (e.g. a notebook raised)."""

    exit_code = EXIT_BUILD_FAILED


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, key: str, value: str, allowed: Iterable[str]) -> InputError:
    """Build the one error message for an unknown id: names key, value and allowed values."""
    allowed = sorted(allowed)
    return InputError(
        f"{key}: unknown {kind} '{value}'{did_you_mean(value, allowed)}; "
        f"allowed: {', '.join(allowed)}"
    )
