"""What the program keeps on disk between runs (caches): content hashes that name the entries,
atomic writes, a marker that proves gpucompare wrote an entry, and a least-recently-used order.

Every cache lives under :func:`gpucompare.core.paths.cache_dir` (``reports/.gpucompare-cache/`` or
``$GPUCOMPARE_CACHE_DIR``). A cache deletes or overwrites only the entries whose marker says that
gpucompare wrote them (``"generator": "gpucompare"`` and the cache's ``kind``, under a name that is a
64-digit SHA-256): a file that happens to sit in the folder is left alone. A cache that cannot be
read or written (a read-only disk, a full one) is a cache miss, never an error: every entry can be
computed again.

Recency (for least-recently-used eviction) is the entry file's modification time, set by
:func:`touch` to a logical clock: the later of now and one nanosecond after the newest entry of the
folder, so that the order is the order of use even where two uses fall in one clock tick; ties (a
file system with coarse times) are broken by name, so eviction is deterministic.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks (:func:`locked` then locks nothing)
    fcntl = None

#: ``generator`` of every entry the program writes (the same word as the report's manifest).
MARKER = "gpucompare"
#: An entry's name: a SHA-256 in hexadecimal.
KEY = re.compile(r"^[0-9a-f]{64}$")


#: A file modified less than this many seconds ago may change again within one tick of the file
#: system's clock without its modification time changing, so its tree is hashed again.
SETTLED_S = 2.0
#: Per (root, patterns): the files' stat signature and the tree's hash (:func:`hash_tree`).
_TREES: dict[tuple[str, tuple[str, ...]], tuple[tuple, str]] = {}
#: ``kind`` of the tree hashes kept on disk (:func:`hash_tree` with ``keep``), and how many.
TREES_KIND = "tree-hash"
TREES_KEPT = 64
#: Tree hashes computed in this process, to be kept on disk by :func:`flush_trees`:
#: ``{(folder, key): {"signature": [...], "digest": ...}}``.
_trees_pending: dict[tuple[Path, str], dict] = {}


def _tree_files(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    return [
        path
        for pattern in patterns
        for path in sorted(Path(root).glob(pattern))
        if path.is_file() and "__pycache__" not in path.parts
    ]


def hash_tree(root: Path, patterns: tuple[str, ...], keep: Path | None = None) -> str:
    """SHA-256 of the relative names and bytes of the files under ``root`` matching ``patterns``
    (``__pycache__`` skipped), in sorted order.

    A build asks for the same trees (the data, the library) several times, and a preview at every
    change: the hash is remembered with the files' names, sizes, inodes and modification times,
    and read again only when one of these changed, as git's index does. A tree with a file
    modified in the last :data:`SETTLED_S` seconds is hashed every time (a write within one tick
    of the clock leaves the time unchanged: git's "racy" files).

    With ``keep`` (a cache folder), the hash is also looked up there, and kept there by the next
    :func:`flush_trees`: a new process then stats the files instead of reading them (~10 ms for
    the data and the library). Nothing is written before that flush, which a command makes only
    when it succeeded (bad input writes nothing)."""
    files = _tree_files(root, patterns)
    try:
        stats = [(p, p.stat()) for p in files]
    except OSError:
        stats = None
    memo_key = (str(root), tuple(patterns))
    signature = None
    if stats is not None:  # a file that vanished mid-walk: hash, remember nothing
        signature = tuple(
            (str(p), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns) for p, st in stats
        )
    hit = _TREES.get(memo_key)
    if signature is not None and hit is not None and hit[0] == signature:
        return hit[1]
    stored = None if keep is None else digest(TREES_KIND, str(root), *patterns)
    if stored is not None and signature is not None:
        kept = JsonCache(keep, TREES_KIND, TREES_KEPT).get(stored, mark_used=False)
        if (
            isinstance(kept, dict)
            and kept.get("signature") == [list(s) for s in signature]
            and isinstance(kept.get("digest"), str)
            and KEY.match(kept["digest"])
        ):
            _TREES[memo_key] = (signature, kept["digest"])
            return kept["digest"]
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    found = h.hexdigest()
    newest_ns = max((max(st.st_mtime_ns, st.st_ctime_ns) for _, st in stats or ()), default=0)
    if signature is not None and time.time_ns() - newest_ns > SETTLED_S * 1e9:
        _TREES[memo_key] = (signature, found)
        if stored is not None:
            _trees_pending[Path(keep), stored] = {
                "signature": [list(s) for s in signature],
                "digest": found,
            }
    else:
        _TREES.pop(memo_key, None)
    return found


def flush_trees() -> int:
    """Keep on disk the tree hashes computed since the last flush (:func:`hash_tree` with
    ``keep``); returns how many were written (free when none)."""
    written = 0
    while _trees_pending:
        (folder, key), payload = _trees_pending.popitem()
        written += JsonCache(folder, TREES_KIND, TREES_KEPT).put(key, payload)
    return written


def digest(*parts: str | bytes) -> str:
    """SHA-256 of ``parts``, each length-prefixed (so ``("ab", "c")`` and ``("a", "bc")`` differ)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(f"{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file in the same folder and
    one rename: a reader never sees half a file, and two writers never share a temporary name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_marked(path: Path, kind: str) -> dict | None:
    """The JSON document at ``path`` if gpucompare wrote it as a ``kind`` entry, else None."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and doc.get("generator") == MARKER and doc.get("kind") == kind:
        return doc
    return None


def recency(path: Path) -> int:
    """An entry's last use (its modification time in ns; 0 when it cannot be read)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def touch(path: Path, newest_ns: int = 0) -> int:
    """Mark ``path`` as used now: modification time = max(now, ``newest_ns`` + 1 ns) (module
    docstring). Returns the time set, or ``newest_ns`` when the file cannot be touched."""
    stamp = max(time.time_ns(), newest_ns + 1)
    try:
        os.utime(path, ns=(stamp, stamp))
    except OSError:
        return newest_ns
    return stamp


class JsonCache:
    """``<folder>/<key>.json`` documents of one ``kind``: ``{"generator", "kind", "key",
    "payload"}``, at most ``max_entries`` of them (the least recently used marked entry goes
    first; unmarked files are neither counted nor touched)."""

    def __init__(self, folder: Path, kind: str, max_entries: int):
        self.folder, self.kind, self.max_entries = Path(folder), kind, max_entries

    def path(self, key: str) -> Path:
        if not KEY.match(key):
            raise ValueError(f"cache key must be a SHA-256 in hexadecimal, got {key!r}")
        return self.folder / f"{key}.json"

    def _head(self, key: str) -> bytes:
        """How every entry :meth:`put` writes under ``key`` begins (its marker, kind and key)."""
        doc = {"generator": MARKER, "kind": self.kind, "key": key}
        return json.dumps(doc, separators=(",", ":")).encode()[:-1] + b","

    def _is_mine(self, path: Path) -> bool:
        """Whether ``path`` begins as :meth:`put` writes a ``kind`` entry under its name: a check
        of the first bytes only, so that counting the entries of a cache of large documents (the
        figures' PNGs) does not parse all of them."""
        head = self._head(path.stem)
        try:
            with path.open("rb") as f:
                return f.read(len(head)) == head
        except OSError:
            return False

    def _entries(self) -> list[Path]:
        """The marked entries, least recently used first (ties by name)."""
        try:
            names = [p for p in self.folder.glob("*.json") if KEY.match(p.stem)]
        except OSError:
            return []
        return sorted(filter(self._is_mine, names), key=lambda p: (recency(p), p.name))

    def get(self, key: str, mark_used: bool = True) -> Any | None:
        """The payload stored under ``key`` (and the entry marked as used, unless not
        ``mark_used``), or None."""
        path = self.path(key)
        doc = read_marked(path, self.kind)
        if doc is None or doc.get("key") != key or "payload" not in doc:
            return None
        if mark_used:
            touch(path, self._newest())
        return doc["payload"]

    def _newest(self) -> int:
        """The latest use of any entry-named file of the folder (a stat each, nothing parsed)."""
        try:
            return max(
                (recency(p) for p in self.folder.glob("*.json") if KEY.match(p.stem)), default=0
            )
        except OSError:
            return 0

    def put(self, key: str, payload: Any) -> bool:
        """Store ``payload`` (JSON data, finite numbers) under ``key`` and evict beyond
        ``max_entries``; False (nothing written) when the folder cannot be written, the payload is
        not JSON, or a file the program did not write already holds the name."""
        path = self.path(key)
        doc = {"generator": MARKER, "kind": self.kind, "key": key, "payload": payload}
        try:
            data = json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            return False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if path.exists() and read_marked(path, self.kind) is None:
                return False  # not ours: leave it
            write_atomic(path, data)
            touch(path, self._newest())
            for old in self._entries()[: -self.max_entries or None]:
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError:
            return False
        return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the advisory lock file ``path`` (created if missing) while the block runs, waiting for
    another process that holds it: one process computes what the others then read from the cache
    (two kernels of a cold build would otherwise both fit the calibration). Where ``fcntl`` is
    missing (Windows) nothing is locked: each process computes, as without the lock."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
