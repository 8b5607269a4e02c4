"""In-process memos of the functions of the input files alone: the claims audit, the measurement
loaders. Such a function is asked for the same answer many times in one process (the audit by four
sections of a warm kernel, the kernel measurements a dozen times a section, every hypothesis draw
of the tests) and each answer takes 10-150 ms.

An answer is kept per arguments and per *content* of the inputs: the data folder
(:func:`gpucompare.core.paths.data_dir`, which an environment variable may point elsewhere),
``params/default.yaml`` (the audit judges claims at the defaults), and every folder given as an
argument. The contents are hashed by :func:`gpucompare.core.filecache.hash_tree`, which re-reads a
tree only when a file's size, inode or times changed (~0.3 ms a call otherwise): a memo never
answers from other contents than the files hold now. (The catalogs and claims underneath are parsed
once per folder and process, :mod:`gpucompare.data.catalog`: an edited catalog needs a new process,
memo or not; the measurement files are read at every call, and so at every change.)

A call that raises keeps nothing. Each caller gets its own copy of the answer (``copy``): a caller
may change what it got without changing what the next one gets.

An answer can also be kept between processes (``keep``: the claims audit, ~0.2 s that every new
kernel of a build would pay again): in the cache folder (``memo/``), keyed as in memory and by
the library's code and the Python, numpy, pandas and scipy versions, and written only by
:func:`flush` (which a command calls when it succeeded: bad input writes nothing). Only answers
that JSON holds exactly are kept (read back, they print the same).
"""

from __future__ import annotations

import functools
import json
import platform
from collections import OrderedDict
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from gpucompare.core import filecache, paths

T = TypeVar("T")

#: Answers kept per function: a few argument sets (the audit per section) times a few versions of
#: the data (a preview whose data is edited, tests that point at copies of data/).
MAX_ENTRIES = 64
#: Answers kept on disk (``keep``), all functions together.
KEPT_ENTRIES = 64
#: The library's own modules (an answer kept on disk is for this code only).
_LIBRARY = Path(__file__).resolve().parents[1]
#: Answers computed in this process, to be written by :func:`flush`:
#: ``{(folder, kind, name): answer}``.
_pending: dict[tuple[Path, str, str], Any] = {}


def inputs_signature(args: tuple = ()) -> tuple[str, ...]:
    """The content hashes a memoised answer depends on: the data folder, ``params/default.yaml``,
    and each folder among ``args`` (a ``Path``)."""
    data = paths.data_dir()
    trees = [(data, ("**/*",)), (paths.params_dir(), ("default.yaml",))]
    trees += [(a, ("**/*",)) for a in args if isinstance(a, Path) and a.is_dir()]
    keep = paths.trees_dir()
    return tuple(f"{root}:{filecache.hash_tree(root, patterns, keep)}" for root, patterns in trees)


def installed_version(name: str) -> str:
    """The installed version of distribution ``name``, read from its metadata rather than from the
    package (a fit read back needs neither pandas nor scipy, ~0.5 s to import here): the ``Version``
    header of its core metadata (``importlib.metadata.version`` parses the same headers with the
    email package, ~4 ms the first time; this reads them as the specification's lines)."""
    text = metadata.distribution(name).read_text("METADATA") or ""
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
    return metadata.version(name)


@functools.cache
def code_and_versions() -> str:
    """The library's code (a hash of its modules) and the Python, numpy, pandas and scipy versions:
    what an answer kept on disk (here, and the calibration's fits) was computed with."""
    code = filecache.hash_tree(_LIBRARY, ("**/*.py",), paths.trees_dir())
    versions = " ".join(f"{n} {installed_version(n)}" for n in ("numpy", "pandas", "scipy"))
    return f"{code} python {platform.python_version()} {versions}"


def _exactly_json(answer: Any) -> bool:
    """Whether ``answer`` reads back from JSON as an equal value that prints the same."""
    try:
        back = json.loads(json.dumps(answer, allow_nan=False))
    except (TypeError, ValueError):
        return False
    return back == answer and repr(back) == repr(answer)


def of_inputs(
    copy: Callable[[T], T], keep: str | None = None
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Memoise a function whose answer depends only on its arguments and the input files
    (:func:`inputs_signature`); ``copy(answer)`` is what each call returns. A call with an
    unhashable argument is computed and not kept. With ``keep`` (a name), answers are also kept
    between processes (module docstring). The wrapper's ``cache_clear()`` forgets every answer
    held in memory."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        answers: OrderedDict[tuple, Any] = OrderedDict()

        def compute(key: tuple, args: tuple, kwargs: dict) -> Any:
            if keep is None:
                return func(*args, **kwargs)
            folder = paths.cache_dir() / "memo"
            name = filecache.digest(
                keep, func.__module__, func.__qualname__, repr(key), code_and_versions()
            )
            store = filecache.JsonCache(folder, keep, KEPT_ENTRIES)
            kept = store.get(name, mark_used=False)
            if kept is not None:
                return kept
            answer = func(*args, **kwargs)
            if _exactly_json(answer):
                _pending[folder, keep, name] = answer
            return answer

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            key = (args, tuple(sorted(kwargs.items())), inputs_signature((*args, *kwargs.values())))
            try:
                hash(key)
            except TypeError:  # an unhashable argument (a list of ids): computed, not kept
                return func(*args, **kwargs)
            if key in answers:
                answers.move_to_end(key)
            else:
                answers[key] = compute(key, args, kwargs)
                while len(answers) > MAX_ENTRIES:
                    answers.popitem(last=False)
            return copy(answers[key])

        wrapper.cache_clear = answers.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


def flush() -> int:
    """Write the answers kept on disk that this process computed (``keep``); returns how many
    (free when none)."""
    written = 0
    while _pending:
        (folder, kind, name), answer = _pending.popitem()
        written += filecache.JsonCache(folder, kind, KEPT_ENTRIES).put(name, answer)
    return written


def copy_rows(rows: list[dict]) -> list[dict]:
    """A new list of new dicts (rows of scalars)."""
    return [dict(r) for r in rows]


def copy_frame(frame: Any) -> Any:
    """``frame.copy()`` (a pandas DataFrame; deep: its values are the caller's own)."""
    return frame.copy()


def copy_dict(mapping: dict) -> dict:
    """A new dict (of immutable values)."""
    return dict(mapping)
