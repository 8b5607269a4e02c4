"""Fitted parameters kept on disk between processes (issue 21): a fit (a parameter vector, the keys
of its offsets and the rows it was fitted on) and the calibration's cross-validation (a table),
under a key that hashes everything they depend on, so that an entry is either exact or never found.

The key (:func:`key`): every file under ``data/`` (and the measurement folder asked for), the
library's code, ``params/default.yaml`` (the parameters calibrations are fitted with) and the
Python, numpy, pandas and scipy versions. An entry is JSON (:class:`gpucompare.core.filecache.JsonCache`
under ``<cache>/fits/``): floats round-trip exactly, so a fit read back gives the same numbers as
the fit it stored, and a table comes back with the same dtypes, index and column order (a table
that would not is not stored); an entry that does not read back is a miss, and the work runs again.

A fit's rows come back as a :class:`Table`, plain columns read without pandas (~0.3 s to import
here): the one-line commands count rows in them, and only callers that want the DataFrame build it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gpucompare import params
from gpucompare.core import filecache, memo, paths

if TYPE_CHECKING:
    import pandas as pd

#: Fits kept per kind (least recently used dropped first): a few data versions or scenarios.
MAX_ENTRIES = 8


def _store(kind: str) -> filecache.JsonCache:
    return filecache.JsonCache(paths.cache_dir() / "fits", kind, MAX_ENTRIES)


def key(kind: str, folder: Path | None = None) -> str:
    """The entry name of a ``kind`` entry (a fit, a cross-validation) on ``folder`` (default: the
    data's measurements): the folder is the only argument either takes."""
    keep = paths.trees_dir()
    return filecache.digest(
        kind,
        filecache.hash_tree(paths.data_dir(), ("**/*",), keep),
        filecache.hash_tree(Path(folder), ("**/*",), keep) if folder else "",
        params.default_file().read_bytes(),
        memo.code_and_versions(),
    )


def _frame_payload(frame: pd.DataFrame) -> dict | None:
    """``frame`` as JSON data (columns, dtypes, values, a range index), or None when it would not
    read back identically (:func:`_frame_of`): another index, repeated or non-text column names."""
    import pandas as pd

    cols, index = list(frame.columns), frame.index
    if not isinstance(index, pd.RangeIndex) or index.name is not None:
        return None
    if not all(isinstance(c, str) for c in cols) or len(set(cols)) != len(cols):
        return None
    return {
        "index": [index.start, index.stop, index.step],
        "columns": cols,
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [frame[c].tolist() for c in cols],
    }


def _frame_of(payload: dict) -> pd.DataFrame:
    """The table :func:`_frame_payload` wrote (KeyError, TypeError or ValueError if it is not one)."""
    import pandas as pd

    cols = payload["columns"]
    index = pd.RangeIndex(*payload["index"])
    frame = pd.DataFrame(dict(zip(cols, payload["data"], strict=True)), columns=cols, index=index)
    return frame.astype(dict(zip(cols, payload["dtypes"], strict=True)))


def _round_trips(frame: pd.DataFrame, payload: dict) -> bool:
    """Whether ``payload`` reads back as ``frame``: the same dtypes (a dtype's name, e.g. ``str``,
    does not name its storage) and the same values (JSON keeps floats exact, and refuses NaN)."""
    back = _frame_of(payload)
    return list(back.dtypes) == list(frame.dtypes) and _frame_payload(back) == payload


class Table:
    """A table as plain columns (the JSON data of :func:`_frame_payload`, or a DataFrame already
    built): :meth:`column` reads values without pandas; :meth:`frame` builds the DataFrame once, on
    the first call, exactly as :func:`load_frame` would (and the same object on every later call)."""

    def __init__(self, payload: dict | None = None, frame: pd.DataFrame | None = None):
        self._payload, self._frame = payload, frame

    @classmethod
    def read(cls, payload: dict) -> Table:
        """The table stored as ``payload``; ValueError unless it has the shape :func:`_frame_payload`
        writes (a range, one text name and dtype name per column, as many values as the range).
        The dtype names are only used, and so only checked, when :meth:`frame` builds the frame."""
        index, cols = payload["index"], payload["columns"]
        if not (isinstance(index, list) and len(index) == 3 and all(type(i) is int for i in index)):
            raise ValueError("index is not a range")
        if index[2] == 0:
            raise ValueError("index step 0")
        n, data, dtypes = len(range(*index)), payload["data"], payload["dtypes"]
        if not (isinstance(cols, list) and isinstance(data, list) and isinstance(dtypes, list)):
            raise ValueError("columns, dtypes and data must be lists")
        if not all(isinstance(c, str) for c in cols) or len(set(cols)) != len(cols):
            raise ValueError("column names must be distinct text")
        if not all(isinstance(t, str) for t in dtypes):
            raise ValueError("dtype names must be text")
        if not len(cols) == len(dtypes) == len(data) or any(
            not isinstance(d, list) or len(d) != n for d in data
        ):
            raise ValueError("a column of another length")
        return cls(payload=payload)

    def __len__(self) -> int:
        if self._frame is not None:
            return len(self._frame)
        return len(range(*self._payload["index"]))

    def column(self, name: str) -> list:
        """The values of column ``name`` as Python objects (``frame[name].tolist()``)."""
        if self._frame is not None:
            return self._frame[name].tolist()
        return list(self._payload["data"][self._at(name)])

    def _at(self, name: str) -> int:
        try:
            return self._payload["columns"].index(name)
        except ValueError:
            raise KeyError(name) from None

    def select(self, names: list[str]) -> Table:
        """Columns ``names`` only, with a fresh range index (``frame[names].reset_index(drop=True)``)."""
        if self._frame is not None:
            return Table(frame=self._frame[names].reset_index(drop=True))
        at = [self._at(c) for c in names]
        return Table(
            payload={
                "index": [0, len(self), 1],
                "columns": list(names),
                "dtypes": [self._payload["dtypes"][i] for i in at],
                "data": [self._payload["data"][i] for i in at],
            }
        )

    def frame(self) -> pd.DataFrame:
        """The DataFrame (built on the first call; callers that change it copy it first)."""
        if self._frame is None:
            self._frame = _frame_of(self._payload)
        return self._frame


def save(kind: str, digest: str, x: np.ndarray, keys: dict, frame: pd.DataFrame) -> bool:
    """Store a fit: parameter vector ``x``, offset ``keys`` (name -> tuple of ids or id tuples)
    and the rows ``frame``. False when nothing could be written (the fit is then simply redone)."""
    table = _frame_payload(frame)
    if table is None or not _round_trips(frame, table):
        return False
    payload = {
        "x": np.asarray(x, dtype=float).tolist(),
        "keys": {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in keys.items()},
        "frame": table,
    }
    return _store(kind).put(digest, payload)


def load(kind: str, digest: str) -> tuple[np.ndarray, dict, Table] | None:
    """``(x, keys, rows)`` as :func:`save` stored them (the rows as a :class:`Table`), or None."""
    payload = _store(kind).get(digest)
    try:
        rows = Table.read(payload["frame"])
        keys = {
            k: tuple(tuple(v) if isinstance(v, list) else v for v in vs)
            for k, vs in payload["keys"].items()
        }
        return np.array(payload["x"], dtype=float), keys, rows
    except (KeyError, TypeError, ValueError, AttributeError):  # None, or not a fit
        return None


def save_frame(kind: str, digest: str, frame: pd.DataFrame) -> bool:
    """Store a table; False when nothing was written (a table that would not read back exactly,
    e.g. one holding NaN, or an unwritable cache): it is then computed again next time."""
    payload = _frame_payload(frame)
    if payload is None or not _round_trips(frame, payload):
        return False
    return _store(kind).put(digest, payload)


def load_frame(kind: str, digest: str) -> pd.DataFrame | None:
    """The table :func:`save_frame` stored, or None (no entry, or one that is not a table)."""
    payload = _store(kind).get(digest)
    try:
        return _frame_of(payload)
    except (KeyError, TypeError, ValueError, AttributeError):  # None, or not a table
        return None


def cached_frame(
    kind: str, folder: Path | None, compute: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """The ``kind`` table of the data (and ``folder``) from the cache, else ``compute()``'d and
    stored."""
    digest = key(kind, folder)
    found = load_frame(kind, digest)
    if found is None:
        with computing(kind, digest):
            found = load_frame(kind, digest)  # another process may have stored it meanwhile
            if found is None:
                found = compute()
                save_frame(kind, digest, found)
    return found


def computing(kind: str, digest: str):
    """The lock one process holds while it computes the ``kind`` entry ``digest``: processes that
    want the same entry at the same time (the kernels of a cold build) wait, then read it."""
    return filecache.locked(paths.cache_dir() / "locks" / f"{kind}-{digest[:24]}.lock")
