"""Incremental builds: content hashes that say when a section must run again.

A section's key is the SHA-256 of everything its executed notebook can depend on:

* the notebook file itself;
* the parameter values injected into it (only those its ``parameters`` cell declares, which
  are the only ones it can read: :class:`gpucompare.params.SectionParams` refuses others);
* the inputs fingerprint: every file under ``data/``, every source and template file of the
  library, the package version and the Python version.

So a price change re-runs only the sections that declare ``price_usd``, and a change to any
data or library file re-runs everything: the cache can be conservative, never stale.
Executed notebooks are kept under ``<out parent>/.gpucompare-cache/<section>/<key>.ipynb``.

This module imports nothing heavy (no papermill, nbconvert or nbformat), so that an
up-to-date check answers in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from pathlib import Path
from typing import Any

from gpucompare import __version__, paths

#: Folder name of the cache, beside the report folder.
CACHE_DIRNAME = ".gpucompare-cache"
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
    lib = Path(__file__).resolve().parent
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
    """Executed notebooks by section and key (a plain folder of ``.ipynb`` files)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, stem: str, key: str) -> Path:
        return self.root / stem / f"{key}.ipynb"

    def get(self, stem: str, key: str) -> Path | None:
        """The cached executed notebook, or None."""
        p = self.path(stem, key)
        return p if p.is_file() else None

    def put(self, stem: str, key: str, executed: Path) -> None:
        """Store an executed notebook, replacing older entries of the same section."""
        folder = self.root / stem
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.ipynb"):
            if old.stem != key:
                old.unlink(missing_ok=True)
        tmp = folder / f".{key}.tmp"
        tmp.write_bytes(executed.read_bytes())
        tmp.replace(self.path(stem, key))  # atomic: a killed build never leaves half a file


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
