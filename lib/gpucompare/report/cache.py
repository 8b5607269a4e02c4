"""Incremental builds: content hashes that say when a section must run again.

A section's key is the SHA-256 of everything its executed notebook can depend on:

* the notebook file itself;
* the parameter values injected into it (only those its ``parameters`` cell declares, which
  are the only ones it can read: :class:`gpucompare.params.SectionParams` refuses others);
* the inputs fingerprint: every file under ``data/``, every source and template file of the
  library, the package version and the Python version.

So a price change re-runs only the sections that declare ``price_usd``, and a change to any
data or library file re-runs everything: the cache can be conservative, never stale.
Executed notebooks are kept in one place whatever ``--out`` is: ``reports/.gpucompare-cache/``
of the project, or ``$GPUCOMPARE_CACHE_DIR`` (:func:`gpucompare.core.paths.cache_dir`), as
``sections/<section>/<key>.ipynb`` with a ``<key>.sha256`` beside it. An entry whose bytes do not
match its hash (truncated, corrupt) is removed and its section runs again.

This module imports nothing heavy (no papermill, nbconvert or nbformat), so that an
up-to-date check answers in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any

from gpucompare import __version__
from gpucompare.core import paths

_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]+)?=", re.M)


def _hash_files(root: Path, patterns: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(b"\0")
                h.update(path.read_bytes())
                h.update(b"\0")
    return h.hexdigest()


def inputs_fingerprint() -> str:
    """Hash of the data files, the library's code and templates, and the versions."""
    lib = Path(__file__).resolve().parents[1]  # the gpucompare package
    h = hashlib.sha256()
    h.update(_hash_files(paths.data_dir(), ("**/*",)).encode())
    h.update(_hash_files(lib, ("**/*.py", "templates/**/*")).encode())
    h.update(f"{__version__} {platform.python_version()}".encode())
    return h.hexdigest()


def parameter_names(notebook: Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (read as JSON, no nbformat)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            return _ASSIGN.findall(source)
    return []


def section_key(notebook: Path, injected: dict[str, Any], fingerprint: str) -> str:
    """The cache key of one section (see the module docstring)."""
    h = hashlib.sha256()
    h.update(notebook.read_bytes())
    h.update(json.dumps(injected, sort_keys=True, separators=(",", ":")).encode())
    h.update(fingerprint.encode())
    return h.hexdigest()


def section_keys(notebooks: list[Path], values: dict[str, Any]) -> dict[str, str]:
    """``{notebook stem: key}`` for the given notebooks and (JSON-mode) parameter values."""
    fp = inputs_fingerprint()
    return {
        nb.stem: section_key(nb, {k: values[k] for k in parameter_names(nb) if k in values}, fp)
        for nb in notebooks
    }


def build_key(keys: dict[str, str], pdf: bool, title: str) -> str:
    """Key of a whole report: its sections' keys, the PDF option and the title."""
    payload = json.dumps({"sections": keys, "pdf": pdf, "title": title}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class Store:
    """Executed notebooks by section and key (a plain folder of ``.ipynb`` files, each with the
    SHA-256 of its bytes beside it)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        #: Sections whose entry was found corrupt and removed by :meth:`get`.
        self.discarded: list[str] = []

    def path(self, stem: str, key: str) -> Path:
        return self.root / stem / f"{key}.ipynb"

    def _hash_path(self, stem: str, key: str) -> Path:
        return self.root / stem / f"{key}.sha256"

    def get(self, stem: str, key: str) -> Path | None:
        """The cached executed notebook, or None; a corrupt entry is removed (and listed in
        :attr:`discarded`) so that its section runs again."""
        p, h = self.path(stem, key), self._hash_path(stem, key)
        if not p.is_file():
            return None
        try:
            intact = (
                h.read_text(encoding="ascii").strip() == hashlib.sha256(p.read_bytes()).hexdigest()
            )
        except (OSError, UnicodeDecodeError):
            intact = False
        if intact:
            return p
        p.unlink(missing_ok=True)
        h.unlink(missing_ok=True)
        self.discarded.append(stem)
        return None

    def _write(self, folder: Path, target: Path, data: bytes) -> None:
        # A unique temporary name per writer: concurrent builds never share one, and a killed
        # build never leaves half a file under the real name.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, stem: str, key: str, executed: Path) -> None:
        """Store an executed notebook, replacing older entries of the same section."""
        folder = self.root / stem
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*.ipynb"), *folder.glob("*.sha256")]:
            if old.stem != key:
                old.unlink(missing_ok=True)
        data = executed.read_bytes()
        # The notebook first, its hash last: a half-stored entry has no matching hash.
        self._write(folder, self.path(stem, key), data)
        self._write(folder, self._hash_path(stem, key), hashlib.sha256(data).hexdigest().encode())


def up_to_date(
    out: Path, values: dict[str, Any], title: str, pdf: bool, nb_dir: Path | None = None
) -> dict | None:
    """The existing report's manifest if it was built from exactly these inputs and all its files
    are present; else None."""
    manifest_path = Path(out) / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    notebooks = sorted((nb_dir or paths.notebooks_dir()).glob("[0-9][0-9]_*.ipynb"))
    key = build_key(section_keys(notebooks, values), pdf, title)
    if manifest.get("build_key") != key:
        return None
    files = [s["html"] for s in manifest.get("sections", [])] + ["index.html"]
    if not all((Path(out) / f).is_file() for f in files):
        return None
    return manifest
