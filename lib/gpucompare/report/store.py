"""The stores of the build cache (:mod:`gpucompare.report.cache` says what they hold and when an
entry is evicted): executed notebooks by section (:class:`Store`) and whole published reports
(:class:`ReportStore`), each entry with a marker that proves gpucompare wrote it, in
least-recently-used order (:func:`evictions`). Nothing here imports papermill, nbconvert or
nbformat.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gpucompare.core import filecache, paths
from gpucompare.report import publish

#: Executed notebooks kept per section (the last scenarios built; issue 21 asks for at least 8).
SECTION_ENTRIES = 16
#: Bytes of executed notebooks kept in all (a scenario's ten sections take about 6 MB).
SECTION_MAX_BYTES = 512 * 2**20
#: Rendered pages kept per section and page kind (a section page and its code page each).
PAGE_ENTRIES = 16
#: Bytes of rendered pages kept in all (a scenario's 20 pages take about 25 MB).
PAGE_MAX_BYTES = 512 * 2**20
#: Whole reports kept (a report with its code pages and print page takes about 40 MB).
REPORT_ENTRIES = 8
#: Bytes of whole reports kept in all.
REPORT_MAX_BYTES = 1024 * 2**20
#: A temporary folder of the report store older than this (seconds) is a killed build's leftover.
STALE_TEMP_S = 3600
#: The marker inside each stored report.
REPORT_MARKER = ".gpucompare-cache.json"
_SECTION, _REPORT = "section", "report"


@dataclass(frozen=True)
class Entry:
    """A stored entry: its marker, what it holds, its section ("" for reports), bytes, last use."""

    marker: Path
    data: Path
    group: str
    size_bytes: int
    used_ns: int


def evictions(entries: list[Entry], max_entries: int, max_bytes: int, keep: Path) -> list[Entry]:
    """The entries to remove, least recently used first (ties by group and name): those beyond
    ``max_entries`` in their group, then more until the rest hold at most ``max_bytes``. The entry
    whose marker is ``keep`` (the one just stored) is never among them."""
    order = sorted(entries, key=lambda e: (e.used_ns, e.group, e.marker.name))
    counts = Counter(e.group for e in entries)
    drop: list[Entry] = []
    for e in order:
        if e.marker != keep and counts[e.group] > max_entries:
            drop.append(e)
            counts[e.group] -= 1
    total = sum(e.size_bytes for e in entries if e not in drop)
    for e in order:
        if total <= max_bytes:
            break
        if e.marker != keep and e not in drop:
            drop.append(e)
            total -= e.size_bytes
    return drop


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    """Executed notebooks by section and key (module docstring, ``sections/``)."""

    def __init__(
        self,
        root: Path,
        max_entries: int = SECTION_ENTRIES,
        max_bytes: int = SECTION_MAX_BYTES,
        suffix: str = ".ipynb",
    ):
        self.root = Path(root)
        self.max_entries, self.max_bytes = max_entries, max_bytes
        #: The stored files' suffix: executed notebooks, or rendered pages (:func:`pages_store`).
        self.suffix = suffix
        #: Sections whose entry was found corrupt and removed by :meth:`get`.
        self.discarded: list[str] = []
        self._clock = 0

    def path(self, stem: str, key: str) -> Path:
        """Where the executed notebook of ``stem`` with ``key`` (a SHA-256) is kept."""
        # Only names the eviction recognises are ever written (and a key cannot name a path).
        if not filecache.KEY.match(key) or stem != Path(stem).name or stem.startswith("."):
            raise ValueError(f"section cache: bad section {stem!r} or key {key!r}")
        return self.root / stem / f"{key}{self.suffix}"

    def _marker(self, stem: str, key: str) -> Path:
        return self.path(stem, key).with_suffix(".json")

    def _use(self, marker: Path) -> None:
        if not self._clock:  # the newest use so far: a stat per marker, once per store
            # Any marker-named file's time may count (ours or not): the clock only has to be
            # later than every entry's, and reading each marker to tell costs ~1 ms an entry.
            markers = (m for m in self.root.glob("*/*.json") if filecache.KEY.match(m.stem))
            self._clock = max(map(filecache.recency, markers), default=0)
        self._clock = filecache.touch(marker, self._clock)

    def has(self, stem: str, key: str) -> bool:
        """Whether an entry of ``stem`` with ``key`` is marked as stored (not read, not verified,
        not counted as a use: :meth:`get` does that)."""
        doc = filecache.read_marked(self._marker(stem, key), _SECTION)
        return doc is not None and doc.get("key") == key

    def get(self, stem: str, key: str) -> Path | None:
        """The cached executed notebook (now the most recently used), or None; a corrupt entry is
        removed (and listed in :attr:`discarded`) so that its section runs again."""
        p, m = self.path(stem, key), self._marker(stem, key)
        doc = filecache.read_marked(m, _SECTION)
        if doc is None or doc.get("key") != key:
            return None  # not stored, or not ours (never trusted, never removed)
        try:
            intact = _sha256(p.read_bytes()) == doc.get("sha256")
        except OSError:  # the notebook is gone (removed by hand, or an eviction cut short)
            m.unlink(missing_ok=True)
            return None
        if not intact:
            p.unlink(missing_ok=True)
            m.unlink(missing_ok=True)
            self.discarded.append(stem)
            return None
        self._use(m)
        return p

    def put(self, stem: str, key: str, executed: Path, seconds: float | None = None) -> None:
        """Store an executed notebook (the notebook first, its marker last: a half-stored entry
        has no marker) and how long it ran, then evict beyond the bounds (module docstring)."""
        folder = self.root / stem
        folder.mkdir(parents=True, exist_ok=True)
        self._remove_one_entry_format(folder)
        data = executed.read_bytes()
        filecache.write_atomic(self.path(stem, key), data)
        doc = {
            "generator": filecache.MARKER,
            "kind": _SECTION,
            "key": key,
            "sha256": _sha256(data),
            "size_bytes": len(data),
            "seconds": seconds,
        }
        marker = self._marker(stem, key)
        filecache.write_atomic(marker, json.dumps(doc).encode())
        self._use(marker)
        if not self._may_exceed(folder):
            return
        for e in evictions(self.entries(), self.max_entries, self.max_bytes, keep=marker):
            e.data.unlink(missing_ok=True)  # the notebook first: a marker alone is a miss
            e.marker.unlink(missing_ok=True)

    def _may_exceed(self, folder: Path) -> bool:
        """Whether the store may be over a bound after a put into ``folder``, from file names and
        sizes alone: every file that looks like an entry counts, ours or not, so this is never
        False when :meth:`entries` (which reads every marker, ~1 ms each: a preview's price edit
        puts 18 entries into stores of hundreds) would find a bound exceeded."""
        markers = sum(1 for m in folder.glob("*.json") if filecache.KEY.match(m.stem))
        if markers > self.max_entries:
            return True
        total = 0
        for data in self.root.glob(f"*/*{self.suffix}"):
            with contextlib.suppress(OSError):  # removed meanwhile: not counted
                total += data.stat().st_size
        return total > self.max_bytes

    def last_seconds(self, stem: str) -> float | None:
        """How long ``stem`` ran the last time it was stored (its most recently used entry that
        says), or None: the build starts the longest sections first."""
        markers = [m for m in (self.root / stem).glob("*.json") if filecache.KEY.match(m.stem)]
        for marker in sorted(markers, key=filecache.recency, reverse=True):
            doc = filecache.read_marked(marker, _SECTION)
            if doc is not None and isinstance(doc.get("seconds"), int | float):
                return float(doc["seconds"])
        return None

    def entries(self) -> list[Entry]:
        """Every entry the program stored (marker checked), in no particular order."""
        out = []
        for marker in self.root.glob("*/*.json"):
            if not filecache.KEY.match(marker.stem):
                continue
            doc = filecache.read_marked(marker, _SECTION)
            if doc is None or doc.get("key") != marker.stem:
                continue
            nb = marker.with_suffix(self.suffix)
            size = nb.stat().st_size if nb.is_file() else 0
            used = filecache.recency(marker)
            out.append(Entry(marker, nb, marker.parent.name, size, used))
        return out

    @staticmethod
    def _remove_one_entry_format(folder: Path) -> None:
        """Remove the entries of the one-entry store (``<key>.ipynb`` + ``<key>.sha256``), each
        recognised as ours by its hash file holding the notebook's SHA-256."""
        for h in folder.glob("*.sha256"):
            nb = h.with_suffix(".ipynb")
            try:
                ours = filecache.KEY.match(h.stem) and h.read_text(
                    encoding="ascii"
                ).strip() == _sha256(nb.read_bytes())
            except (OSError, UnicodeDecodeError):
                ours = False
            if ours:
                nb.unlink(missing_ok=True)
                h.unlink(missing_ok=True)


def _safe_relative(name: str) -> bool:
    """A file name of a stored report that stays inside the folder it is copied into."""
    rel = PurePosixPath(name)
    return bool(name) and not rel.is_absolute() and ".." not in rel.parts and "\\" not in name


class ReportStore:
    """Whole published reports by :func:`report_key` (module docstring, ``reports/``)."""

    def __init__(
        self, root: Path, max_entries: int = REPORT_ENTRIES, max_bytes: int = REPORT_MAX_BYTES
    ):
        self.root = Path(root)
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def folder(self, key: str) -> Path:
        if not filecache.KEY.match(key):
            raise ValueError(f"report cache: key must be a SHA-256, got {key!r}")
        return self.root / key

    def _doc(self, folder: Path) -> dict | None:
        doc = filecache.read_marked(folder / REPORT_MARKER, _REPORT)
        if doc is None or doc.get("key") != folder.name or not isinstance(doc.get("files"), dict):
            return None
        return doc

    def has(self, key: str) -> bool:
        """Whether a report with this key is stored (its files are checked when copied)."""
        return self._doc(self.folder(key)) is not None

    def entries(self) -> list[Entry]:
        out = []
        for folder in self.root.glob("*/"):
            doc = self._doc(folder) if filecache.KEY.match(folder.name) else None
            if doc is not None:
                marker = folder / REPORT_MARKER
                size = int(doc.get("size_bytes", 0))
                out.append(Entry(marker, folder, "", size, filecache.recency(marker)))
        return out

    def _use(self, marker: Path) -> None:
        filecache.touch(marker, max((e.used_ns for e in self.entries()), default=0))

    @staticmethod
    def _remove(folder: Path, doc: dict) -> None:
        """Delete a stored report: the files its marker lists, the marker, then the folders left
        empty (anything else in the folder stays)."""
        for name in doc.get("files", {}):
            if _safe_relative(name):
                (folder / name).unlink(missing_ok=True)
        (folder / publish.OWNED_FILE).unlink(missing_ok=True)
        (folder / REPORT_MARKER).unlink(missing_ok=True)
        # A folder that still holds something (not ours) stays.
        for d in [*sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True), folder]:
            with contextlib.suppress(OSError):
                d.rmdir()

    def put(self, key: str, report: Path) -> bool:
        """Store a copy of the published report folder ``report`` under ``key`` (copied into a
        marked temporary folder, then renamed into place); False when nothing was stored."""
        folder = self.folder(key)
        try:
            if self.has(key):
                self._use(folder / REPORT_MARKER)
                return True
            if folder.exists():
                return False  # not ours (no marker): left alone, and its name not used
            self.root.mkdir(parents=True, exist_ok=True)
            self._remove_stale_temps()
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=self.root))
            try:
                publish.mark_owned(tmp, "cache")
                self._copy_marked(report, tmp, key)
                os.rename(tmp, folder)  # fails if another build stored it meanwhile
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # our own temporary folder
                return False
            (folder / publish.OWNED_FILE).unlink(missing_ok=True)
            marker = folder / REPORT_MARKER
            self._use(marker)
            for e in evictions(self.entries(), self.max_entries, self.max_bytes, keep=marker):
                doc = self._doc(e.data)
                if doc is not None:
                    self._remove(e.data, doc)
        except OSError:
            return False
        return True

    @staticmethod
    def _copy_marked(report: Path, tmp: Path, key: str) -> None:
        """Copy the files of ``report`` into ``tmp`` and write the marker listing their hashes."""
        files, total = {}, 0
        for src in sorted(report.rglob("*")):
            if src.is_file() and not src.is_symlink():
                name = src.relative_to(report).as_posix()
                data = src.read_bytes()
                dst = tmp / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(data)
                files[name], total = _sha256(data), total + len(data)
        doc = {
            "generator": filecache.MARKER,
            "kind": _REPORT,
            "key": key,
            "files": files,
            "size_bytes": total,
        }
        (tmp / REPORT_MARKER).write_text(json.dumps(doc), encoding="utf-8")

    def copy_into(self, key: str, target: Path) -> dict | None:
        """Copy the stored report into the (empty) folder ``target``, checking every file against
        its SHA-256; its manifest, or None (nothing stored, or a corrupt entry, now removed)."""
        folder = self.folder(key)
        doc = self._doc(folder)
        if doc is None:
            return None
        for name, digest in sorted(doc["files"].items()):
            try:
                data = (folder / name).read_bytes() if _safe_relative(name) else b""
            except OSError:
                data = b""
            if _sha256(data) != digest:
                self._remove(folder, doc)
                return None
            dst = target / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
        self._use(folder / REPORT_MARKER)
        try:
            return json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _remove_stale_temps(self) -> None:
        """Temporary folders of stores killed midway (marked, older than :data:`STALE_TEMP_S`)."""
        for tmp in self.root.glob(".*.tmp-*"):
            with contextlib.suppress(OSError):  # gone meanwhile: another build finished it
                if publish.is_owned(tmp) and time.time() - tmp.stat().st_mtime > STALE_TEMP_S:
                    shutil.rmtree(tmp, ignore_errors=True)


def sections_store() -> Store:
    return Store(paths.cache_dir() / "sections")


def pages_store() -> Store:
    """Rendered section and code pages by a key of everything a page is made of
    (:func:`gpucompare.report.render.page_key`): a section taken from the cache is not rendered
    again unless the navigation, title or template changed."""
    return Store(paths.cache_dir() / "pages", PAGE_ENTRIES, PAGE_MAX_BYTES, suffix=".html")


def reports_store() -> ReportStore:
    return ReportStore(paths.cache_dir() / "reports")
