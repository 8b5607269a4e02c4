"""The planner's memo on disk (issue 21, :mod:`gpucompare.model.plan`): report kernels and one-line
commands are new processes that would pay the planner's ~1-2 s of CPU again after a price edit.
"""

from __future__ import annotations

import math

from gpucompare.core import filecache, paths
from gpucompare.model import calibration, fitcache

#: An entry's name hashes all its answers depend on: the memo key and the key of the fit the throughput model reads
#: (:func:`gpucompare.model.fitcache.key`: the data files, the library's code, the fit's default
#: parameters, the Python, numpy, pandas and scipy versions). It holds ``[key, value]`` pairs.
MEMO_KIND = "plan-memo"
#: Memos kept on disk (least recently used dropped first): the defaults and scenarios revisited.
MEMO_ENTRIES = 8
#: Per memo key: its entry's name, and its answer count when last read or written (memos grow).
_STORED: dict[tuple[str, str | None], tuple[str, int]] = {}
#: The fit's key per data folder, hashed (~20 ms) once per process, as the catalog reads it once.
_FINGERPRINTS: dict[str | None, str] = {}
_KEY_TYPES, _VALUE_TYPES = (str, int), (int, float, type(None))  # JSON keeps them exactly


def _store() -> filecache.JsonCache:
    return filecache.JsonCache(paths.cache_dir() / "plan", MEMO_KIND, MEMO_ENTRIES)


def read(speed: str, data_env: str | None) -> dict:
    """The memo of a memo key as last saved on disk ({} without a readable one), noted as clean."""
    if data_env not in _FINGERPRINTS:
        _FINGERPRINTS[data_env] = fitcache.key(calibration.FIT_CACHE)
    name = filecache.digest(MEMO_KIND, speed, data_env or "", _FINGERPRINTS[data_env])
    memo = _decode_memo(_store().get(name))
    _STORED[speed, data_env] = (name, len(memo))
    return memo


def _encode_memo(memo: dict) -> list:
    """``memo`` as JSON data: ``[[key...], [value...]]`` pairs. Answers JSON cannot hold exactly
    (an infinite or NaN time, a numpy number) are left out: they are computed again."""
    return [
        [list(k), list(v)]
        for k, v in list(memo.items())  # a copy: never iterate a dict that may grow meanwhile
        if all(type(x) in _KEY_TYPES for x in k)
        and all(type(x) in _VALUE_TYPES and (type(x) is not float or math.isfinite(x)) for x in v)
    ]


def _tuple_of(items: object, types: tuple) -> tuple:
    """``items``, a list of values of exactly ``types``, as a tuple; else TypeError."""
    if not (isinstance(items, list) and all(type(x) in types for x in items)):
        raise TypeError("not an entry of the planner's memo")
    return tuple(items)


def _decode_memo(payload: object) -> dict:
    """The memo :func:`_encode_memo` wrote; {} for no entry or another shape (a miss, no error)."""
    try:
        return {_tuple_of(k, _KEY_TYPES): _tuple_of(v, _VALUE_TYPES) for k, v in payload}
    except (TypeError, ValueError):  # None, not pairs of lists, or values of other types
        return {}


def save(memos: dict[tuple[str, str | None], dict]) -> int:
    """Write each memo that grew since it was read or written to the disk cache, merged with what
    another process saved there meanwhile; returns the entries written. Free when nothing grew (no
    hashing, no file touched): every process calls it at exit, a warm kernel (killed, not ended)
    after each cell. A cache that cannot be written is skipped (the answers are computed again)."""
    written = 0
    for key, memo in list(memos.items()):
        name, count = _STORED.get(key, ("", len(memo)))
        if len(memo) == count:
            continue
        store = _store()
        memo |= _decode_memo(store.get(name)) | memo  # and those another process added
        if store.put(name, _encode_memo(memo)):
            written += 1
        _STORED[key] = (name, len(memo))  # on failure too: retried only once it grows again
    return written


def forget(key: tuple[str, str | None]) -> None:
    """Drop what is noted of a memo the planner no longer keeps in memory."""
    _STORED.pop(key, None)
