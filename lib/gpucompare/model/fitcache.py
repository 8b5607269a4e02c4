"""Fitted parameters kept on disk between processes (issue 21): a fit (a parameter vector, the keys
of its offsets and the rows it was fitted on) under a key that hashes everything the fit depends
on, so that an entry is either exact or never found.

The key (:func:`key`): every file under ``data/`` (and the measurement folder asked for), the
library's code, ``params/default.yaml`` (the parameters calibrations are fitted with) and the
Python, numpy, pandas and scipy versions. An entry is JSON (:class:`gpucompare.core.filecache.JsonCache`
under ``<cache>/fits/``): floats round-trip exactly, so a fit read back gives the same numbers as
the fit it stored; an entry that does not read back as a fit is a miss, and the fit runs again.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from gpucompare import params
from gpucompare.core import filecache, paths

#: Fits kept per kind (least recently used dropped first): a few data versions or scenarios.
MAX_ENTRIES = 8


def _store(kind: str) -> filecache.JsonCache:
    return filecache.JsonCache(paths.cache_dir() / "fits", kind, MAX_ENTRIES)


def key(kind: str, folder: Path | None = None) -> str:
    """The entry name of a ``kind`` fit on ``folder`` (default: the data's measurements)."""
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


def save(kind: str, digest: str, x: np.ndarray, keys: dict, frame: pd.DataFrame) -> bool:
    """Store a fit: parameter vector ``x``, offset ``keys`` (name -> tuple of ids or id tuples)
    and the rows ``frame``. False when nothing could be written (the fit is then simply redone)."""
    cols = [str(c) for c in frame.columns]
    payload = {
        "x": np.asarray(x, dtype=float).tolist(),
        "keys": {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in keys.items()},
        "columns": cols,
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [frame[c].tolist() for c in cols],
    }
    return _store(kind).put(digest, payload)


def load(kind: str, digest: str) -> tuple[np.ndarray, dict, pd.DataFrame] | None:
    """``(x, keys, frame)`` as :func:`save` stored them, or None."""
    payload = _store(kind).get(digest)
    try:
        cols = payload["columns"]
        frame = pd.DataFrame(dict(zip(cols, payload["data"], strict=True)), columns=cols)
        frame = frame.astype(dict(zip(cols, payload["dtypes"], strict=True)))
        keys = {
            k: tuple(tuple(v) if isinstance(v, list) else v for v in vs)
            for k, vs in payload["keys"].items()
        }
        return np.array(payload["x"], dtype=float), keys, frame
    except (KeyError, TypeError, ValueError, AttributeError):  # None, or not a fit
        return None
