"""Incremental builds: content hashes that say when a section must run again, and the stores that
keep what was built, so that returning to any of the last scenarios re-runs nothing.

A section's key is the SHA-256 of everything its executed notebook can depend on:

* the notebook file itself;
* the parameter values injected into it (only those its ``parameters`` cell declares, which
  are the only ones it can read: :class:`gpucompare.params.SectionParams` refuses others);
* the inputs fingerprint: every file under ``data/``, every source and template file of the
  library, the package version and the Python version.

So a price change re-runs only the sections that declare ``price_usd``, and a change to any
data or library file re-runs everything: the cache can be conservative, never stale. A whole
report's key (:func:`report_key`) is its sections' keys, the PDF option and every parameter value.

The stores live in one place whatever ``--out`` is: ``reports/.gpucompare-cache/`` of the project,
or ``$GPUCOMPARE_CACHE_DIR`` (:func:`gpucompare.core.paths.cache_dir`):

* ``sections/<section>/<key>.ipynb``: executed notebooks (:class:`Store`), each with a marker
  ``<key>.json`` beside it (generator, kind, key, SHA-256 and size of the notebook). At most
  :data:`~gpucompare.report.store.SECTION_ENTRIES` per section and
  :data:`~gpucompare.report.store.SECTION_MAX_BYTES` in all.
* ``reports/<key>/``: whole published reports (:class:`ReportStore`), each holding a marker
  ``.gpucompare-cache.json`` with the SHA-256 of every file. A report built before is restored by a
  verified copy and the atomic swap (:func:`restore`): nothing runs, nothing is rendered. At most
  :data:`~gpucompare.report.store.REPORT_ENTRIES` reports and
  :data:`~gpucompare.report.store.REPORT_MAX_BYTES`. ``--compare`` restores its two
  scenarios from here too.
* ``checks/<key>.json``: parameters, data and library that passed the preflight (:func:`checked`).

Eviction: least recently used first (storing or reusing an entry is a use; the order is the
logical clock of :mod:`gpucompare.core.filecache`, ties broken by name, so it is deterministic),
beyond the count per section, then until the store is within its bytes; the entry being stored
is never the one evicted. An entry whose bytes no longer match its marker's SHA-256 is removed and
its section runs again (manifest ``cache_repaired``). Only entries whose marker says gpucompare wrote
them are ever deleted: a file that is not ours is left alone. Executed notebooks of the one-entry
store of earlier versions (``<key>.sha256`` holding the notebook's SHA-256) are recognised by that
hash and removed when their section stores a new entry.

This module imports nothing heavy (no papermill, nbconvert or nbformat), so that an up-to-date
check or a restore answers in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpucompare import __version__
from gpucompare.core import filecache, interrupts, paths
from gpucompare.report import publish, store

if TYPE_CHECKING:  # the parameters' schema loads pandas; this module needs only their values
    from gpucompare.params import Params

_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]+)?=", re.M)

#: Parameter sets remembered as having passed the preflight.
CHECK_ENTRIES = 64
# The stores (module docstring), defined in :mod:`gpucompare.report.store`.
Store = store.Store
ReportStore = store.ReportStore
sections_store = store.sections_store
reports_store = store.reports_store


def inputs_fingerprint() -> str:
    """Hash of the data files, the library's code and templates, and the versions."""
    lib = Path(__file__).resolve().parents[1]  # the gpucompare package
    h = hashlib.sha256()
    keep = paths.trees_dir()
    h.update(filecache.hash_tree(paths.data_dir(), ("**/*",), keep).encode())
    h.update(filecache.hash_tree(lib, ("**/*.py", "templates/**/*"), keep).encode())
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


def sections_to_run(values: dict[str, Any], nb_dir: Path | None = None, force: bool = False) -> int:
    """How many sections have no entry in the section store for these parameter values (all with
    ``force``): how many kernels a build will want (an entry found corrupt when read runs too)."""
    notebooks = _notebooks(nb_dir)
    if force:
        return len(notebooks)
    found = sections_store()
    keys = section_keys(notebooks, values)
    return sum(not found.has(stem, key) for stem, key in keys.items())


def build_key(keys: dict[str, str], pdf: bool, title: str) -> str:
    """Key of a whole report's sections: their keys, the PDF option and the title."""
    payload = json.dumps({"sections": keys, "pdf": pdf, "title": title}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def report_key(build: str, values: dict[str, Any]) -> str:
    """Key of a whole published report: :func:`build_key` and every parameter value (the front
    and parameters pages show them all, read by a section or not)."""
    return filecache.digest("report", build, json.dumps(values, sort_keys=True))


def _notebooks(nb_dir: Path | None) -> list[Path]:
    return sorted((nb_dir or paths.notebooks_dir()).glob("[0-9][0-9]_*.ipynb"))


def data_checked(check: Callable[[], list]) -> list:
    """``check()``'s problems (the data's own checks: every data file loaded and checked, ~0.7 s),
    or none without running it when it found none before for exactly these data and library
    (:func:`inputs_fingerprint`): a price edit changes the parameters, not the data. Problems are
    never remembered, so bad data fails every time."""
    key = filecache.digest("data-checks", inputs_fingerprint())
    checks = filecache.JsonCache(paths.cache_dir() / "checks", "data-checks", CHECK_ENTRIES)
    if checks.get(key) is True:
        return []
    problems = check()
    if not problems:
        checks.put(key, True)
    return problems


def checked(p: Params, check: Callable[[Params], None]) -> None:
    """Run ``check(p)`` (the preflight: every data file loaded and checked, ~1 s) unless it passed
    before for exactly these parameter values, data and library (:func:`inputs_fingerprint`); a
    check that raises is never remembered, so bad input fails every time."""
    values = json.dumps(p.model_dump(mode="json"), sort_keys=True)
    key = filecache.digest("preflight", inputs_fingerprint(), values)
    checks = filecache.JsonCache(paths.cache_dir() / "checks", "preflight", CHECK_ENTRIES)
    if checks.get(key) is True:
        return
    check(p)
    checks.put(key, True)


# --- whole reports --------------------------------------------------------------------------


def keys_of(
    values: dict[str, Any], title: str, pdf: bool, nb_dir: Path | None = None
) -> tuple[str, str]:
    """``(build key, report key)`` of a report of these parameter values."""
    build = build_key(section_keys(_notebooks(nb_dir), values), pdf, title)
    return build, report_key(build, values)


def up_to_date(
    out: Path, values: dict[str, Any], title: str, pdf: bool, nb_dir: Path | None = None
) -> dict | None:
    """The existing report's manifest if it was built from exactly these inputs (sections, PDF
    option, title and every parameter value) and all its files are present; else None."""
    manifest_path = Path(out) / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("build_key") != keys_of(values, title, pdf, nb_dir)[0]:
        return None
    if manifest.get("parameters") != values:
        return None
    files = [s["html"] for s in manifest.get("sections", [])] + ["index.html"]
    if not all((Path(out) / f).is_file() for f in files):
        return None
    return manifest


def store_report(out: Path, values: dict[str, Any], build: str) -> bool:
    """Keep a copy of the report just published at ``out`` (call with its lock held)."""
    return reports_store().put(report_key(build, values), out)


def restore(
    out: Path, values: dict[str, Any], title: str, pdf: bool, nb_dir: Path | None = None
) -> dict | None:
    """Publish at ``out`` the stored report built from exactly these inputs, if there is one:
    a verified copy swapped into place atomically (``out`` checked by the caller with
    :func:`gpucompare.report.publish.check_out`). Its manifest, or None (``out`` untouched)."""
    reports = reports_store()
    key = keys_of(values, title, pdf, nb_dir)[1]
    if not reports.has(key):
        return None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with publish.exclusive(out):
        publish.clean_leftovers(out)
        tmp = None
        try:
            # A stop signal while the folder is made and marked waits until it is marked (an
            # unmarked folder is one nothing may remove); the marked one is removed below.
            with interrupts.deferred() as caught:
                tmp = publish.new_temp_folder(out)
            caught.raise_if_caught()
            manifest = reports.copy_into(key, tmp)
            if manifest is None:
                return None
            publish.swap_into_place(tmp, out)
            publish.remove_owned(out.with_name(f"{out.name}.failed"))
        except OSError:
            return None  # a failed copy (full disk): the caller builds; out is untouched
        finally:
            if tmp is not None:
                publish.remove_owned(tmp)
    return manifest


# --- comparisons ----------------------------------------------------------------------------


def folder_name(stem: str) -> str:
    """A scenario's folder name from its file name: letters, digits, ``.``, ``-`` and ``_`` only,
    never starting with a dot (so ``..`` or ``.hidden`` cannot name a folder above or hidden)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).lstrip(".-")
    return name or "scenario"


def compare_up_to_date(
    out: Path, scenarios: list[tuple[str, dict[str, Any], str]], nb_dir: Path | None = None
) -> bool:
    """Whether the comparison at ``out`` compares exactly these scenarios (``(folder name,
    parameter values, title)`` each): both reports up to date and the page written from them
    (``compare.json`` records the report keys once the page is in place)."""
    try:
        doc = json.loads((Path(out) / "compare.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("generator") != filecache.MARKER:
        return False
    if doc.get("scenarios") != [name for name, _, _ in scenarios]:
        return False
    if not (Path(out) / "index.html").is_file() or not isinstance(doc.get("reports"), dict):
        return False
    for name, values, title in scenarios:
        manifest = up_to_date(Path(out) / name, values, title, False, nb_dir)
        if manifest is None or doc["reports"].get(name) != report_key(
            manifest["build_key"], values
        ):
            return False
    return True
