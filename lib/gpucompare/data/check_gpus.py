"""Cross-field sanity of the GPU catalog (part of ``gpucompare check-data``): units in every spec
name, tensor and FP32 TFLOPS from compute units x the architecture's rate x clock, shader cores from
compute units, bandwidth from bus width x data rate, GPU-link totals, MIG slices, and that every GPU
has an architecture variant of its vendor, a topology and a cloud price. The rules are listed in
:mod:`gpucompare.data.checkdata`."""

from __future__ import annotations

import math
import re
import typing
from typing import Any

from gpucompare.core import paths, units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.data.architectures import TENSOR_RATES
from gpucompare.data.problem import Problem
from gpucompare.data.problem import display as _display

#: Relative tolerance of derived against datasheet TFLOPS (L40S FP16: 362.05 printed, 366.4 derived).
TFLOPS_TOLERANCE = 0.02
#: Relative tolerance of bus width x data rate against the datasheet bandwidth.
BANDWIDTH_TOLERANCE = 0.025
#: Name endings that state a unit (see ``gpucompare.core.units``).
UNIT_SUFFIXES = ("_tflops", "_tops", "_gib", "_gb", "_gb_s", "_mhz", "_w", "_bits", "_gbps")
#: Name endings of dimensionless counts and generation numbers.
COUNT_SUFFIXES = ("_count", "_units", "_cores", "_links", "_lanes", "_instances", "_generation")
_MIG_NAME = re.compile(r"^(\d+)g\.(\d+)gb$")


# --- Units ------------------------------------------------------------------------------------------


def _value_type(field: str) -> Any:
    """The Python type of a GPU spec field's ``value`` (``float | None`` etc.)."""
    return catalog.spec_value_type(field)


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


def _unit_words(gpu: catalog.Gpu) -> tuple[str, str]:
    """The GPU vendor's word for a compute unit, singular and plural (SM/SMs, CU/CUs)."""
    try:
        terms = catalog.vendor_terms(gpu.vendor)
    except InputError:
        return "compute unit", "compute units"
    return terms.compute_unit, terms.compute_units


def tensor_problems(gpu: catalog.Gpu, variant: catalog.ArchVariant, shown: str) -> list[Problem]:
    """Datasheet tensor TFLOPS against compute units x FMA/clock/unit x clock x 2 (module docstring)."""
    out = []
    sms = gpu.spec("compute_units")
    unit, units_word = _unit_words(gpu)
    stated = gpu.spec("peak_tflops_clock_mhz")
    base, boost = gpu.spec("base_clock_mhz"), gpu.spec("boost_clock_mhz")
    for field, rate_key in TENSOR_RATES.items():
        rate = variant.fma_per_clock_per_unit.get(rate_key)
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
                        f"{sheet:g} differs by {_rel_error(sheet, derived):.1%} from {sms} {units_word} x "
                        f"{rate_value:g} FMA/clock/{unit} x {stated:g} MHz x 2 = {derived:.1f} "
                        f"(tolerance {TFLOPS_TOLERANCE:.0%})",
                    )
                )
        else:
            implied = units.implied_clock_mhz(sheet, sms, rate_value)
            low = 0.0 if base is None else base * (1 - TFLOPS_TOLERANCE)
            if not low <= implied <= boost * (1 + TFLOPS_TOLERANCE):
                out.append(
                    Problem(
                        shown,
                        f"{gpu.id}.specs.{field}",
                        f"{sheet:g} needs a clock of {implied:.0f} MHz with {sms} {units_word} x "
                        f"{rate_value:g} FMA/clock/{unit}, outside base {base or 0:g} to boost "
                        f"{boost:g} MHz (no peak_tflops_clock_mhz stated)",
                    )
                )
    out += fp32_problems(gpu, variant, shown)
    return out


def fp32_problems(gpu: catalog.Gpu, variant: catalog.ArchVariant, shown: str) -> list[Problem]:
    """FP32 TFLOPS = compute units x the architecture's FP32 FMA/clock/unit x 2 x boost clock, and
    shader cores = compute units x shader cores per unit (module docstring). The architecture's rate,
    not the shader-core count, carries the derivation: an AMD CDNA 3 CU has 64 stream processors but
    issues 128 FP32 FMA per clock (dual-issue / packed FP32)."""
    out = []
    key = f"{gpu.id}.specs"
    n = gpu.spec("compute_units")
    unit, units_word = _unit_words(gpu)
    boost = gpu.spec("boost_clock_mhz")
    rate = variant.fp32_fma_per_clock_per_unit.value
    fp32 = units.peak_tflops(n, rate, boost)
    sheet = gpu.spec("fp32_tflops")
    if _rel_error(sheet, fp32) > TFLOPS_TOLERANCE:
        out.append(
            Problem(
                shown,
                f"{key}.fp32_tflops",
                f"{sheet:g} differs by {_rel_error(sheet, fp32):.1%} from {n} {units_word} x "
                f"{rate:g} FP32 FMA/clock/{unit} ('{variant.id}') x 2 x {boost:g} MHz = {fp32:.1f} "
                f"(tolerance {TFLOPS_TOLERANCE:.0%})",
            )
        )
    per_unit = variant.shader_cores_per_unit.value
    cores = gpu.spec("shader_cores")
    if cores != n * per_unit:
        out.append(
            Problem(
                shown,
                f"{key}.shader_cores",
                f"{cores} is not {n} {units_word} x {per_unit} per {unit} ('{variant.id}') = "
                f"{n * per_unit}",
            )
        )
    return out


def gpu_problems(gpu: catalog.Gpu, shown: str) -> list[Problem]:
    """Clocks, bandwidth, GPU link and MIG consistency of one GPU (module docstring)."""
    out: list[Problem] = []
    key = f"{gpu.id}.specs"
    boost, base = gpu.spec("boost_clock_mhz"), gpu.spec("base_clock_mhz")
    if base is not None and base > boost:
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
    per_dir = gpu.spec("gpu_link_bandwidth_per_direction_gb_s")
    total = gpu.spec("gpu_link_bandwidth_total_gb_s")
    if (per_dir is None) != (total is None):
        out.append(
            Problem(
                shown,
                f"{key}.gpu_link_bandwidth_total_gb_s",
                f"total {total!r} and per direction {per_dir!r}: both must be set or both null",
            )
        )
    elif per_dir is not None and not math.isclose(total, 2 * per_dir, rel_tol=1e-9):
        out.append(
            Problem(
                shown,
                f"{key}.gpu_link_bandwidth_total_gb_s",
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
    if slices is None:  # not an NVIDIA GPU: MIG does not apply (the schema refuses profiles)
        return out
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


def link_problems(gpus: list[catalog.Gpu], ic: Any, shown: str) -> list[Problem]:
    """A GPU's scale-up link (``gpu_link`` in interconnect.yaml) carries the per-direction bandwidth
    of its ``gpu_link_bandwidth_per_direction_gb_s`` spec, and a GPU without one has neither."""
    out = []
    links = {x.id: x for x in ic.links}
    specs = {g.id: g.spec("gpu_link_bandwidth_per_direction_gb_s") for g in gpus}
    for t in ic.gpus:
        if t.id not in specs:
            continue
        spec = specs[t.id]
        link = links.get(t.gpu_link) if t.gpu_link else None
        if t.gpu_link and link is None:
            out.append(
                Problem(
                    shown,
                    f"gpus[{t.id}].gpu_link",
                    f"unknown link '{t.gpu_link}'; allowed: {', '.join(links)}",
                )
            )
            continue
        link_bw = link.per_direction_gb_s.value if link and link.per_direction_gb_s else None
        if (t.gpu_link is None) != (spec is None) or (link is not None and link_bw != spec):
            out.append(
                Problem(
                    shown,
                    f"gpus[{t.id}].gpu_link",
                    f"{t.gpu_link!r} ({link_bw!r} GB/s per direction) disagrees with the GPU's "
                    f"gpu_link_bandwidth_per_direction_gb_s {spec!r} in gpus.yaml",
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
            vendors = loaded["architectures.yaml"].vendors
            if g.vendor not in vendors:
                out.append(
                    Problem(
                        shown,
                        f"{g.id}.vendor",
                        f"unknown vendor '{g.vendor}' (no terms in architectures.yaml); "
                        f"allowed: {', '.join(vendors)}",
                    )
                )
            if g.id not in variants:
                out.append(
                    Problem(
                        _display(data, "architectures.yaml"),
                        "variants",
                        f"no variant applies to GPU '{g.id}'",
                    )
                )
            elif variants[g.id].vendor != g.vendor:
                out.append(
                    Problem(
                        shown,
                        f"{g.id}.vendor",
                        f"'{g.vendor}' but its architecture variant '{variants[g.id].id}' is "
                        f"'{variants[g.id].vendor}'",
                    )
                )
            else:
                out += tensor_problems(g, variants[g.id], shown)
    if "engines.yaml" in loaded and "architectures.yaml" in loaded:
        vendors = loaded["architectures.yaml"].vendors
        for e in loaded["engines.yaml"].engines:
            for v in e.vendors or []:
                if v not in vendors:
                    out.append(
                        Problem(
                            _display(data, "engines.yaml"),
                            f"engines[{e.id}].vendors",
                            f"unknown vendor '{v}'; allowed: {', '.join(vendors)}",
                        )
                    )
    if "interconnect.yaml" in loaded:
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
        out += link_problems(gpus, loaded["interconnect.yaml"], ic_shown)
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
    return out
