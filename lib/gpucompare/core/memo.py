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
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gpucompare.core import filecache, paths

T = TypeVar("T")

#: Answers kept per function: a few argument sets (the audit per section) times a few versions of
#: the data (a preview whose data is edited, tests that point at copies of data/).
MAX_ENTRIES = 64


def inputs_signature(args: tuple = ()) -> tuple[str, ...]:
    """The content hashes a memoised answer depends on: the data folder, ``params/default.yaml``,
    and each folder among ``args`` (a ``Path``)."""
    data = paths.data_dir()
    trees = [(data, ("**/*",)), (paths.params_dir(), ("default.yaml",))]
    trees += [(a, ("**/*",)) for a in args if isinstance(a, Path) and a.is_dir()]
    keep = paths.trees_dir()
    return tuple(f"{root}:{filecache.hash_tree(root, patterns, keep)}" for root, patterns in trees)


def of_inputs(copy: Callable[[T], T]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Memoise a function whose answer depends only on its arguments and the input files
    (:func:`inputs_signature`); ``copy(answer)`` is what each call returns. A call with an
    unhashable argument is computed and not kept. The wrapper's ``cache_clear()`` forgets every
    answer."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        answers: OrderedDict[tuple, Any] = OrderedDict()

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
                answers[key] = func(*args, **kwargs)
                while len(answers) > MAX_ENTRIES:
                    answers.popitem(last=False)
            return copy(answers[key])

        wrapper.cache_clear = answers.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


def copy_rows(rows: list[dict]) -> list[dict]:
    """A new list of new dicts (rows of scalars)."""
    return [dict(r) for r in rows]


def copy_frame(frame: Any) -> Any:
    """``frame.copy()`` (a pandas DataFrame; deep: its values are the caller's own)."""
    return frame.copy()


def copy_dict(mapping: dict) -> dict:
    """A new dict (of immutable values)."""
    return dict(mapping)
