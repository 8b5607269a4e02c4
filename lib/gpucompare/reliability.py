"""Reliability and multi-tenancy: memory errors with and without ECC, their cost to training and
serving, sustained against peak throughput, and MIG slices as tenants.

Formulas (GB = 1e9 bytes, GiB = 2**30 bytes, a year = ``units.HOURS_PER_YEAR`` hours):

* Memory errors arrive as a Poisson process. A GPU with M GB of memory at r errors per GB-year
  sees lambda = r x M x years errors; a fleet of N such GPUs N times that. P(at least one) =
  1 - exp(-lambda); P(k) = exp(-lambda) lambda^k / k!.
* With SECDED ECC on, a fraction u (``uncorrectable_fraction``) of the errors is detected but not
  corrected (the job or request fails, loudly); the rest are corrected. Without ECC every error is
  silent. Errors of three or more bits that SECDED miscorrects are neglected. Every error is counted
  as if it hit live data, which makes the silent and failed counts upper bounds.
* Field rates come from ``data/reliability.yaml``: a count study gives events x (1 - outlier share)
  x DRAM share / (devices x GB per device x years); a FIT study gives FIT/Mbit / 1e9 device-hours x
  (8e9 bits per GB / 2**20 bits per Mbit) x hours per year.
* Serving: a request of T seconds on a GPU with error rate lambda_s per second is hit with
  probability 1 - exp(-lambda_s T); per million requests 1e6 times that.
* Training: a job of N GPUs fails at rate L = N x (per-GPU rate of errors that force a rollback) per
  hour. With checkpoints every tau hours and restarts from the last one, each tau of useful work takes
  (exp(L tau) - 1) / L hours on average (the renewal result behind Young's and Daly's checkpoint
  intervals; about tau (1 + L tau / 2) when L tau is small). Wasted GPU-hours = N x useful hours x
  ((exp(L tau) - 1) / (L tau) - 1).
* Sustained throughput = fraction x the datasheet's dense FP16/BF16 tensor peak with FP32 accumulate;
  the fraction is a parameter per market segment, its defaults the lowest measured large-matmul
  fraction of the segment in ``data/reliability.yaml``.
* MIG: a profile's instances and memory come from the catalog (``mig_profiles``); its SMs, where known,
  from ``data/reliability.yaml``; its peak = the GPU's peak x SMs / all SMs. Max batch in a slice is
  :func:`gpucompare.memory.max_batch` on the GPU with the slice's memory. Cost per tenant = GPU price /
  instances.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from gpucompare import memory
from gpucompare.core import paths, units
from gpucompare.core.errors import InputError, unknown
from gpucompare.data import catalog
from gpucompare.sections.figures import colour, new

# --- Unit definitions this section needs (not yet in gpucompare.core.units) ------------------------

#: Requests in "per million requests".
REQUESTS_PER_MILLION = 1e6

#: A field rate and a claimed rate agree when within this factor of each other (field rates of one
#: memory generation spread by more than that between fleets; an assumption of this report).
FIELD_RATE_FACTOR = 2.0
#: Relative tolerance for the article's own arithmetic (it rounds to one or two digits).
ARITHMETIC_TOLERANCE = 0.10
#: Relative tolerance for a sustained fraction or a MIG figure.
FIGURE_TOLERANCE = 0.05

Segment = Literal["datacenter", "workstation", "consumer"]


# --- Data file ---------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(_Strict):
    """A study's length as published."""

    value: float
    unit: Literal["days", "months", "years"]


class FieldStudy(_Strict):
    """One memory-error field study, as published: counts over a fleet, or FIT per Mbit."""

    id: str
    label: str
    memory: str
    kind: Literal["correctable", "uncorrectable", "interruption"]
    source: str
    events: float | None = None
    outlier_share: float = 0.0
    memory_share: float = 1.0
    devices: int | None = None
    memory_gib_per_device: float | None = None
    duration: Duration | None = None
    fit_per_mbit: float | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> FieldStudy:
        counts = (self.events, self.devices, self.memory_gib_per_device, self.duration)
        if self.fit_per_mbit is None and any(x is None for x in counts):
            raise ValueError(
                f"{self.id}: give either fit_per_mbit or all of events, devices, memory_gib_per_device, duration"
            )
        if self.fit_per_mbit is not None and any(x is not None for x in counts):
            raise ValueError(f"{self.id}: fit_per_mbit and counts are exclusive")
        for name in ("outlier_share", "memory_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{self.id}: {name} must be within [0, 1]")
        return self


class Defaults(_Strict):
    """Which field study sets which model default."""

    correctable: str
    uncorrectable: str
    h100_uncorrectable_check: str


class SustainedMeasurement(_Strict):
    """A measured large matmul: achieved TFLOPS against a catalog peak field of the same GPU."""

    id: str
    gpu: str
    measured_tflops: float
    peak_field: str
    source: str
    note: str | None = None


class MigSmCount(_Strict):
    """SMs in one MIG GPU-instance profile."""

    gpu: str
    profile: str
    sm_count: int
    source: str


class ReliabilityData(_Strict):
    """``data/reliability.yaml``."""

    schema_version: Literal[1]
    sources: dict[str, catalog.Source]
    field_studies: list[FieldStudy]
    defaults: Defaults
    sustained_measurements: list[SustainedMeasurement]
    mig_sm_counts: list[MigSmCount]

    @model_validator(mode="after")
    def _consistent(self) -> ReliabilityData:
        used = [s.source for s in self.field_studies]
        used += [m.source for m in self.sustained_measurements]
        used += [m.source for m in self.mig_sm_counts]
        missing = sorted({s for s in used if s not in self.sources})
        if missing:
            raise ValueError(f"undefined source ids: {missing}")
        ids = [s.id for s in self.field_studies]
        for name, sid in self.defaults.model_dump().items():
            if sid not in ids:
                raise ValueError(f"defaults.{name}: unknown field study '{sid}'; allowed: {ids}")
        for m in self.sustained_measurements:
            if m.peak_field not in catalog.GpuSpecs.model_fields:
                raise ValueError(f"{m.id}: peak_field '{m.peak_field}' is not a GPU spec field")
        return self


@functools.cache
def _load(path: Path) -> ReliabilityData:
    data = catalog.load_validated(path, ReliabilityData)
    for gid in [m.gpu for m in data.sustained_measurements] + [m.gpu for m in data.mig_sm_counts]:
        catalog.get_gpu(gid, f"{path.name}: gpu")
    return data


def data() -> ReliabilityData:
    """The validated ``data/reliability.yaml`` (cached per file path)."""
    return _load(paths.data_dir() / "reliability.yaml")


def field_study(study_id: str) -> FieldStudy:
    """One field study by id; an unknown id raises InputError naming the allowed ones."""
    studies = {s.id: s for s in data().field_studies}
    if study_id not in studies:
        raise unknown("field study", "field_study", study_id, studies)
    return studies[study_id]


# --- Conversions and the Poisson model ---------------------------------------------------------


def _check_nonnegative(name: str, value: float) -> None:
    if not (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ):
        raise InputError(f"{name}: must be a finite number (got {value!r})")
    if value < 0:
        raise InputError(f"{name}: must be >= 0 (got {value!r})")


def duration_years(value: float, unit: str) -> float:
    """A duration in years: days x 24 / hours per year, months / 12, or years."""
    _check_nonnegative("duration", value)
    if unit == "days":
        return value * units.HOURS_PER_DAY / units.HOURS_PER_YEAR
    if unit == "months":
        return value / units.MONTHS_PER_YEAR
    if unit == "years":
        return float(value)
    raise unknown("duration unit", "unit", unit, ["days", "months", "years"])


def fit_per_mbit_to_per_gb_year(fit_per_mbit: float) -> float:
    """Errors per GB-year from FIT/Mbit: FIT / 1e9 device-hours x (8e9 bits / 2**20 bits) x hours per year.

    25,000 FIT/Mbit (Schroeder et al. 2009, low end) = 1,670.8 errors per GB-year."""
    _check_nonnegative("fit_per_mbit", fit_per_mbit)
    mbit_per_gb = units.BITS_PER_BYTE * units.BYTES_PER_GB / units.BITS_PER_MBIT
    return fit_per_mbit / units.DEVICE_HOURS_PER_FIT * mbit_per_gb * units.HOURS_PER_YEAR


def study_events(s: FieldStudy) -> float | None:
    """A count study's events kept: events x (1 - outlier share) x DRAM share (None for FIT studies)."""
    if s.events is None:
        return None
    return s.events * (1 - s.outlier_share) * s.memory_share


def study_per_gb_year(s: FieldStudy) -> float:
    """A study's errors per GB-year (GB = 1e9 bytes): see the module docstring."""
    if s.fit_per_mbit is not None:
        return fit_per_mbit_to_per_gb_year(s.fit_per_mbit)
    gb = units.gib_to_gb(s.memory_gib_per_device)
    years = duration_years(s.duration.value, s.duration.unit)
    return study_events(s) / (s.devices * gb * years)


def study_per_device_year(s: FieldStudy) -> float | None:
    """A count study's events per device-year (None for FIT studies, which have no device size)."""
    if s.fit_per_mbit is not None:
        return None
    return study_events(s) / (s.devices * duration_years(s.duration.value, s.duration.unit))


def field_errors_per_gb_year() -> float:
    """The field rate behind the ``dram_errors_per_gb_year`` default (``defaults.correctable``)."""
    return study_per_gb_year(field_study(data().defaults.correctable))


def field_uncorrectable_fraction() -> float:
    """Uncorrectable / correctable DRAM error rate of the default studies (the ``uncorrectable_fraction`` default)."""
    d = data().defaults
    return study_per_gb_year(field_study(d.uncorrectable)) / study_per_gb_year(
        field_study(d.correctable)
    )


def expected_errors(
    errors_per_gb_year: float, memory_gb: float, devices: float, years: float
) -> float:
    """Poisson mean lambda = errors per GB-year x GB per device x devices x years."""
    for name, v in (
        ("errors_per_gb_year", errors_per_gb_year),
        ("memory_gb", memory_gb),
        ("devices", devices),
        ("years", years),
    ):
        _check_nonnegative(name, v)
    return errors_per_gb_year * memory_gb * devices * years


def p_at_least_one(lam: float) -> float:
    """P(N >= 1) = 1 - exp(-lambda) for a Poisson count of mean lambda."""
    _check_nonnegative("lambda", lam)
    return -math.expm1(-lam)


def poisson_pmf(k: int, lam: float) -> float:
    """P(N = k) = exp(-lambda) lambda^k / k!, computed in logs so large k and lambda do not overflow."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise InputError(f"k: must be an integer >= 0 (got {k!r})")
    _check_nonnegative("lambda", lam)
    if lam == 0:
        return 1.0 if k == 0 else 0.0
    return math.exp(k * math.log(lam) - lam - math.lgamma(k + 1))


def poisson_cdf(k: int, lam: float) -> float:
    """P(N <= k) = sum of the pmf from 0 to k."""
    return math.fsum(poisson_pmf(i, lam) for i in range(int(k) + 1))


# --- Per-GPU error model -----------------------------------------------------------------------


def memory_gb(gpu_id: str) -> float:
    """GPU memory in decimal GB (the catalog's GiB converted)."""
    return units.gib_to_gb(catalog.get_gpu(gpu_id).spec("memory_gib"))


def ecc_active(p, gpu_id: str) -> bool:
    """ECC protects the memory: the GPU has ECC, and on a consumer card (where it is an opt-in driver
    mode, off by default) only if ``consumer_ecc_enabled``."""
    gpu = catalog.get_gpu(gpu_id)
    if not gpu.spec("ecc"):
        return False
    return gpu.segment != "consumer" or p.consumer_ecc_enabled


def error_rates_per_gpu_year(p, gpu_id: str) -> dict[str, float]:
    """Errors per GPU-year: raw, corrected, detected-uncorrectable and silent (see the module docstring)."""
    raw = expected_errors(p.dram_errors_per_gb_year, memory_gb(gpu_id), 1, 1)
    if ecc_active(p, gpu_id):
        uncorrectable = raw * p.uncorrectable_fraction
        return {
            "raw": raw,
            "corrected": raw - uncorrectable,
            "uncorrectable": uncorrectable,
            "silent": 0.0,
        }
    return {"raw": raw, "corrected": 0.0, "uncorrectable": 0.0, "silent": raw}


def rollback_rate_per_gpu_year(p, gpu_id: str) -> float:
    """Errors per GPU-year that force a training rollback: detected uncorrectable errors with ECC; without
    ECC every error, on the optimistic assumption that each silent corruption is noticed (e.g. by a loss
    spike) and rolled back."""
    r = error_rates_per_gpu_year(p, gpu_id)
    return r["uncorrectable"] + r["silent"]


#: log of the largest float (about 709.78): exp() of more overflows.
_LOG_FLOAT_MAX = math.log(sys.float_info.max)
#: Below this, (exp(x) - 1) / x is computed directly; above, in logs.
_DIRECT_EXP_MAX = 700.0


def rollback_overhead_factor(job_events_per_hour: float, checkpoint_interval_hours: float) -> float:
    """Expected wall-clock hours per useful hour: (exp(L tau) - 1) / (L tau), 1 when L = 0, and
    infinite when it exceeds the largest float (the run never finishes)."""
    _check_nonnegative("job_events_per_hour", job_events_per_hour)
    if not checkpoint_interval_hours > 0:
        raise InputError(
            f"checkpoint_interval_hours: must be > 0 (got {checkpoint_interval_hours!r})"
        )
    x = job_events_per_hour * checkpoint_interval_hours
    if x == 0:
        return 1.0
    if x < _DIRECT_EXP_MAX:
        return math.expm1(x) / x
    # exp(x) nears the float limit: in logs, log((e^x - 1) / x) = x + log1p(-e^-x) - log x, and
    # infinite once that exceeds the largest float (rollbacks outpace checkpoints: no progress).
    log_factor = x + math.log1p(-math.exp(-x)) - math.log(x)
    return math.exp(log_factor) if log_factor < _LOG_FLOAT_MAX else math.inf


def wasted_gpu_hours(
    gpus: int, useful_hours: float, job_events_per_hour: float, checkpoint_interval_hours: float
) -> float:
    """GPU-hours lost to rollbacks: gpus x useful hours x (overhead factor - 1)."""
    _check_nonnegative("gpus", gpus)
    _check_nonnegative("useful_hours", useful_hours)
    factor = rollback_overhead_factor(job_events_per_hour, checkpoint_interval_hours)
    return gpus * useful_hours * (factor - 1)


def corrupted_per_million(errors_per_gpu_year: float, request_duration_s: float) -> float:
    """Requests per million hit by an error while on the GPU: 1e6 x (1 - exp(-lambda_s T))."""
    per_s = errors_per_gpu_year / (units.HOURS_PER_YEAR * units.SECONDS_PER_HOUR)
    return REQUESTS_PER_MILLION * p_at_least_one(per_s * request_duration_s)


# --- Tables for the notebook -------------------------------------------------------------------


def field_study_table() -> pd.DataFrame:
    """Each field study as published and converted to errors per GB-year (and per device-year)."""
    rows = []
    for s in data().field_studies:
        if s.fit_per_mbit is not None:
            published = f"{s.fit_per_mbit:,.0f} FIT/Mbit"
        else:
            published = (
                f"{s.events:,.0f} events, {s.devices:,} devices x {s.memory_gib_per_device:g} GiB, "
                f"{s.duration.value:g} {s.duration.unit}"
            )
        rows.append(
            {
                "study": s.id,
                "what": s.label,
                "kind": s.kind,
                "published": published,
                "outlier_share_removed": s.outlier_share,
                "dram_share_kept": s.memory_share,
                "errors_per_gb_year": study_per_gb_year(s),
                "errors_per_device_year": study_per_device_year(s),
                "source": s.source,
            }
        )
    return pd.DataFrame(rows).set_index("study").replace({np.nan: None})


def field_study_caption() -> str:
    """One sentence: the spread of the correctable rates and the defaults taken from them."""
    t = field_study_table()
    corr = t[t["kind"] == "correctable"]["errors_per_gb_year"]
    return (
        f"Correctable-error rates span {corr.min():.2f} to {corr.max():,.0f} errors per GB-year "
        f"({corr.max() / corr.min():,.0f}x) depending on the fleet and on whether a few faulty parts are "
        f"counted; the default is the GPU fleet without its outliers, {field_errors_per_gb_year():.2f} per GB-year, "
        f"with {field_uncorrectable_fraction():.2e} of errors uncorrectable."
    )


def error_model_table(p) -> pd.DataFrame:
    """Per GPU: memory (GB), whether ECC is active, and errors per GPU-year by outcome."""
    rows = []
    for g in p.gpus:
        r = error_rates_per_gpu_year(p, g)
        rows.append(
            {
                "gpu": g,
                "memory_gb": memory_gb(g),
                "ecc_active": ecc_active(p, g),
                "errors_per_gpu_year": r["raw"],
                "corrected_per_gpu_year": r["corrected"],
                "detected_uncorrectable_per_gpu_year": r["uncorrectable"],
                "silent_per_gpu_year": r["silent"],
                "gpu_years_per_detected_uncorrectable": (
                    1 / r["uncorrectable"] if r["uncorrectable"] else None
                ),
            }
        )
    return pd.DataFrame(rows).set_index("gpu").replace({np.nan: None})


def error_model_caption(p) -> str:
    """One sentence: errors per GPU-year and what becomes of them on each GPU."""
    t = error_model_table(p)
    parts = []
    for g, row in t.iterrows():
        fate = (
            f"{row['detected_uncorrectable_per_gpu_year']:.3f} of them uncorrectable"
            if row["ecc_active"]
            else "all of them silent (no ECC)"
        )
        parts.append(f"{g} {row['errors_per_gpu_year']:.1f} per year, {fate}")
    return f"At {p.dram_errors_per_gb_year:g} errors per GB-year: " + "; ".join(parts) + "."


def training_table(p) -> pd.DataFrame:
    """The parameters' training run (``training_gpus`` x ``training_days``) on each GPU: expected errors
    by outcome, probabilities of at least one, and GPU-hours lost to rollbacks at the checkpoint interval."""
    years = duration_years(p.training_days, "days")
    useful_hours = p.training_days * units.HOURS_PER_DAY
    rows = []
    for g in p.gpus:
        r = error_rates_per_gpu_year(p, g)
        per_job = {k: v * p.training_gpus * years for k, v in r.items()}
        job_rate = (
            rollback_rate_per_gpu_year(p, g) * p.training_gpus / units.HOURS_PER_YEAR
        )  # per job hour
        factor = rollback_overhead_factor(job_rate, p.checkpoint_interval_hours)
        wasted = wasted_gpu_hours(
            p.training_gpus, useful_hours, job_rate, p.checkpoint_interval_hours
        )
        rows.append(
            {
                "gpu": g,
                "ecc_active": ecc_active(p, g),
                "expected_errors": per_job["raw"],
                "expected_corrected": per_job["corrected"],
                "expected_detected_uncorrectable": per_job["uncorrectable"],
                "expected_silent": per_job["silent"],
                "p_at_least_one_silent": p_at_least_one(per_job["silent"]),
                "p_at_least_one_uncorrectable": p_at_least_one(per_job["uncorrectable"]),
                "expected_rollbacks": job_rate * useful_hours * factor,
                "wasted_gpu_hours": wasted,
                "wasted_fraction": wasted / (p.training_gpus * useful_hours),
            }
        )
    return pd.DataFrame(rows).set_index("gpu")


def training_caption(p) -> str:
    """One sentence on the training run: silent corruptions and rollback cost per GPU."""
    t = training_table(p)
    parts = [
        f"{g}: P(silent corruption) {row['p_at_least_one_silent']:.3f}, "
        + (
            f"{row['wasted_gpu_hours']:,.0f} GPU-hours ({row['wasted_fraction']:.1%}) lost to rollbacks"
            if math.isfinite(row["wasted_gpu_hours"])
            else "rollbacks come faster than checkpoints, so the run never finishes"
        )
        + ("" if row["ecc_active"] else " if every silent error were caught")
        for g, row in t.iterrows()
    ]
    return (
        f"{p.training_gpus:,} GPUs for {p.training_days:g} days, checkpoints every "
        f"{p.checkpoint_interval_hours:g} h: " + "; ".join(parts) + "."
    )


def serving_table(p) -> pd.DataFrame:
    """Serving at ``serving_requests_per_s`` per GPU, ``request_duration_s`` per request: silent and
    failed requests per million and per GPU-day."""
    requests_per_day = p.serving_requests_per_s * units.SECONDS_PER_DAY
    rows = []
    for g in p.gpus:
        r = error_rates_per_gpu_year(p, g)
        silent = corrupted_per_million(r["silent"], p.request_duration_s)
        failed = corrupted_per_million(r["uncorrectable"], p.request_duration_s)
        rows.append(
            {
                "gpu": g,
                "ecc_active": ecc_active(p, g),
                "silent_errors_per_gpu_day": r["silent"]
                * units.HOURS_PER_DAY
                / units.HOURS_PER_YEAR,
                "corrupted_per_million_requests": silent,
                "failed_per_million_requests": failed,
                "corrupted_requests_per_gpu_day": requests_per_day * silent / REQUESTS_PER_MILLION,
                "failed_requests_per_gpu_day": requests_per_day * failed / REQUESTS_PER_MILLION,
            }
        )
    return pd.DataFrame(rows).set_index("gpu")


def serving_caption(p) -> str:
    """One sentence: corrupted requests per million on each GPU."""
    t = serving_table(p)
    parts = [
        f"{g} {row['corrupted_per_million_requests']:.2f} silently corrupted and "
        f"{row['failed_per_million_requests']:.4f} failed"
        for g, row in t.iterrows()
    ]
    return (
        f"Per million requests of {p.request_duration_s:g} s: "
        + "; ".join(parts)
        + " (upper bounds: "
        "every error is counted as hitting a request in flight)."
    )


def probability_figure(p):
    """P(at least one silent error) = 1 - exp(-r M n t) against run length t (hours, log axis) for 1 to
    ``training_gpus`` GPUs without ECC, at the parameters' rate and the first non-ECC GPU's memory M
    (or the first GPU's)."""
    no_ecc = [g for g in p.gpus if not ecc_active(p, g)]
    g = (no_ecc or p.gpus)[0]
    fig, ax = new(
        f"Silent memory errors without ECC, {g}",
        "run length (hours, log scale)",
        "P(at least one silent error)",
    )
    hours = np.logspace(-2, math.log10(max(p.training_days, 1.0) * units.HOURS_PER_DAY), 300)
    per_gpu_hour = p.dram_errors_per_gb_year * memory_gb(g) / units.HOURS_PER_YEAR
    for i, n in enumerate(sorted({1, 8, 64, p.training_gpus})):
        ax.plot(
            hours,
            -np.expm1(-per_gpu_hour * n * hours),
            color=colour(i),
            label=f"{n:,} GPU{'s' if n > 1 else ''}",
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left")
    return fig


def probability_caption(p) -> str:
    """One sentence: the days until a silent error is more likely than not, for one GPU and for the fleet."""
    no_ecc = [g for g in p.gpus if not ecc_active(p, g)]
    g = (no_ecc or p.gpus)[0]
    per_day = p.dram_errors_per_gb_year * memory_gb(g) * units.HOURS_PER_DAY / units.HOURS_PER_YEAR
    if per_day == 0:
        return f"At {p.dram_errors_per_gb_year:g} memory errors per GB-year no silent error is expected."
    half = math.log(2)
    one = half / per_day
    fleet_hours = half / (per_day * p.training_gpus) * units.HOURS_PER_DAY
    return (
        f"Without ECC, a silent memory error becomes more likely than not after {one:,.0f} days on one {g} "
        f"and after {fleet_hours:.1f} hours on {p.training_gpus:,} of them."
    )


# --- Sustained against peak throughput ---------------------------------------------------------

#: The datasheet peak that a sustained fraction multiplies.
PEAK_FIELD = "fp16_tensor_fp32acc_tflops"


def measured_fraction(m: SustainedMeasurement) -> float:
    """Measured TFLOPS / the catalog's dense peak of the same data type."""
    return m.measured_tflops / catalog.get_gpu(m.gpu).spec(m.peak_field)


def segment_measured_fraction(segment: str) -> float:
    """The lowest measured fraction among the measurements of GPUs in ``segment`` (the parameter default)."""
    found = [
        measured_fraction(m)
        for m in data().sustained_measurements
        if catalog.get_gpu(m.gpu).segment == segment
    ]
    if not found:
        raise InputError(
            f"segment: no sustained measurement for '{segment}' in data/reliability.yaml; allowed: "
            + ", ".join(
                sorted({catalog.get_gpu(m.gpu).segment for m in data().sustained_measurements})
            )
        )
    return min(found)


def sustained_fraction(p, gpu_id: str) -> float:
    """Sustained / peak tensor throughput of ``gpu_id`` for its market segment (parameters
    ``sustained_fraction_datacenter`` and ``sustained_fraction_consumer``; dimensionless, may exceed 1
    where a card runs above the clock its peak was computed at)."""
    segment = catalog.get_gpu(gpu_id, "gpu_id").segment
    by_segment = {
        "datacenter": p.sustained_fraction_datacenter,
        "consumer": p.sustained_fraction_consumer,
    }
    if segment not in by_segment:
        raise InputError(
            f"gpu_id: {gpu_id} is a '{segment}' GPU; sustained fractions exist for segments: "
            + ", ".join(sorted(by_segment))
        )
    return by_segment[segment]


def sustained_tflops(p, gpu_id: str) -> float:
    """Sustained dense FP16 tensor TFLOPS with FP32 accumulate = fraction x datasheet peak."""
    return sustained_fraction(p, gpu_id) * catalog.get_gpu(gpu_id).spec(PEAK_FIELD)


def measurement_table() -> pd.DataFrame:
    """The measured large matmuls behind the sustained-fraction defaults."""
    rows = []
    for m in data().sustained_measurements:
        gpu = catalog.get_gpu(m.gpu)
        rows.append(
            {
                "measurement": m.id,
                "gpu": m.gpu,
                "segment": gpu.segment,
                "peak_field": m.peak_field,
                "peak_tflops": gpu.spec(m.peak_field),
                "measured_tflops": m.measured_tflops,
                "measured_fraction": measured_fraction(m),
                "source": m.source,
            }
        )
    return pd.DataFrame(rows).set_index("measurement")


def measurement_caption() -> str:
    """One sentence: the range of measured fractions per segment and the defaults taken from them."""
    t = measurement_table()
    parts = [
        f"{seg} {grp['measured_fraction'].min():.0%} to {grp['measured_fraction'].max():.0%} "
        f"(default {segment_measured_fraction(seg):.2f}, the lowest)"
        for seg, grp in sorted(t.groupby("segment"), key=lambda kv: kv[0])
    ]
    return "Measured large matmuls reach, of their dense peak: " + "; ".join(parts) + "."


def sustained_table(p) -> pd.DataFrame:
    """Per GPU: segment, datasheet peak, the sustained fraction in use and the sustained TFLOPS."""
    rows = []
    for g in p.gpus:
        gpu = catalog.get_gpu(g)
        rows.append(
            {
                "gpu": g,
                "segment": gpu.segment,
                "peak_fp16_fp32acc_tflops": gpu.spec(PEAK_FIELD),
                "sustained_fraction": sustained_fraction(p, g),
                "sustained_fp16_fp32acc_tflops": sustained_tflops(p, g),
            }
        )
    return pd.DataFrame(rows).set_index("gpu")


def sustained_caption(p) -> str:
    """One sentence quoting the sustained TFLOPS of each GPU."""
    t = sustained_table(p)
    parts = [
        f"{g} {row['sustained_fp16_fp32acc_tflops']:.0f} of {row['peak_fp16_fp32acc_tflops']:.0f} TFLOPS"
        for g, row in t.iterrows()
    ]
    return "Sustained dense FP16 throughput (FP32 accumulate): " + "; ".join(parts) + "."


# --- MIG ---------------------------------------------------------------------------------------


def mig_profiles(gpu_id: str) -> list[catalog.MigProfile]:
    """The catalog's MIG profiles of ``gpu_id`` (empty when MIG is not supported)."""
    return list(catalog.get_gpu(gpu_id, "gpu_id").mig_profiles)


def mig_supported(gpu_id: str) -> bool:
    """Whether the GPU can be partitioned with MIG."""
    return bool(mig_profiles(gpu_id))


def mig_profile(gpu_id: str, profile: str) -> catalog.MigProfile:
    """One MIG profile; an unknown name raises InputError naming the GPU's profiles."""
    found = {m.profile: m for m in mig_profiles(gpu_id)}
    if profile not in found:
        raise unknown(f"MIG profile of {gpu_id}", "profile", profile, found or ["(none)"])
    return found[profile]


def mig_sm_count(gpu_id: str, profile: str) -> int | None:
    """SMs of one MIG profile where ``data/reliability.yaml`` has them, else None."""
    mig_profile(gpu_id, profile)
    for m in data().mig_sm_counts:
        if m.gpu == gpu_id and m.profile == profile:
            return m.sm_count
    return None


def mig_peak_tflops(gpu_id: str, profile: str) -> float | None:
    """Dense FP16 tensor peak of one MIG instance = GPU peak x instance SMs / GPU SMs (None if SMs unknown)."""
    sms = mig_sm_count(gpu_id, profile)
    if sms is None:
        return None
    gpu = catalog.get_gpu(gpu_id)
    return gpu.spec(PEAK_FIELD) * sms / gpu.spec("sm_count")


def with_memory_gib(gpu: catalog.Gpu, memory_gib: float) -> catalog.Gpu:
    """A copy of ``gpu`` whose memory is ``memory_gib`` (a MIG slice as seen by the memory formulas)."""
    _check_nonnegative("memory_gib", memory_gib)
    spec = gpu.specs.memory_gib.model_copy(update={"value": memory_gib})
    return gpu.model_copy(update={"specs": gpu.specs.model_copy(update={"memory_gib": spec})})


def max_batch_in_budget(
    model_id: str,
    weights: str,
    kv: str,
    context_tokens: int,
    memory_gib: float,
    ov: memory.Overheads,
    gpu_id: str = "h100-sxm",
) -> int:
    """Largest batch that fits ``memory_gib`` GiB: :func:`gpucompare.memory.max_batch` (usable = GiB x
    gpu_memory_utilization - activation reserve) on ``gpu_id`` with its memory replaced by the budget."""
    model = catalog.get_model(model_id)
    gpu = with_memory_gib(catalog.get_gpu(gpu_id, "gpu_id"), memory_gib)
    return memory.max_batch(model, weights, kv, context_tokens, gpu, ov)


def cost_per_tenant_usd(p, gpu_id: str, profile: str) -> float:
    """GPU price (``p.price_of``) / instances of the profile that fit on one GPU."""
    return p.price_of(gpu_id) / mig_profile(gpu_id, profile).instances_max


def mig_support_table(p) -> pd.DataFrame:
    """Per GPU: MIG instances (max) or 'not supported', and the number of profiles."""
    rows = []
    for g in p.gpus:
        profs = mig_profiles(g)
        rows.append(
            {
                "gpu": g,
                "mig": f"up to {max(m.instances_max for m in profs)} instances"
                if profs
                else "not supported",
                "profiles": ", ".join(m.profile for m in profs) if profs else "not supported",
            }
        )
    return pd.DataFrame(rows).set_index("gpu")


def mig_support_caption(p) -> str:
    """One sentence naming the chosen GPUs with and without MIG."""
    yes = [g for g in p.gpus if mig_supported(g)]
    no = [g for g in p.gpus if not mig_supported(g)]
    return (
        f"MIG partitions {', '.join(yes) or 'none of the chosen GPUs'}; "
        f"{', '.join(no) or 'no chosen GPU'} cannot be partitioned and serves tenants only without isolation."
    )


def mig_profile_table(p) -> pd.DataFrame:
    """Each MIG profile of the chosen GPUs: instances, memory, SMs and peak per instance, cost per tenant."""
    rows = []
    for g in p.gpus:
        for m in mig_profiles(g):
            rows.append(
                {
                    "gpu": g,
                    "profile": m.profile,
                    "instances_max": m.instances_max,
                    "memory_gib": m.memory_gib,
                    "sm_count": mig_sm_count(g, m.profile),
                    "sm_share_of_gpu": (
                        None
                        if mig_sm_count(g, m.profile) is None
                        else mig_sm_count(g, m.profile) / catalog.get_gpu(g).spec("sm_count")
                    ),
                    "peak_fp16_tflops": mig_peak_tflops(g, m.profile),
                    "cost_per_tenant_usd": cost_per_tenant_usd(p, g, m.profile),
                }
            )
    if not rows:
        return pd.DataFrame(
            columns=[
                "gpu",
                "profile",
                "instances_max",
                "memory_gib",
                "sm_count",
                "sm_share_of_gpu",
                "peak_fp16_tflops",
                "cost_per_tenant_usd",
            ]
        ).set_index(["gpu", "profile"])
    return pd.DataFrame(rows).set_index(["gpu", "profile"]).astype(object).replace({np.nan: None})


def mig_profile_caption(p) -> str:
    """One sentence on the smallest slice of each MIG-capable GPU: its share of the SMs and its cost."""
    t = mig_profile_table(p)
    parts = []
    for g in p.gpus:
        if not mig_supported(g):
            parts.append(f"{g}: MIG not supported")
            continue
        small = min(mig_profiles(g), key=lambda m: (m.memory_gib, -m.instances_max))
        row = t.loc[(g, small.profile)]
        share = (
            f", {row['sm_share_of_gpu']:.1%} of the SMs ({row['peak_fp16_tflops']:.0f} TFLOPS peak)"
            if row["sm_share_of_gpu"] is not None
            else ""
        )
        parts.append(
            f"{g} {small.profile}: {small.instances_max} per GPU at ${row['cost_per_tenant_usd']:,.0f} each{share}"
        )
    return "Smallest MIG slices: " + "; ".join(parts) + "."


def mig_fit_table(p) -> pd.DataFrame:
    """Max batch at ``mig_context_tokens`` (KV at ``mig_kv_cache``) of every model x weight precision in
    every MIG profile of the chosen GPUs (0 = does not fit); GPUs without MIG are left out."""
    ov = memory.Overheads.from_params(p)
    cols = {}
    for g in p.gpus:
        for m in mig_profiles(g):
            cols[f"{g} {m.profile}"] = (g, m)
    rows = []
    for mid in catalog.model_ids():
        for prec in p.mig_weight_precisions:
            row = {"model": mid, "weights": prec}
            for name, (g, m) in cols.items():
                row[name] = max_batch_in_budget(
                    mid, prec, p.mig_kv_cache, p.mig_context_tokens, m.memory_gib, ov, g
                )
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "weights"])


def mig_fit_caption(p) -> str:
    """One sentence: for the catalog's first model at int4 (or the first precision), the batch per slice."""
    t = mig_fit_table(p)
    if t.shape[1] == 0:
        return "None of the chosen GPUs supports MIG."
    model = catalog.model_ids()[0]
    prec = "int4" if "int4" in p.mig_weight_precisions else p.mig_weight_precisions[0]
    row = t.loc[(model, prec)]
    parts = [f"{col} {int(v)}" for col, v in row.items()]
    return (
        f"Sequences of {p.mig_context_tokens:,} tokens of {model} with {prec} weights per slice: "
        + ", ".join(parts)
        + " (0 = not even one sequence fits)."
    )


def tenants(p, gpu_id: str, model_id: str, weights: str) -> tuple[int, str | None]:
    """Most tenants of one model on one GPU: the largest instances_max among profiles where at least one
    sequence of ``mig_context_tokens`` fits (ties: the smaller slice), and that profile; (0, None) if none."""
    ov = memory.Overheads.from_params(p)
    best: tuple[int, str | None] = (0, None)
    for m in sorted(mig_profiles(gpu_id), key=lambda m: (m.memory_gib, m.profile)):
        fits = (
            max_batch_in_budget(
                model_id, weights, p.mig_kv_cache, p.mig_context_tokens, m.memory_gib, ov, gpu_id
            )
            >= 1
        )
        if fits and m.instances_max > best[0]:
            best = (m.instances_max, m.profile)
    return best


def tenants_table(p) -> pd.DataFrame:
    """Per model x weight precision: weights (GB) and, per chosen GPU, tenants per GPU, the profile and the
    cost per tenant (USD); 'not supported' for GPUs without MIG."""
    rows = []
    for mid in catalog.model_ids():
        model = catalog.get_model(mid)
        for prec in p.mig_weight_precisions:
            row = {
                "model": mid,
                "weights": prec,
                "weights_gb": memory.weights_bytes(model, prec) / units.BYTES_PER_GB,
            }
            for g in p.gpus:
                if not mig_supported(g):
                    row[f"{g} tenants"] = "not supported"
                    row[f"{g} profile"] = "not supported"
                    row[f"{g} cost_per_tenant_usd"] = "not supported"
                    continue
                n, prof = tenants(p, g, mid, prec)
                row[f"{g} tenants"] = n
                row[f"{g} profile"] = prof
                row[f"{g} cost_per_tenant_usd"] = p.price_of(g) / n if n else None
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "weights"]).astype(object).replace({np.nan: None})


def tenants_caption(p) -> str:
    """One sentence: how many model-precision pairs run 7 (or the most) tenants per GPU."""
    t = tenants_table(p)
    parts = []
    for g in p.gpus:
        if not mig_supported(g):
            parts.append(f"{g}: MIG not supported")
            continue
        most = max(m.instances_max for m in mig_profiles(g))
        col = t[f"{g} tenants"]
        parts.append(
            f"{g}: {int((col == most).sum())} of {len(t)} model-precision pairs run {most} isolated tenants, "
            f"{int((col == 0).sum())} fit no slice"
        )
    return (
        f"At {p.mig_context_tokens:,} tokens per sequence (KV {p.mig_kv_cache}), one sequence per tenant: "
        + "; ".join(parts)
        + "."
    )


def tenants_figure(p):
    """Tenants per GPU against weights (GB, log axis): one colour per MIG-capable chosen GPU, one marker
    per weight precision, one point per model."""
    fig, ax = new(
        f"Isolated tenants per GPU (MIG, {p.mig_context_tokens:,}-token context, KV {p.mig_kv_cache})",
        "model weights (GB, log scale)",
        "tenants per GPU (MIG instances)",
    )
    t = tenants_table(p)
    markers = ["o", "s", "^", "D", "v", "P"]
    drawn = 0
    for i, g in enumerate(p.gpus):
        if not mig_supported(g):
            continue
        for j, prec in enumerate(p.mig_weight_precisions):
            rows = t.xs(prec, level="weights")
            ax.scatter(
                rows["weights_gb"].astype(float),
                rows[f"{g} tenants"].astype(float),
                color=colour(i),
                marker=markers[j % len(markers)],
                label=f"{g}, {prec} weights",
            )
        drawn += 1
    ax.set_xscale("log")
    if drawn:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no chosen GPU supports MIG", transform=ax.transAxes, ha="center")
    return fig


# --- Claims audit ------------------------------------------------------------------------------


def _per_year(value: float, per: str) -> float:
    """A rate "per ``per``" (year or month) as a rate per year."""
    if per == "year":
        return float(value)
    if per == "month":
        return float(value) * units.MONTHS_PER_YEAR
    raise unknown("rate period", "check.per", per, ["month", "year"])


def _within_factor(a: float, b: float, factor: float) -> bool:
    return a > 0 and b > 0 and max(a / b, b / a) <= factor


def _default_p():
    from gpucompare import params

    return params.validate(params.defaults_dict(), str(params.default_file()))


def _check_error_rate(c):
    """A claimed error rate against field data: ``per_gb`` rates against the default correctable study,
    ``per_gpu`` rates against ``check.field_study``; not comparable (no study of that memory) -> unverifiable."""
    from gpucompare.audit import Finding

    chk = c.check
    claimed = _per_year(c.value, chk.get("per", "year"))
    if chk["basis"] == "per_gb":
        study = field_study(data().defaults.correctable)
        field = study_per_gb_year(study)
        unit = "errors per GB-year"
    elif chk["basis"] == "per_gpu":
        study = field_study(chk["field_study"])
        field = study_per_device_year(study)
        unit = "per GPU-year"
    else:
        raise unknown("rate basis", "check.basis", chk["basis"], ["per_gb", "per_gpu"])
    ratio = claimed / field
    what = f"the article's {claimed:g} {unit} is {ratio:.2f}x the {study.label} ({field:.3g})"
    if not chk.get("comparable", True):
        lo = min(study_per_gb_year(s) for s in data().field_studies if s.kind == "correctable")
        hi = max(study_per_gb_year(s) for s in data().field_studies if s.kind == "correctable")
        return Finding(
            field,
            "unverifiable",
            f"{what}; no field study of this memory was found: published correctable rates span "
            f"{lo:.2f} to {hi:,.0f} per GB-year, and the consumer-GPU study (Haque & Pande 2010) gives no per-GB rate. "
            + chk.get("why", ""),
        )
    verdict = "ok" if _within_factor(claimed, field, FIELD_RATE_FACTOR) else "wrong"
    return Finding(
        field, verdict, what + f" (agreement within {FIELD_RATE_FACTOR:g}x counts as ok)"
    )


def _check_error_count(c):
    """An expected error count: the article's own rate x memory x GPUs x duration (its arithmetic), then
    the field model for the same GPU (ECC state at the defaults) to judge the premise."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    years = duration_years(chk["duration"], chk["duration_unit"])
    own = _per_year(chk["rate"], chk.get("per", "year")) * chk["memory_gb"] * chk["gpus"] * years
    p = _default_p()
    r = error_rates_per_gpu_year(p, chk["gpu"])
    field = r[chk["outcome"]] * chk["gpus"] * years
    if relative_verdict(float(c.value), own, ARITHMETIC_TOLERANCE) != "ok":
        return Finding(
            field,
            "wrong",
            f"its own inputs give {own:,.0f}, not {c.value:,}: the printed figure is {c.value / own:.1f}x its arithmetic; "
            f"the field model gives {field:,.0f}",
        )
    why = f"follows from its own rate ({own:,.0f}); the field model gives {field:,.0f}"
    if not _within_factor(float(c.value), field, FIELD_RATE_FACTOR):
        extra = chk.get("why", "")
        return Finding(
            field,
            "misleading",
            why + f", {c.value / field:.0f}x less" + (f"; {extra}" if extra else ""),
        )
    return Finding(field, "ok", why)


def _check_sustained(c):
    """A claimed sustained / peak fraction against the measured fraction of the same GPU."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    ms = [m for m in data().sustained_measurements if m.gpu == chk["gpu"]]
    if not ms:
        raise InputError(f"claim {c.id}: no sustained measurement for GPU '{chk['gpu']}'")
    best = max(measured_fraction(m) for m in ms)
    gpu = catalog.get_gpu(chk["gpu"])
    if not chk.get("comparable", True):
        peak = gpu.spec(chk["rated_field"])
        measured = max(m.measured_tflops for m in ms)
        return Finding(
            None,
            "unverifiable",
            f"its rated {c.check['rated_tflops']:g} TFLOPS is {chk['gpu']}'s {chk['rated_field']} ({peak:g}); "
            f"no public sustained measurement of that mode was found. Frameworks' FP16 GEMMs accumulate in FP32 "
            f"and measure up to {measured:g} TFLOPS, {best:.0%} of the {gpu.spec(PEAK_FIELD):g} TFLOPS FP32-accumulate peak "
            f"({measured / peak:.0%} of {peak:g}). " + chk.get("why", ""),
        )
    verdict = relative_verdict(float(c.value), best, FIGURE_TOLERANCE)
    return Finding(
        best,
        verdict,
        f"the best published large-matmul measurement reaches {best:.1%} of the dense peak "
        f"({', '.join(f'{m.measured_tflops:g} TFLOPS ({m.source})' for m in ms)}); the article claims {c.value:.0%}",
    )


def _check_mig(c):
    """A MIG figure recomputed from the catalog's profiles, the SM counts and the memory formulas."""
    from gpucompare.audit import Finding, relative_verdict

    chk = c.check
    g, prof = chk["gpu"], chk["profile"]
    m = mig_profile(g, prof)
    q = chk["quantity"]
    gpu = catalog.get_gpu(g)
    if q == "instances":
        computed = m.instances_max
        why = f"the MIG user guide lists {computed} x {prof}"
    elif q == "memory_gb":
        computed = m.memory_gib
        why = f"{prof} has {computed:g} GiB nominal ({units.gib_to_gb(computed):.2f} GB)"
    elif q == "compute_fraction":
        computed = mig_sm_count(g, prof) / gpu.spec("sm_count")
        verdict = relative_verdict(float(c.value), computed, FIGURE_TOLERANCE)
        return Finding(
            computed,
            "misleading" if verdict != "ok" else "ok",
            f"{prof} is 1 of 7 compute slices, but a slice has {mig_sm_count(g, prof)} of the {gpu.spec('sm_count')} SMs "
            f"({computed:.1%}); the seven slices together use {7 * mig_sm_count(g, prof)} SMs",
        )
    elif q == "peak_tflops":
        computed = mig_peak_tflops(g, prof)
        why = (
            f"{mig_sm_count(g, prof)} of {gpu.spec('sm_count')} SMs x {gpu.spec(PEAK_FIELD):g} TFLOPS = {computed:.1f} "
            f"TFLOPS dense FP16; the article divides the whole GPU by 7 ({gpu.spec(PEAK_FIELD) / 7:.1f})"
        )
    elif q == "cost_per_tenant_usd":
        computed = gpu.price.value_usd / m.instances_max
        why = f"catalog price {gpu.price.value_usd:,.0f} USD / {m.instances_max} instances"
    elif q == "weights_gb":
        computed = (
            memory.weights_bytes(catalog.get_model(chk["model"]), chk["weights"])
            / units.BYTES_PER_GB
        )
        why = f"{chk['model']} {chk['weights']} weights are {computed:.2f} GB"
    elif q == "need_gb":
        p = _default_p()
        ov = memory.Overheads.from_params(p)
        usable = (
            memory.usable_bytes(
                with_memory_gib(gpu, m.memory_gib),
                ov.gpu_memory_utilization,
                ov.activation_reserve_gib,
            )
            / units.BYTES_PER_GB
        )
        batch = max_batch_in_budget(
            chk["model"], chk["weights"], chk["kv"], chk["context_tokens"], m.memory_gib, ov, g
        )
        verdict = "ok" if float(c.value) <= usable else "wrong"
        return Finding(
            usable,
            verdict,
            f"{c.value:g} GB per instance against {usable:.2f} GB usable in {prof} (capacity x "
            f"{ov.gpu_memory_utilization:g} - {ov.activation_reserve_gib:g} GiB); at {chk['context_tokens']:,} tokens "
            f"a slice holds {batch} sequence(s) of {chk['model']} {chk['weights']}",
        )
    else:
        raise unknown(
            "MIG quantity",
            "check.quantity",
            q,
            [
                "compute_fraction",
                "cost_per_tenant_usd",
                "instances",
                "memory_gb",
                "need_gb",
                "peak_tflops",
                "weights_gb",
            ],
        )
    return Finding(computed, relative_verdict(float(c.value), computed, FIGURE_TOLERANCE), why)


CLAIM_CHECKS = {
    "error_rate": _check_error_rate,
    "error_count": _check_error_count,
    "sustained": _check_sustained,
    "mig": _check_mig,
}


def article_fleet_table() -> pd.DataFrame:
    """The article's error counts: what it prints, what its own rate gives, and the field model."""
    from gpucompare.data import claims

    p = _default_p()
    rows = []
    for c in claims.claims(kind="error_count"):
        chk = c.check
        years = duration_years(chk["duration"], chk["duration_unit"])
        own = (
            _per_year(chk["rate"], chk.get("per", "year")) * chk["memory_gb"] * chk["gpus"] * years
        )
        field = error_rates_per_gpu_year(p, chk["gpu"])[chk["outcome"]] * chk["gpus"] * years
        rows.append(
            {
                "claim": c.id,
                "gpu": chk["gpu"],
                "gpus": chk["gpus"],
                "duration": f"{chk['duration']:g} {chk['duration_unit']}",
                "article": c.value,
                "article's own rate gives": own,
                "article / own arithmetic": c.value / own,
                "field model": field,
                "article / field model": c.value / field if field else None,
            }
        )
    return pd.DataFrame(rows).set_index("claim").replace({np.nan: None})


def article_fleet_caption() -> str:
    """One sentence naming the counts that contradict the article's own rate and those whose rate the
    field model does not support (more than ``FIELD_RATE_FACTOR`` apart)."""
    t = article_fleet_table()
    own_off = (t["article / own arithmetic"] - 1).abs() > ARITHMETIC_TOLERANCE
    ratio = t["article / field model"].astype(float)
    field_off = ~own_off & ((ratio > FIELD_RATE_FACTOR) | (ratio < 1 / FIELD_RATE_FACTOR))

    def names(mask, col):
        return ", ".join(f"{i} ({t.loc[i, col]:.0f}x)" for i in t.index[mask]) or "none"

    return (
        f"{int(own_off.sum())} of the article's {len(t)} error counts contradict its own rate "
        f"({names(own_off, 'article / own arithmetic')}); {int(field_off.sum())} follow from it but exceed the "
        f"field model by more than {FIELD_RATE_FACTOR:g}x ({names(field_off, 'article / field model')})."
    )


def claims_table() -> pd.DataFrame:
    """The audit of this section's claims: the article's figure, the recomputation, verdict and why."""
    from gpucompare import audit

    t = audit.audit_table("reliability")
    return t[["claim", "seed_value", "computed_value", "unit", "verdict", "explanation"]].replace(
        {np.nan: None}
    )


def claims_caption() -> str:
    """One sentence counting the verdicts of this section's claims."""
    t = claims_table()
    counts = t["verdict"].value_counts()
    parts = [f"{int(counts.get(v, 0))} {v}" for v in ("ok", "wrong", "misleading", "unverifiable")]
    return (
        f"Of the article's {len(t)} reliability, sustained-throughput and MIG figures: "
        + ", ".join(parts)
        + "."
    )


def sources_frame() -> pd.DataFrame:
    """The sources of ``data/reliability.yaml``, one row per source (sorted by id)."""
    return catalog.sources_frame(data().sources)
