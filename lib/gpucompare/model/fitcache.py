"""Fitted parameters kept on disk between processes (issue 21): a fit (a parameter vector, the keys
of its offsets and the rows it was fitted on) and the calibration's cross-validation (a table),
under a key that hashes everything they depend on, so that an entry is either exact or never found.

The key (:func:`key`): every file under ``data/`` (and the measurement folder asked for), the
library's code, ``params/default.yaml`` (the parameters calibrations are fitted with) and the
Python, numpy, pandas and scipy versions. An entry is JSON (:class:`gpucompare.core.filecache.JsonCache`
under ``<cache>/fits/``): floats round-trip exactly, so a fit read back gives the same numbers as
the fit it stored, and a table comes back with the same dtypes, index and column order (a table
that would not is not stored); an entry that does not read back is a miss, and the work runs again.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gpucompare import params
from gpucompare.core import filecache, paths

if TYPE_CHECKING:
    import pandas as pd

#: Fits kept per kind (least recently used dropped first): a few data versions or scenarios.
MAX_ENTRIES = 8


def _store(kind: str) -> filecache.JsonCache:
    return filecache.JsonCache(paths.cache_dir() / "fits", kind, MAX_ENTRIES)


def key(kind: str, folder: Path | None = None) -> str:
    """The entry name of a ``kind`` entry (a fit, a cross-validation) on ``folder`` (default: the
    data's measurements): the folder is the only argument either takes."""
    import pandas as pd  # only where an entry is looked up: it then holds a table anyway

    lib = Path(__file__).resolve().parents[1]
    return filecache.digest(
        kind,
        filecache.hash_tree(paths.data_dir(), ("**/*",)),
        filecache.hash_tree(Path(folder), ("**/*",)) if folder else "",
        filecache.hash_tree(lib, ("**/*.py",)),
        params.default_file().read_bytes(),
        f"python {platform.python_version()} numpy {np.__version__} pandas {pd.__version__} "
        f"scipy {metadata.version('scipy')}",
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


def load(kind: str, digest: str) -> tuple[np.ndarray, dict, pd.DataFrame] | None:
    """``(x, keys, frame)`` as :func:`save` stored them, or None."""
    payload = _store(kind).get(digest)
    try:
        frame = _frame_of(payload["frame"])
        keys = {
            k: tuple(tuple(v) if isinstance(v, list) else v for v in vs)
            for k, vs in payload["keys"].items()
        }
        return np.array(payload["x"], dtype=float), keys, frame
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
        found = compute()
        save_frame(kind, digest, found)
    return found
