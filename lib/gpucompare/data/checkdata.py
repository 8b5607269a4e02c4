"""Validate every data file: schema, units, sources and cross-field sanity (``gpucompare check-data``).

Each problem is one line ``file: key: problem``; the command exits with code 2 if there is any.

* **Schema**: every file goes through the loader the report uses (``loading`` for the shared
  sources, ``catalog`` for GPUs, models, number formats and per-compute-unit rates, ``tco`` for cloud
  prices, ``reliability``, ``interconnect``,
  ``claims``, and ``measure``/``throughput``/``training`` for ``measurements/*.csv``). A loader
  that fails hides the checks that need its data; those are skipped, not reported twice.
* **Units**: every numeric GPU spec field names its unit (:data:`UNIT_SUFFIXES`) or is a count or a
  generation number (:data:`COUNT_SUFFIXES`); every figure with a unit is positive.
* **Sources**: every ``source``/``*_source`` id used in a YAML file is defined in its own ``sources``
  table or in the shared ``data/sources.yaml`` (an unknown id is reported with the file and the key
  that cites it); a source is declared once: the same id, or the same address, in the tables of two
  files is a problem (a document several files cite belongs in ``data/sources.yaml``); every
  ``{value: ...}`` figure has a source (its own or its parent's); every source URL and every
  measurement URL starts with http.
* **Templates**: ``data/templates/gpu.yaml`` (the blocks a new GPU needs in each file) loads with the
  same schemas and passes the same per-GPU checks (:mod:`gpucompare.data.check_template`).
* **Ids**: every id in every data file (source ids, GPU, model, precision, architecture, claim,
  link, measurement and field-study ids, and every reference to one: ``gpu``, ``source``,
  ``applies_to``, ...; see :data:`ID_KEYS`) matches :data:`ID_PATTERN`: ids become HTML ids, CSS
  classes, file names and parameter keys, so they carry no markup. Section notebook names match
  :data:`NOTEBOOK_NAME_PATTERN` (:func:`check_notebook_names`).
* **Cross-field sanity**, per GPU (datasheets round, hence the tolerances):

  - tensor TFLOPS = compute units (SMs, CUs) x dense FMA/clock/unit (``architectures.yaml``) x
    clock x 2 (:func:`gpucompare.core.units.peak_tflops`) within :data:`TFLOPS_TOLERANCE`, at
    ``peak_tflops_clock_mhz``. Where the vendor states no peak clock (L40S) the clock that reproduces
    the datasheet figure must lie between the base clock and the boost clock (x 1 + tolerance): the
    peak cannot exceed the boost-clock derivation, nor need a clock below base;
  - FP32 TFLOPS = compute units x the architecture's FP32 FMA/clock/unit x 2 x boost clock within
    :data:`TFLOPS_TOLERANCE` (an AMD CDNA 3 CU issues 128 FP32 FMA per clock with 64 stream
    processors), and shader cores = compute units x the architecture's shader cores per unit;
  - memory bandwidth (GB/s) = bus width (bits) x data rate (Gbit/s) / 8 within
    :data:`BANDWIDTH_TOLERANCE` (H100 PCIe: "2 TB/s" vs 5120 x 3.19 / 8 = 2.04 TB/s);
  - GPU-link (NVLink, Infinity Fabric) total = 2 x per direction, both set or both null, and the
    per-direction figure equal to the GPU's ``gpu_link`` in ``interconnect.yaml``;
  - the GPU's vendor has terms in ``architectures.yaml`` and is its variant's vendor; NVIDIA-only
    fields (compute capability, MIG) are given for NVIDIA GPUs and only for them;
  - MIG: no profiles without MIG; the most instances of a profile = ``mig_max_instances``; a profile
    ``<g>g.<m>gb`` has ``memory_gib`` m, g x instances <= ``mig_max_instances`` compute slices, and its
    instances fit the GPU's memory (one GiB of rounding per instance: H200 "3g.71gb" x 2 = 142 of 141);
  - base clock <= boost clock, peak-TFLOPS clock <= boost clock;
  - every GPU has an ``architectures.yaml`` variant, an ``interconnect.yaml`` topology and an
    on-demand or marketplace cloud price (the cost and decision sections need all three).

:func:`preflight` runs the schema checks and the checks that depend on the parameters (tensor-parallel
degrees that fit a node, a cloud price for every GPU) and raises one InputError: the report calls it
(through :func:`gpucompare.params.resolve`) before any notebook starts.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import (
    catalog,
    claims,
    engines,
    interconnect,
    loading,
    measurements,
    prices,
    reliability,
    training,
)
from gpucompare.data.check_gpus import cross_problems, unit_problems
from gpucompare.data.check_template import template_problems
from gpucompare.data.problem import Problem
from gpucompare.data.problem import display as _display

#: Files and folders of ``data/`` the checks read (relative to the data folder).
DATA_FILES = (
    "sources.yaml",
    "gpus.yaml",
    "models.yaml",
    "precisions.yaml",
    "architectures.yaml",
    "cloud_prices.yaml",
    "reliability.yaml",
    "interconnect.yaml",
    "claims",
    "engines.yaml",
    "measurements/kernels*.csv",
    "measurements/inference_*.csv",
    "measurements/excluded.yaml",
    "measurements/training.csv",
    "templates/gpu.yaml",
)
#: What every id in the data files looks like: lowercase letters, digits, '.', '-' and '_'.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
#: YAML keys whose string values (or lists of strings) are ids or references to ids, in any file;
#: so are the keys of every ``sources`` mapping and the values of keys ending in ID_KEY_SUFFIXES.
ID_KEYS = frozenset(
    {
        "id",
        "gpu",
        "source",
        "applies_to",
        "link",
        "model",
        "family",
        "precision",
        "weights",
        "kv",
        "kind",
        "section",
        "profile",
        "field_study",
    }
)
ID_KEY_SUFFIXES = ("_id", "_source", "_link")
#: Columns of the measurement CSV files (glob: columns) that hold ids.
CSV_ID_COLUMNS = {
    "inference_*.csv": ("id", "engine", "gpu_id", "model", "weights", "kv_cache"),
    "kernels*.csv": ("gpu_id", "precision"),
    "training.csv": ("id", "gpu_id", "node_link", "model"),
}
#: Section notebook names: two digits, an underscore, then lowercase letters, digits and '_'.
NOTEBOOK_NAME_PATTERN = re.compile(r"^[0-9][0-9]_[a-z0-9_]+\.ipynb$")


def _loaders() -> dict[str, Callable[[], Any]]:
    """Each data file and the loader the report reads it with."""
    return {
        "sources.yaml": loading.shared_sources,
        "gpus.yaml": catalog.gpu_catalog,
        "models.yaml": catalog.model_catalog,
        "precisions.yaml": catalog.precision_catalog,
        "architectures.yaml": catalog.arch_catalog,
        "cloud_prices.yaml": prices.cloud_prices,
        "reliability.yaml": reliability.data,
        "interconnect.yaml": interconnect.interconnect_catalog,
        "claims": claims.claims,
        "measurements/kernels*.csv": measurements.load_kernel_measurements,
        "engines.yaml": engines.engine_catalog,
        "measurements/inference_*.csv": measurements.load_inference,
        "measurements/excluded.yaml": measurements.load_exclusions,
        "measurements/training.csv": training.load_training,
    }


#: Files whose loader reads another file too: a failure there is reported once, under that file.
#: Every YAML loader reads the shared sources (``sources.yaml``).
_DEPENDS = {
    "gpus.yaml": ("sources.yaml",),
    "models.yaml": ("sources.yaml",),
    "precisions.yaml": ("sources.yaml",),
    "architectures.yaml": ("sources.yaml",),
    "cloud_prices.yaml": ("sources.yaml", "gpus.yaml"),
    "reliability.yaml": ("sources.yaml", "gpus.yaml"),
    "interconnect.yaml": ("sources.yaml", "gpus.yaml"),
    "claims": ("sources.yaml",),
    "measurements/kernels*.csv": ("gpus.yaml",),
    "engines.yaml": ("sources.yaml", "precisions.yaml"),
    "measurements/inference_*.csv": ("gpus.yaml", "models.yaml", "precisions.yaml", "engines.yaml"),
    "measurements/excluded.yaml": ("measurements/inference_*.csv",),
    "measurements/training.csv": ("gpus.yaml", "models.yaml", "interconnect.yaml"),
}


def _split_error(exc: InputError, data: Path, rel: str) -> list[Problem]:
    """An InputError's lines as problems; a line that starts with a data file's path names that file."""
    names = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    names |= {name for name in (*DATA_FILES, rel) if "*" not in name}
    prefixes = []
    for name in sorted(names, key=lambda n: -len(n)):
        path = str(data / name)
        prefixes += [(path, path), (f"data/{name}", path)]
    out = []
    for line in str(exc).splitlines():
        line = line.strip()
        if not line:
            continue
        file = _display(data, rel)
        for prefix, shown in prefixes:
            if line.startswith(prefix):
                file, line = shown, line[len(prefix) :].lstrip(":").strip()
                break
        key, sep, problem = line.partition(": ")
        out.append(Problem(file, key, problem) if sep else Problem(file, "(file)", line))
    return out


def schema_problems() -> tuple[list[Problem], dict[str, Any]]:
    """Load every data file with the report's loader: the problems and the loaded data by file."""
    data = paths.data_dir()
    loaded: dict[str, Any] = {}
    problems: list[Problem] = []
    loaders = _loaders()
    # The exclusions name inference ids: check them against the rows just loaded (its dependency)
    # instead of loading and validating the inference files a second time. A tuple: callers may
    # memoize the loaders by their arguments.
    loaders["measurements/excluded.yaml"] = lambda: measurements.load_exclusions(
        known_ids=tuple(loaded["measurements/inference_*.csv"]["id"])
    )
    for rel, load in loaders.items():
        if any(dep not in loaded for dep in _DEPENDS.get(rel, ())):
            continue  # its dependency failed and is reported already
        try:
            loaded[rel] = load()
        except InputError as exc:
            problems += _split_error(exc, data, rel)
    if "measurements/kernels*.csv" in loaded and not sorted(
        (data / "measurements").glob("kernels*.csv")
    ):
        problems.append(
            Problem(
                _display(data, "measurements"),
                "kernels*.csv",
                "no kernel measurement file; the GEMM section compares its model with them",
            )
        )
    return problems, loaded


# --- Sources --------------------------------------------------------------------------------------


def _walk_sources(
    node: Any, where: str, used: list[tuple[str, str]], figures: list[str], sourced: bool
) -> None:
    """Collect (where, source id) of every ``source``/``*_source`` key and the figures without one."""
    if isinstance(node, dict):
        own = any(k == "source" or str(k).endswith("_source") for k in node)
        if "value" in node and not (own or sourced):
            figures.append(where)
        for k, v in node.items():
            key = f"{where}.{k}" if where else str(k)
            if (k == "source" or str(k).endswith("_source")) and isinstance(v, str):
                used.append((key, v))
            else:
                _walk_sources(v, key, used, figures, sourced or own)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            item = v.get("id", i) if isinstance(v, dict) else i
            _walk_sources(v, f"{where}[{item}]", used, figures, sourced)


def source_problems(
    skip: frozenset[str] = frozenset(), read: Callable[[Path], Any] | None = None
) -> list[Problem]:
    """Every source id used is defined (in the file's table or ``data/sources.yaml``), declared once
    (no id or address in two files' tables), every figure has a source, every URL starts with http
    (YAML files named in ``skip`` are left out: their loader failed and said why). ``read``: the
    YAML reader, :func:`gpucompare.core.paths.load_yaml` by default (:func:`check_all` shares its
    parses with :func:`id_problems`)."""
    read = read or paths.load_yaml
    data = paths.data_dir()
    problems: list[Problem] = []
    raw: dict[str, Any] = {}
    for path in sorted(data.glob("*.yaml")):
        if path.name in skip:
            continue
        try:
            raw[path.name] = read(path)
        except InputError:
            continue  # reported by the schema checks
    shared_raw = raw.get(loading.SOURCES_FILE)
    shared = shared_raw.get("sources") if isinstance(shared_raw, dict) else None
    shared = shared if isinstance(shared, dict) else {}
    tables: dict[str, dict] = {}
    for name, content in raw.items():
        if not isinstance(content, dict):
            continue
        shown = _display(data, name)
        sources = content.get("sources") or {}
        if not isinstance(sources, dict):
            problems.append(Problem(shown, "sources", "expected a mapping of source id: source"))
            continue
        tables[name] = sources
        for sid, src in sorted(sources.items()):
            url = src.get("url") if isinstance(src, dict) else None
            if not (isinstance(url, str) and re.match(r"https?://", url)):
                problems.append(
                    Problem(shown, f"sources.{sid}.url", f"must start with http (got {url!r})")
                )
        known = set(sources) | set(shared)
        used: list[tuple[str, str]] = []
        figures: list[str] = []
        body = {k: v for k, v in content.items() if k != "sources"}
        _walk_sources(body, "", used, figures, False)
        for where, sid in used:
            if sid not in known:
                problems.append(
                    Problem(
                        shown,
                        where,
                        f"source '{sid}' is not defined in the sources table of {name} or of "
                        f"{loading.SOURCES_FILE}",
                    )
                )
        problems += [Problem(shown, f, "figure without a source") for f in figures]
    problems += _duplicate_source_problems(data, tables)
    problems += _csv_url_problems(data)
    return problems


def _duplicate_source_problems(data: Path, tables: dict[str, dict]) -> list[Problem]:
    """A source declared in the tables of two files (same id, or same address): declare it once, in
    ``data/sources.yaml`` when several files cite it."""
    problems = []
    first_id: dict[str, str] = {}
    first_url: dict[str, tuple[str, str]] = {}
    for name in sorted(tables, key=lambda n: (n != loading.SOURCES_FILE, n)):
        for sid, src in sorted(tables[name].items()):
            shown = _display(data, name)
            if sid in first_id:
                problems.append(
                    Problem(
                        shown,
                        f"sources.{sid}",
                        f"also defined in {first_id[sid]}; declare a source once "
                        f"(in {loading.SOURCES_FILE} when several files cite it)",
                    )
                )
            else:
                first_id[sid] = name
            url = src.get("url") if isinstance(src, dict) else None
            if not isinstance(url, str):
                continue
            key = url.rstrip("/")
            other = first_url.get(key)
            if other is not None and other[0] != name:
                problems.append(
                    Problem(
                        shown,
                        f"sources.{sid}.url",
                        f"the same document as {other[0]}'s source '{other[1]}'; declare it once "
                        f"(in {loading.SOURCES_FILE} when several files cite it)",
                    )
                )
            elif other is None:
                first_url[key] = (name, sid)
    return problems


def _csv_url_problems(data: Path) -> list[Problem]:
    problems = []
    for path in sorted((data / "measurements").glob("*.csv")):
        try:
            with path.open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error):
            continue  # reported by the schema checks
        for i, row in enumerate(rows):  # an empty source is the loaders' to report
            url = (row.get("url") or "").strip()
            if url and not re.match(r"https?://", url):
                problems.append(
                    Problem(str(path), f"row {i + 2}.url", f"must start with http (got {url!r})")
                )
    return problems


# --- Ids --------------------------------------------------------------------------------------------


def _bad_id(value: str) -> str:
    return (
        f"{value!r} is not a valid id; ids are lowercase letters, digits, '.', '-' and '_', "
        f"starting with a letter or digit ({ID_PATTERN.pattern})"
    )


def _is_id_key(key: object) -> bool:
    return isinstance(key, str) and (key in ID_KEYS or key.endswith(ID_KEY_SUFFIXES))


def _walk_ids(node: Any, where: str, out: list[tuple[str, str]]) -> None:
    """Collect (where, value) of every id and id reference under ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{where}.{k}" if where else str(k)
            if k == "sources" and isinstance(v, dict):
                out += [(f"{key}.{sid}", str(sid)) for sid in v]
            if _is_id_key(k):
                values = v if isinstance(v, list) else [v]
                for i, item in enumerate(values):
                    if isinstance(item, str):
                        out.append((f"{key}[{i}]" if isinstance(v, list) else key, item))
            else:
                _walk_ids(v, key, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk_ids(v, f"{where}[{i}]", out)


def id_problems(read: Callable[[Path], Any] | None = None) -> list[Problem]:
    """Every id and id reference in every data file (YAML and measurement CSV) that does not match
    :data:`ID_PATTERN`. Files that do not load are left out: the schema checks say why. ``read``:
    as in :func:`source_problems`."""
    read = read or paths.load_yaml
    data = paths.data_dir()
    problems: list[Problem] = []
    for path in sorted(data.rglob("*.yaml")):
        try:
            content = read(path)
        except InputError:
            continue
        found: list[tuple[str, str]] = []
        _walk_ids(content, "", found)
        problems += [
            Problem(str(path), where, _bad_id(value))
            for where, value in found
            if not ID_PATTERN.match(value)
        ]
    for pattern, columns in CSV_ID_COLUMNS.items():
        for path in sorted((data / "measurements").glob(pattern)):
            try:
                with path.open(encoding="utf-8", newline="") as f:
                    rows = list(csv.DictReader(f))
            except (OSError, UnicodeDecodeError, csv.Error):
                continue
            for i, row in enumerate(rows):
                for col in columns:
                    value = (row.get(col) or "").strip()
                    if value and not ID_PATTERN.match(value):
                        problems.append(Problem(str(path), f"row {i + 2}.{col}", _bad_id(value)))
    return problems


def check_notebook_names(folder: Path) -> None:
    """Raise one InputError naming every notebook of ``folder`` that looks like a section (its name
    starts with a digit) but does not match :data:`NOTEBOOK_NAME_PATTERN` (``NN_name.ipynb``, the
    name in lowercase letters, digits and '_'): section names become page names, hrefs and ids."""
    bad = sorted(
        p.name for p in Path(folder).glob("[0-9]*.ipynb") if not NOTEBOOK_NAME_PATTERN.match(p.name)
    )
    if bad:
        raise InputError(
            "\n".join(
                f"{Path(folder) / name}: not a valid section notebook name; expected two digits, "
                f"'_', then lowercase letters, digits and '_' ({NOTEBOOK_NAME_PATTERN.pattern})"
                for name in bad
            )
        )


def check_all() -> list[Problem]:
    """Every problem of every data file, sorted and without duplicates."""
    problems, loaded = schema_problems()
    # Both walks only read the parsed files: one parse each (a failed one raises again, uncached).
    read = functools.cache(paths.load_yaml)
    problems += source_problems(frozenset(f for f in _loaders() if f not in loaded), read)
    if "gpus.yaml" in loaded:
        problems += unit_problems()
    problems += cross_problems(loaded)
    problems += template_problems(loaded)
    problems += id_problems(read)
    return sorted(set(problems))
