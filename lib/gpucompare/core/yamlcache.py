"""YAML documents parsed before, kept as JSON (issue 21): PyYAML builds its Python objects in
Python even with libyaml's parser (~20 ms for data/gpus.yaml), and every process reads the same
files (each report kernel, each one-line command); JSON is read in C.

Entries are written only when the process says so (:func:`flush`: a command that succeeded, a
report kernel after each cell, the preview after a good build), never by a command that stops on
bad input: that writes nothing at all.

An entry is named by a digest of the document's text and PyYAML's version, so an edited file is a
new entry and an entry is exact or never found. Only documents that passed the size and nesting
checks are kept (:func:`gpucompare.core.paths.check_bounded`: an alias bomb is never expanded into
an entry). JSON keeps fewer types than YAML, so every mapping and list is tagged (``{"m": [[key,
value], ...]}``, ``{"l": [...]}``: keys keep their type) and dates and times too (``{"d": ...}``,
``{"t": ...}``); a document with anything else (binary, sets, infinite numbers) is not kept. An
entry that does not decode is a miss: the text is parsed again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.util
import math
import re
from pathlib import Path
from typing import Any

from gpucompare.core import filecache

#: Parsed documents kept (least recently used dropped first): the data files, parameter files and
#: a few older versions of each.
MAX_ENTRIES = 256
KIND = "yaml-parsed"
_SCALARS = (str, int, float, bool, type(None))


class _NotKept(Exception):
    """A value JSON cannot hold exactly."""


def key(text: str) -> str:
    return filecache.digest(KIND, parser_version(), text)


_VERSION = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.M)


@functools.cache
def parser_version() -> str:
    """PyYAML's version (a document parsed by another version is parsed again), read from its
    package's source rather than by importing it: a process whose documents all come from the
    cache never loads PyYAML (~10 ms)."""
    spec = importlib.util.find_spec("yaml")
    try:
        found = _VERSION.search(Path(spec.origin).read_text(encoding="utf-8"))
    except (AttributeError, TypeError, OSError, UnicodeDecodeError):
        found = None
    if found:
        return found.group(1)
    import yaml  # an unusual install: ask the module itself

    return yaml.__version__


def encode(value: Any) -> Any:
    """``value`` (safe-loaded YAML) as tagged JSON data; :class:`_NotKept` for other types."""
    if isinstance(value, dict):
        return {"m": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return {"l": [encode(v) for v in value]}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if type(value) in _SCALARS:
        if isinstance(value, float) and not math.isfinite(value):
            raise _NotKept  # JSON has no infinity or NaN
        return value
    raise _NotKept


def decode(data: Any) -> Any:
    """The value :func:`encode` made ``data`` of; ValueError, TypeError or KeyError for anything
    else."""
    if isinstance(data, dict):
        (tag, inner), *rest = data.items()
        if rest:
            raise ValueError("one tag per object")
        if tag == "m":
            return {_hashable(decode(k)): decode(v) for k, v in inner}
        if tag == "l":
            return [decode(v) for v in inner]
        if tag == "t":
            return dt.datetime.fromisoformat(inner)
        if tag == "d":
            return dt.date.fromisoformat(inner)
        raise ValueError(f"unknown tag {tag!r}")
    if type(data) in _SCALARS:
        return data
    raise TypeError("untagged list")


def _hashable(k: Any) -> Any:
    hash(k)  # a mapping key that is a list or mapping is not YAML a safe loader gives
    return k


def _store(folder: Path) -> filecache.JsonCache:
    return filecache.JsonCache(folder, KIND, MAX_ENTRIES)


def get(folder: Path, text: str) -> tuple[bool, Any]:
    """``(True, document)`` when ``text`` was parsed and kept before, else ``(False, None)``."""
    # Not marked as used on a hit: a process reads ~20 documents, and each mark stats the folder.
    # The least recently written go first instead.
    kept = _store(folder).get(key(text), mark_used=False)
    if kept is None:
        return False, None
    try:
        return True, decode(kept)
    except (ValueError, TypeError, KeyError):
        return False, None


#: Documents parsed in this process and not yet written: ``{(folder, key): encoded}``.
_pending: dict[tuple[Path, str], Any] = {}


def put(folder: Path, text: str, document: Any) -> None:
    """Keep ``document``, the parsed (and checked) ``text``, if JSON can hold it exactly: written
    by the next :func:`flush`."""
    with contextlib.suppress(_NotKept):  # a document JSON cannot hold is parsed every time
        _pending[Path(folder), key(text)] = encode(document)


def flush() -> int:
    """Write the documents parsed since the last flush; returns how many (free when none)."""
    written = 0
    while _pending:
        (folder, name), encoded = _pending.popitem()
        written += _store(folder).put(name, encoded)
    return written
