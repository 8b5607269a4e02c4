"""Publishing a report folder safely: which ``--out`` folders may be replaced, the lock that keeps
two builds apart, the atomic swap, and the clean-up of what killed builds left behind.

The rules (README, "Bad input"):

* ``--out`` may be a path that does not exist, an empty folder, or a folder that gpucompare
  wrote (a report: its ``manifest.json`` carries :data:`MARKER`; a comparison: its
  ``compare.json`` does). Anything else (a folder holding other files, a file, a symbolic link,
  ``/``, the home folder, the project's own folders, the current folder) is refused with
  :class:`~gpucompare.core.errors.InputError` (exit code 2) before anything is touched.
* Only folders the build itself made are ever deleted: temporary folders and ``<out>.failed``
  carry a :data:`OWNED_FILE` marker; replaced reports carry the manifest marker.
* The new report replaces the old one in one atomic exchange (Linux ``renameat2`` with
  ``RENAME_EXCHANGE``), so there is no moment without a complete report at ``--out``. Where the
  exchange is not available, two renames are used and a crash between them is repaired by the
  next build (the old report, kept under a marked name, is moved back).
* One build at a time per ``--out``: a second build is refused (exit 2) naming the first.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gpucompare.core import paths
from gpucompare.core.errors import InputError

#: ``manifest.json`` (report) and ``compare.json`` (comparison) carry ``"generator": MARKER``.
MARKER = "gpucompare"
#: A file inside every temporary or ``.failed`` folder the build makes: it may delete them.
OWNED_FILE = ".gpucompare-build"
#: ``kind`` written into the marker files.
REPORT, COMPARE = "report", "compare"
_MANIFEST = {REPORT: "manifest.json", COMPARE: "compare.json"}
#: The project's input folders: never replaced, never written into.
_PROJECT_INPUTS = ("data", "lib", "notebooks", "params", "tests", "docs", ".git")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _read_json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def is_written_by_us(folder: Path, kind: str = REPORT) -> bool:
    """True if ``folder`` is a real folder (not a link) that gpucompare wrote: a report (or a
    comparison, with ``kind=COMPARE``) whose manifest carries the marker. Reports built before the
    marker existed are recognised by their manifest's ``build_key`` and ``provenance``."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    doc = _read_json(folder / _MANIFEST[kind])
    if doc is None:
        return False
    if doc.get("generator") == MARKER:
        return doc.get("kind", REPORT) == kind
    return kind == REPORT and "build_key" in doc and "provenance" in doc


def is_owned(folder: Path) -> bool:
    """True if ``folder`` is a temporary or ``.failed`` folder that a build made (marker file)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    doc = _read_json(folder / OWNED_FILE)
    return doc is not None and doc.get("generator") == MARKER


def mark_owned(folder: Path, kind: str) -> None:
    """Write the marker that lets later builds delete ``folder``."""
    (folder / OWNED_FILE).write_text(
        json.dumps({"generator": MARKER, "kind": kind, "pid": os.getpid()}) + "\n",
        encoding="utf-8",
    )


def marker_fields(kind: str = REPORT) -> dict[str, str]:
    """The fields a manifest carries so that later builds recognise the folder as theirs."""
    return {"generator": MARKER, "kind": kind}


def _protected() -> tuple[dict[Path, str], dict[Path, str]]:
    """Folders never replaced (nor any folder holding them), and folders never written into."""
    root = paths.repo_root()
    whole = {
        Path("/"): "the file-system root",
        Path.home().resolve(): "your home folder",
        root: "the project's root folder",
    }
    inside = {root / sub: f"the project's {sub}/ folder" for sub in _PROJECT_INPUTS}
    return whole | inside, inside


def check_out(out: Path | str, kind: str = REPORT) -> Path:
    """The absolute path of a valid output folder, or InputError (exit code 2) naming the path and
    why; nothing is touched. See the module docstring for the rules."""
    given = str(out)
    absolute = Path(os.path.abspath(os.path.expanduser(given)))
    if absolute.parent == absolute:
        raise InputError(f"--out {given}: refusing to replace the file-system root")
    # Links above the folder are fine (a linked home folder); the folder itself is never followed.
    target = absolute.parent.resolve() / absolute.name
    if target.is_symlink():
        raise InputError(
            f"--out {given}: is a symbolic link; give the folder it points to, or a new path "
            "(gpucompare never replaces what a link points to)"
        )
    never_replaced, never_inside = _protected()
    for place, what in never_replaced.items():
        if place.is_relative_to(target):
            raise InputError(f"--out {given}: refusing to replace {what} ({place})")
    for place, what in never_inside.items():
        if target.is_relative_to(place):
            raise InputError(f"--out {given}: refusing to write a report inside {what}")
    cwd = Path.cwd().resolve()
    if target == cwd or cwd.is_relative_to(target):
        raise InputError(
            f"--out {given}: is the current folder or holds it; give a folder beside it"
        )
    if not target.exists():
        return target
    if not target.is_dir():
        raise InputError(f"--out {given}: is a file, not a report folder; nothing was changed")
    if is_written_by_us(target, kind) or not any(target.iterdir()):
        return target
    what = "a gpucompare report" if kind == REPORT else "a gpucompare comparison"
    raise InputError(
        f"--out {given}: is a folder that holds other files and is not {what}; "
        "refusing to replace it (give a new or empty folder)"
    )


def _leftover_names(out: Path) -> tuple[str, str]:
    return f".{out.name}.tmp-", f".{out.name}.old-"


def new_temp_folder(out: Path) -> Path:
    """A fresh, uniquely named, marked folder beside ``out`` to build into."""
    tmp = Path(tempfile.mkdtemp(prefix=_leftover_names(out)[0], dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a published report is world-readable
    mark_owned(tmp, "temporary")
    return tmp


def failed_folder(out: Path) -> Path:
    """An empty, marked folder for the notebooks of a failed build: ``<out>.failed``, emptied if a
    build made it, else (the name is taken by something else) a new ``<out>.failed-XXXX``."""
    folder = out.with_name(f"{out.name}.failed")
    if is_owned(folder):
        shutil.rmtree(folder)
    if folder.exists() or folder.is_symlink():
        folder = Path(tempfile.mkdtemp(prefix=f"{out.name}.failed-", dir=out.parent))
    else:
        folder.mkdir()
    mark_owned(folder, "failed")
    return folder


def remove_owned(folder: Path) -> None:
    """Delete ``folder`` if, and only if, a build made it."""
    if is_owned(folder) or is_written_by_us(folder):
        shutil.rmtree(folder, ignore_errors=True)


def clean_leftovers(out: Path) -> list[Path]:
    """Repair and clean what killed builds of ``out`` left beside it (call with the lock held):
    a report moved aside by a swap that did not finish goes back to ``out``; marked temporary
    folders and replaced reports are deleted. Returns what was removed."""
    tmp_prefix, old_prefix = _leftover_names(out)
    olds = sorted(
        (p for p in out.parent.glob(f"{old_prefix}*") if is_written_by_us(p)),
        key=lambda p: p.stat().st_mtime,
    )
    if olds and not out.exists() and not out.is_symlink():
        os.replace(olds.pop(), out)
    removed = []
    for p in [*olds, *out.parent.glob(f"{tmp_prefix}*")]:
        if is_owned(p) or is_written_by_us(p):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@functools.lru_cache(maxsize=1)
def _renameat2():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is not None:
        func.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        ]
    return func


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths; False where the system cannot."""
    func = _renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(tmp: Path, out: Path) -> None:
    """Publish ``tmp`` (a finished, marked folder) at ``out``. A new or empty ``out`` is replaced
    by one rename; a report is exchanged atomically with the new one, then deleted."""
    (tmp / OWNED_FILE).unlink(missing_ok=True)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(tmp, out)  # rename(2) replaces an empty folder atomically
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the previous report
        return
    # No atomic exchange here: the old report waits under a marked name until the new one is in
    # place; a crash in between is repaired by clean_leftovers() on the next build.
    old = out.with_name(f"{_leftover_names(out)[1]}{os.getpid()}")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold the build lock of ``out`` (a file under the cache folder, not beside ``out``); a second
    build of the same ``out`` is refused with InputError naming the first one."""
    locks = paths.cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(out).encode()).hexdigest()[:24]
    path = locks / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise InputError(
                f"--out {out}: another gpucompare build ({other}) is writing this folder; "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


__all__ = [
    "MARKER",
    "check_out",
    "clean_leftovers",
    "exclusive",
    "failed_folder",
    "is_owned",
    "is_written_by_us",
    "new_temp_folder",
    "remove_owned",
    "swap_into_place",
]
