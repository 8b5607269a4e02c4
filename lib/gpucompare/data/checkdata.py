"""Validate every data file: schema, units, sources and cross-field sanity (``gpucompare check-data``).

Each problem is one line ``file: key: problem``; the command exits with code 2 if there is any.

* **Schema**: every file goes through the loader the report uses (``catalog`` for GPUs, models,
  number formats and per-SM rates, ``tco`` for cloud prices, ``reliability``, ``interconnect``,
  ``claims``, and ``measure``/``throughput`` for ``measurements/*.csv``). A loader that fails hides
  the checks that need its data; those are skipped, not reported twice.
* **Units**: every numeric GPU spec field names its unit (:data:`UNIT_SUFFIXES`) or is a count or a
  generation number (:data:`COUNT_SUFFIXES`); every figure with a unit is positive.
* **Sources**: every ``source``/``*_source`` id used in a YAML file is defined in its ``sources``
  table (``interconnect.yaml`` may also cite ``gpus.yaml``'s); every ``{value: ...}`` figure has a
  source (its own or its parent's); every source URL and every measurement URL starts with http.
* **Ids**: every id in every data file (source ids, GPU, model, precision, architecture, claim,
  link, measurement and field-study ids, and every reference to one: ``gpu``, ``source``,
  ``applies_to``, ...; see :data:`ID_KEYS`) matches :data:`ID_PATTERN`: ids become HTML ids, CSS
  classes, file names and parameter keys, so they carry no markup. Section notebook names match
  :data:`NOTEBOOK_NAME_PATTERN` (:func:`check_notebook_names`).
* **Cross-field sanity**, per GPU (datasheets round, hence the tolerances):

  - tensor TFLOPS = SMs x dense FMA/clock/SM (``architectures.yaml``) x clock x 2
    (:func:`gpucompare.core.units.peak_tflops`) within :data:`TFLOPS_TOLERANCE`, at
    ``peak_tflops_clock_mhz``. Where NVIDIA states no peak clock (H200) the clock that reproduces the
    datasheet figure must lie between the base clock and the boost clock (x 1 + tolerance): the peak
    cannot exceed the boost-clock derivation, nor need a clock below base;
  - FP32 TFLOPS = CUDA cores x 2 x boost clock within :data:`TFLOPS_TOLERANCE`;
  - memory bandwidth (GB/s) = bus width (bits) x data rate (Gbit/s) / 8 within
    :data:`BANDWIDTH_TOLERANCE` (H100 PCIe: "2 TB/s" vs 5120 x 3.19 / 8 = 2.04 TB/s);
  - NVLink total = 2 x per direction, both set or both null, and equal to the GPU's link in
    ``interconnect.yaml``;
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

import argparse
import csv
import math
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpucompare.core import paths, units
from gpucompare.core.errors import EXIT_BAD_INPUT, InputError
from gpucompare.data import catalog

#: Relative tolerance of derived against datasheet TFLOPS (L40S FP16: 362.05 printed, 366.4 derived).
TFLOPS_TOLERANCE = 0.02
#: Relative tolerance of bus width x data rate against the datasheet bandwidth.
BANDWIDTH_TOLERANCE = 0.025
#: Name endings that state a unit (see ``gpucompare.core.units``).
UNIT_SUFFIXES = ("_tflops", "_tops", "_gib", "_gb", "_gb_s", "_mhz", "_w", "_bits", "_gbps")
#: Name endings of dimensionless counts and generation numbers.
COUNT_SUFFIXES = ("_count", "_cores", "_links", "_lanes", "_instances", "_generation")
#: Files and folders of ``data/`` the checks read (relative to the data folder).
DATA_FILES = (
    "gpus.yaml",
    "models.yaml",
    "precisions.yaml",
    "architectures.yaml",
    "cloud_prices.yaml",
    "reliability.yaml",
    "interconnect.yaml",
    "claims",
    "measurements/kernels*.csv",
    "measurements/decode_public.csv",
)
#: YAML files whose figures may also cite the sources of another file.
SHARED_SOURCES = {"interconnect.yaml": ("gpus.yaml",)}
_MIG_NAME = re.compile(r"^(\d+)g\.(\d+)gb$")
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
    "decode_public.csv": ("id", "gpu_id", "model", "weights", "kv_cache"),
    "kernels*.csv": ("gpu_id", "precision"),
}
#: Section notebook names: two digits, an underscore, then lowercase letters, digits and '_'.
NOTEBOOK_NAME_PATTERN = re.compile(r"^[0-9][0-9]_[a-z0-9_]+\.ipynb$")


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of one data file."""

    file: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"


def _loaders() -> dict[str, Callable[[], Any]]:
    """Each data file and the loader the report reads it with (imported here: heavy modules)."""
    from gpucompare import interconnect, measure, reliability, tco, throughput
    from gpucompare.data import claims

    return {
        "gpus.yaml": catalog.gpu_catalog,
        "models.yaml": catalog.model_catalog,
        "precisions.yaml": catalog.precision_catalog,
        "architectures.yaml": catalog.arch_catalog,
        "cloud_prices.yaml": tco.cloud_prices,
        "reliability.yaml": reliability.data,
        "interconnect.yaml": interconnect.interconnect_catalog,
        "claims": claims.claims,
        "measurements/kernels*.csv": measure.load_kernel_measurements,
        "measurements/decode_public.csv": throughput.public_measurements,
    }


#: Files whose loader reads another file too: a failure there is reported once, under that file.
_DEPENDS = {
    "cloud_prices.yaml": ("gpus.yaml",),
    "reliability.yaml": ("gpus.yaml",),
    "interconnect.yaml": ("gpus.yaml",),
    "measurements/kernels*.csv": ("gpus.yaml",),
    "measurements/decode_public.csv": ("gpus.yaml", "models.yaml", "precisions.yaml"),
}


def _display(data: Path, rel: str) -> str:
    return str(data / rel)


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
    for rel, load in _loaders().items():
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
    if "claims" in loaded:
        from gpucompare import audit

        registry = audit.checks()
        for c in loaded["claims"]:
            kind = c.check.get("kind")
            if kind not in registry:
                problems.append(
                    Problem(
                        _display(data, f"claims/{c.section}.yaml"),
                        f"{c.id}.check.kind",
                        f"unknown check kind '{kind}'; allowed: {', '.join(sorted(registry))}",
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


def source_problems(skip: frozenset[str] = frozenset()) -> list[Problem]:
    """Every source id used is defined, every figure has a source, every URL starts with http
    (YAML files named in ``skip`` are left out: their loader failed and said why)."""
    data = paths.data_dir()
    problems: list[Problem] = []
    raw: dict[str, Any] = {}
    for path in sorted(data.glob("*.yaml")):
        if path.name in skip:
            continue
        try:
            raw[path.name] = paths.load_yaml(path)
        except InputError:
            continue  # reported by the schema checks
    for name, content in raw.items():
        if not isinstance(content, dict):
            continue
        shown = _display(data, name)
        sources = content.get("sources") or {}
        if not isinstance(sources, dict):
            problems.append(Problem(shown, "sources", "expected a mapping of source id: source"))
            continue
        for sid, src in sorted(sources.items()):
            url = src.get("url") if isinstance(src, dict) else None
            if not (isinstance(url, str) and re.match(r"https?://", url)):
                problems.append(
                    Problem(shown, f"sources.{sid}.url", f"must start with http (got {url!r})")
                )
        known = set(sources)
        for other in SHARED_SOURCES.get(name, ()):
            other_sources = (
                raw.get(other, {}).get("sources") if isinstance(raw.get(other), dict) else None
            )
            known |= set(other_sources or {})
        used: list[tuple[str, str]] = []
        figures: list[str] = []
        body = {k: v for k, v in content.items() if k != "sources"}
        _walk_sources(body, "", used, figures, False)
        allowed = [name, *SHARED_SOURCES.get(name, ())]
        for where, sid in used:
            if sid not in known:
                problems.append(
                    Problem(
                        shown,
                        where,
                        f"source '{sid}' is not defined in the sources table of {' or '.join(allowed)}",
                    )
                )
        problems += [Problem(shown, f, "figure without a source") for f in figures]
    problems += _csv_url_problems(data)
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


def id_problems() -> list[Problem]:
    """Every id and id reference in every data file (YAML and measurement CSV) that does not match
    :data:`ID_PATTERN`. Files that do not load are left out: the schema checks say why."""
    data = paths.data_dir()
    problems: list[Problem] = []
    for path in sorted(data.rglob("*.yaml")):
        try:
            content = paths.load_yaml(path)
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


# --- Units ------------------------------------------------------------------------------------------


def _value_type(field: str) -> Any:
    """The Python type of a GPU spec field's ``value`` (``float | None`` etc.)."""
    return catalog.GpuSpecs.model_fields[field].annotation.model_fields["value"].annotation


def is_numeric_spec(field: str) -> bool:
    """Whether a GPU spec field holds a number (int or float, possibly null), not text or a flag."""
    t = _value_type(field)
    args = set(typing.get_args(t)) or {t}
    return bool(args & {int, float}) and bool not in args


def spec_unit(field: str) -> str | None:
    """The unit suffix (or count/generation suffix) a numeric spec field's name ends with, or None."""
    for suffix in UNIT_SUFFIXES + COUNT_SUFFIXES:
        if field.endswith(suffix):
            return suffix
    return None


def unit_problems() -> list[Problem]:
    """Numeric spec fields without a unit in their name; figures with a unit that are not positive."""
    data = paths.data_dir()
    shown = _display(data, "gpus.yaml")
    problems = [
        Problem(
            shown,
            f"specs.{f}",
            f"numeric field without a unit suffix ({', '.join(UNIT_SUFFIXES)}) or count suffix "
            f"({', '.join(COUNT_SUFFIXES)})",
        )
        for f in catalog.GpuSpecs.model_fields
        if is_numeric_spec(f) and spec_unit(f) is None
    ]
    for g in catalog.gpu_catalog().gpus:
        for f in catalog.GpuSpecs.model_fields:
            v = g.spec(f)
            if not is_numeric_spec(f) or v is None:
                continue
            may_be_zero = f == "mig_max_instances"  # 0 = no MIG
            if not math.isfinite(v) or v < 0 or (v == 0 and not may_be_zero):
                need = ">= 0" if may_be_zero else "> 0"
                problems.append(Problem(shown, f"{g.id}.specs.{f}", f"must be {need} (got {v!r})"))
    return problems


# --- Cross-field sanity -----------------------------------------------------------------------------


def _rel_error(value: float, expected: float) -> float:
    return abs(value / expected - 1)


def tensor_problems(gpu: catalog.Gpu, variant: catalog.ArchVariant, shown: str) -> list[Problem]:
    """Datasheet tensor TFLOPS against SMs x FMA/clock/SM x clock x 2 (module docstring)."""
    from gpucompare.specs import TENSOR_RATES

    out = []
    sms = gpu.spec("sm_count")
    stated = gpu.spec("peak_tflops_clock_mhz")
    base, boost = gpu.spec("base_clock_mhz"), gpu.spec("boost_clock_mhz")
    for field, rate_key in TENSOR_RATES.items():
        rate = variant.fma_per_clock_per_sm.get(rate_key)
        sheet = gpu.spec(field)
        rate_value = rate.value if rate is not None else None
        if (rate_value is None) != (sheet is None):
            out.append(
                Problem(
                    shown,
                    f"{gpu.id}.specs.{field}",
                    f"datasheet {sheet!r} but architectures.yaml variant '{variant.id}' has "
                    f"{rate_key} = {rate_value!r}; both must be set or both null",
                )
            )
            continue
        if sheet is None:
            continue
        if stated is not None:
            derived = units.peak_tflops(sms, rate_value, stated)
            if _rel_error(sheet, derived) > TFLOPS_TOLERANCE:
                out.append(
                    Problem(
                        shown,
                        f"{gpu.id}.specs.{field}",
                        f"{sheet:g} differs by {_rel_error(sheet, derived):.1%} from {sms} SMs x "
                        f"{rate_value:g} FMA/clock/SM x {stated:g} MHz x 2 = {derived:.1f} "
                        f"(tolerance {TFLOPS_TOLERANCE:.0%})",
                    )
                )
        else:
            implied = units.implied_clock_mhz(sheet, sms, rate_value)
            if not base * (1 - TFLOPS_TOLERANCE) <= implied <= boost * (1 + TFLOPS_TOLERANCE):
                out.append(
                    Problem(
                        shown,
                        f"{gpu.id}.specs.{field}",
                        f"{sheet:g} needs a clock of {implied:.0f} MHz with {sms} SMs x {rate_value:g} "
                        f"FMA/clock/SM, outside base {base:g} to boost {boost:g} MHz "
                        "(no peak_tflops_clock_mhz stated)",
                    )
                )
    return out


def gpu_problems(gpu: catalog.Gpu, shown: str) -> list[Problem]:
    """FP32 rate, bandwidth, NVLink, MIG and clock consistency of one GPU (module docstring)."""
    out: list[Problem] = []
    key = f"{gpu.id}.specs"
    boost, base = gpu.spec("boost_clock_mhz"), gpu.spec("base_clock_mhz")
    fp32 = gpu.spec("cuda_cores") * units.FLOPS_PER_FMA * boost * units.HZ_PER_MHZ
    fp32 /= units.FLOPS_PER_TFLOPS
    if _rel_error(gpu.spec("fp32_tflops"), fp32) > TFLOPS_TOLERANCE:
        out.append(
            Problem(
                shown,
                f"{key}.fp32_tflops",
                f"{gpu.spec('fp32_tflops'):g} differs by {_rel_error(gpu.spec('fp32_tflops'), fp32):.1%} "
                f"from {gpu.spec('cuda_cores')} CUDA cores x 2 x {boost:g} MHz = {fp32:.1f} "
                f"(tolerance {TFLOPS_TOLERANCE:.0%})",
            )
        )
    if base > boost:
        out.append(
            Problem(shown, f"{key}.base_clock_mhz", f"{base:g} exceeds the boost clock {boost:g}")
        )
    peak_clock = gpu.spec("peak_tflops_clock_mhz")
    if peak_clock is not None and peak_clock > boost:
        out.append(
            Problem(
                shown,
                f"{key}.peak_tflops_clock_mhz",
                f"{peak_clock:g} exceeds the boost clock {boost:g}",
            )
        )
    rate = gpu.spec("memory_data_rate_gbps")
    if rate is not None:
        bits = gpu.spec("memory_bus_width_bits")
        expected = bits * rate / units.BITS_PER_BYTE
        bw = gpu.spec("memory_bandwidth_gb_s")
        if _rel_error(bw, expected) > BANDWIDTH_TOLERANCE:
            out.append(
                Problem(
                    shown,
                    f"{key}.memory_bandwidth_gb_s",
                    f"{bw:g} differs by {_rel_error(bw, expected):.1%} from {bits} bits x {rate:g} Gbit/s "
                    f"/ 8 = {expected:.0f} GB/s (tolerance {BANDWIDTH_TOLERANCE:.1%})",
                )
            )
    per_dir = gpu.spec("nvlink_bandwidth_per_direction_gb_s")
    total = gpu.spec("nvlink_bandwidth_total_gb_s")
    if (per_dir is None) != (total is None):
        out.append(
            Problem(
                shown,
                f"{key}.nvlink_bandwidth_total_gb_s",
                f"total {total!r} and per direction {per_dir!r}: both must be set or both null",
            )
        )
    elif per_dir is not None and not math.isclose(total, 2 * per_dir, rel_tol=1e-9):
        out.append(
            Problem(
                shown,
                f"{key}.nvlink_bandwidth_total_gb_s",
                f"{total:g} is not 2 x per direction {per_dir:g} = {2 * per_dir:g}",
            )
        )
    out += mig_problems(gpu, shown)
    return out


def mig_problems(gpu: catalog.Gpu, shown: str) -> list[Problem]:
    """MIG profiles against ``mig_max_instances`` and the GPU's memory (module docstring)."""
    out = []
    slices = gpu.spec("mig_max_instances")
    memory = gpu.spec("memory_gib")
    if slices == 0:
        if gpu.mig_profiles:
            out.append(
                Problem(
                    shown, f"{gpu.id}.mig_profiles", "profiles listed but mig_max_instances is 0"
                )
            )
        return out
    if not gpu.mig_profiles:
        return [
            Problem(
                shown, f"{gpu.id}.mig_profiles", f"none listed but mig_max_instances is {slices}"
            )
        ]
    most = max(m.instances_max for m in gpu.mig_profiles)
    if most != slices:
        out.append(
            Problem(
                shown,
                f"{gpu.id}.specs.mig_max_instances",
                f"{slices} but the profiles allow at most {most} instances",
            )
        )
    for m in gpu.mig_profiles:
        where = f"{gpu.id}.mig_profiles[{m.profile}]"
        if m.instances_max < 1 or m.memory_gib <= 0:
            out.append(Problem(shown, where, "instances_max and memory_gib must be positive"))
            continue
        match = _MIG_NAME.match(m.profile)
        if match is None:
            out.append(
                Problem(shown, f"{where}.profile", "expected '<slices>g.<GB>gb', e.g. 1g.10gb")
            )
        else:
            g, named_gb = int(match.group(1)), int(match.group(2))
            if named_gb != round(m.memory_gib):
                out.append(
                    Problem(
                        shown,
                        f"{where}.memory_gib",
                        f"{m.memory_gib:g} but the profile name says {named_gb} GB",
                    )
                )
            if g * m.instances_max > slices:
                out.append(
                    Problem(
                        shown,
                        f"{where}.instances_max",
                        f"{m.instances_max} x {g} compute slices exceed the GPU's {slices}",
                    )
                )
        if m.memory_gib * m.instances_max > memory + m.instances_max:
            out.append(
                Problem(
                    shown,
                    f"{where}.memory_gib",
                    f"{m.instances_max} x {m.memory_gib:g} GiB exceed the GPU's {memory:g} GiB "
                    "(beyond one GiB of rounding per instance)",
                )
            )
    return out


def cross_problems(loaded: dict[str, Any]) -> list[Problem]:
    """Cross-field and cross-file sanity of the loaded data (only what loaded)."""
    data = paths.data_dir()
    if "gpus.yaml" not in loaded:
        return []
    shown = _display(data, "gpus.yaml")
    out: list[Problem] = []
    gpus = loaded["gpus.yaml"].gpus
    ids = [g.id for g in gpus]
    variants: dict[str, catalog.ArchVariant] = {}
    if "architectures.yaml" in loaded:
        arch_shown = _display(data, "architectures.yaml")
        for v in loaded["architectures.yaml"].variants:
            for gid in v.applies_to:
                if gid not in ids:
                    out.append(
                        Problem(
                            arch_shown,
                            f"{v.id}.applies_to",
                            f"unknown GPU '{gid}'; allowed: {', '.join(ids)}",
                        )
                    )
                elif gid in variants:
                    out.append(
                        Problem(
                            arch_shown,
                            f"{v.id}.applies_to",
                            f"GPU '{gid}' is also in variant '{variants[gid].id}'",
                        )
                    )
                else:
                    variants[gid] = v
    for g in gpus:
        out += gpu_problems(g, shown)
        if "architectures.yaml" in loaded:
            if g.id not in variants:
                out.append(
                    Problem(
                        _display(data, "architectures.yaml"),
                        "variants",
                        f"no variant applies to GPU '{g.id}'",
                    )
                )
            else:
                out += tensor_problems(g, variants[g.id], shown)
    if "interconnect.yaml" in loaded:
        from gpucompare import interconnect

        ic_shown = _display(data, "interconnect.yaml")
        topo = {t.id for t in loaded["interconnect.yaml"].gpus}
        for t in sorted(topo - set(ids)):
            out.append(
                Problem(
                    ic_shown, f"gpus[{t}]", f"not a GPU of gpus.yaml; allowed: {', '.join(ids)}"
                )
            )
        for g in ids:
            if g not in topo:
                out.append(Problem(ic_shown, "gpus", f"no topology for GPU '{g}'"))
                continue
            for probe in (interconnect.nvlink_link_id, interconnect.pcie_link_id):
                try:
                    probe(g)
                except InputError as exc:
                    out.append(Problem(ic_shown, f"gpus[{g}]", str(exc)))
    if "cloud_prices.yaml" in loaded:
        cp_shown = _display(data, "cloud_prices.yaml")
        priced = set()
        for i, r in enumerate(loaded["cloud_prices.yaml"].prices):
            if r.gpu not in ids:
                out.append(
                    Problem(
                        cp_shown,
                        f"prices[{i}].gpu",
                        f"unknown GPU '{r.gpu}'; allowed: {', '.join(ids)}",
                    )
                )
            if not (math.isfinite(r.usd_per_gpu_hour) and r.usd_per_gpu_hour > 0):
                out.append(
                    Problem(
                        cp_shown,
                        f"prices[{i}].usd_per_gpu_hour",
                        f"must be > 0 (got {r.usd_per_gpu_hour})",
                    )
                )
            if r.kind in ("on_demand", "marketplace"):
                priced.add(r.gpu)
        for g in ids:
            if g not in priced:
                out.append(
                    Problem(cp_shown, "prices", f"no on_demand or marketplace price for GPU '{g}'")
                )
    if "reliability.yaml" in loaded:
        rel_shown = _display(data, "reliability.yaml")
        by_id = {g.id: g for g in gpus}
        for m in loaded["reliability.yaml"].mig_sm_counts:
            profiles = {p.profile for p in by_id[m.gpu].mig_profiles}
            where = f"mig_sm_counts[{m.gpu} {m.profile}]"
            if m.profile not in profiles:
                out.append(
                    Problem(
                        rel_shown,
                        where,
                        f"unknown MIG profile; allowed: {', '.join(sorted(profiles)) or '(none)'}",
                    )
                )
            if not 0 < m.sm_count <= by_id[m.gpu].spec("sm_count"):
                out.append(
                    Problem(
                        rel_shown,
                        f"{where}.sm_count",
                        f"{m.sm_count} not in 1..{by_id[m.gpu].spec('sm_count')}",
                    )
                )
    return out


def check_all() -> list[Problem]:
    """Every problem of every data file, sorted and without duplicates."""
    problems, loaded = schema_problems()
    problems += source_problems(frozenset(f for f in _loaders() if f not in loaded))
    if "gpus.yaml" in loaded:
        problems += unit_problems()
    problems += cross_problems(loaded)
    problems += id_problems()
    return sorted(set(problems))


# --- Before a build -----------------------------------------------------------------------------------


def parameter_problems(p) -> list[str]:
    """What the parameters ask of the data that it cannot give: tensor-parallel degrees larger than a
    node of any catalog GPU (the interconnect tables cover them all) and GPUs without a cloud price."""
    from gpucompare import interconnect, tco

    out = []
    for probe in (
        lambda: interconnect.check_tp_degrees(p, catalog.gpu_ids()),
        *[lambda g=g: tco.cloud_rate(p, g) for g in catalog.gpu_ids()],
        *[lambda g=g: catalog.arch_variant(g) for g in p.gpus],
    ):
        try:
            probe()
        except InputError as exc:
            out.append(str(exc))
    return out


def preflight(p) -> None:
    """Load every data file and check the parameters against the data; one InputError listing every
    problem. Cheap (the loaders cache); the report runs it before any notebook starts."""
    problems, _ = schema_problems()
    problems += id_problems()  # an id with markup never reaches a page
    lines = [str(x) for x in problems]
    if not problems:
        lines += parameter_problems(p)
    if lines:
        raise InputError("\n".join(dict.fromkeys(lines)))


# --- Command line -------------------------------------------------------------------------------------


def _cmd_check_data(args: argparse.Namespace) -> int:
    data = paths.data_dir()
    problems = check_all()
    for x in problems:
        print(x)
    if problems:
        files = len({x.file for x in problems})
        print(
            f"gpucompare: error: {len(problems)} problem(s) in {files} data file(s) under {data}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    n_gpus = len(catalog.gpu_ids())
    print(
        f"{data}: {len(DATA_FILES)} data files and folders checked (schema, units, sources, "
        f"cross-field sanity of {n_gpus} GPUs): no problems"
    )
    return 0


def add_cli(subparsers) -> None:
    """``gpucompare check-data``: validate every data file; exit code 2 if anything is wrong."""
    cmd = subparsers.add_parser(
        "check-data",
        help="validate every data file (schema, units, sources, cross-field sanity); exit 2 on problems",
    )
    cmd.set_defaults(func=_cmd_check_data)
