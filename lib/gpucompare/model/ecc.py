"""Memory errors with and without ECC, and their cost to training and serving.

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
"""

from __future__ import annotations

import math
import sys

import numpy as np

from gpucompare.core import units
from gpucompare.core.errors import InputError, unknown
from gpucompare.core.guards import require_nonnegative
from gpucompare.data import catalog
from gpucompare.data.reliability import FieldStudy, data, field_study
from gpucompare.params import Params

#: Requests in "per million requests".
REQUESTS_PER_MILLION = 1e6


# --- Conversions --------------------------------------------------------------------------------


def duration_years(value: float, unit: str) -> float:
    """A duration in years: days x 24 / hours per year, months / 12, or years."""
    require_nonnegative("duration", value)
    if unit == "days":
        return value * units.HOURS_PER_DAY / units.HOURS_PER_YEAR
    if unit == "months":
        return value / units.MONTHS_PER_YEAR
    if unit == "years":
        return float(value)
    raise unknown("duration unit", "unit", unit, ["days", "months", "years"])


def per_year(value: float, per: str) -> float:
    """A rate "per ``per``" (year or month) as a rate per year: value, or value x 12."""
    if per == "year":
        return float(value)
    if per == "month":
        return float(value) * units.MONTHS_PER_YEAR
    raise unknown("rate period", "check.per", per, ["month", "year"])


def fit_per_mbit_to_per_gb_year(fit_per_mbit: float) -> float:
    """Errors per GB-year from FIT/Mbit: FIT / 1e9 device-hours x (8e9 bits / 2**20 bits) x hours per year.

    25,000 FIT/Mbit (Schroeder et al. 2009, low end) = 1,670.8 errors per GB-year."""
    require_nonnegative("fit_per_mbit", fit_per_mbit)
    mbit_per_gb = units.BITS_PER_BYTE * units.BYTES_PER_GB / units.BITS_PER_MBIT
    return fit_per_mbit / units.DEVICE_HOURS_PER_FIT * mbit_per_gb * units.HOURS_PER_YEAR


# --- Field studies ------------------------------------------------------------------------------


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


# --- The Poisson model ----------------------------------------------------------------------------


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
        require_nonnegative(name, v)
    return errors_per_gb_year * memory_gb * devices * years


def p_at_least_one(lam: float) -> float:
    """P(N >= 1) = 1 - exp(-lambda) for a Poisson count of mean lambda."""
    require_nonnegative("lambda", lam)
    return -math.expm1(-lam)


def poisson_pmf(k: int, lam: float) -> float:
    """P(N = k) = exp(-lambda) lambda^k / k!, computed in logs so large k and lambda do not overflow."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise InputError(f"k: must be an integer >= 0 (got {k!r})")
    require_nonnegative("lambda", lam)
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


def ecc_active(p: Params, gpu_id: str) -> bool:
    """ECC protects the memory: the GPU has ECC, and on a consumer card (where it is an opt-in driver
    mode, off by default) only if ``consumer_ecc_enabled``."""
    gpu = catalog.get_gpu(gpu_id)
    if not gpu.spec("ecc"):
        return False
    return gpu.segment != "consumer" or p.consumer_ecc_enabled


def error_rates_per_gpu_year(p: Params, gpu_id: str) -> dict[str, float]:
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


def rollback_rate_per_gpu_year(p: Params, gpu_id: str) -> float:
    """Errors per GPU-year that force a training rollback: detected uncorrectable errors with ECC; without
    ECC every error, on the optimistic assumption that each silent corruption is noticed (e.g. by a loss
    spike) and rolled back."""
    r = error_rates_per_gpu_year(p, gpu_id)
    return r["uncorrectable"] + r["silent"]


# --- Training and serving --------------------------------------------------------------------------

#: log of the largest float (about 709.78): exp() of more overflows.
_LOG_FLOAT_MAX = math.log(sys.float_info.max)
#: Below this, (exp(x) - 1) / x is computed directly; above, in logs.
_DIRECT_EXP_MAX = 700.0


def rollback_overhead_factor(job_events_per_hour: float, checkpoint_interval_hours: float) -> float:
    """Expected wall-clock hours per useful hour: (exp(L tau) - 1) / (L tau), 1 when L = 0, and
    infinite when it exceeds the largest float (the run never finishes)."""
    require_nonnegative("job_events_per_hour", job_events_per_hour)
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
    require_nonnegative("gpus", gpus)
    require_nonnegative("useful_hours", useful_hours)
    factor = rollback_overhead_factor(job_events_per_hour, checkpoint_interval_hours)
    return gpus * useful_hours * (factor - 1)


def corrupted_per_million(errors_per_gpu_year: float, request_duration_s: float) -> float:
    """Requests per million hit by an error while on the GPU: 1e6 x (1 - exp(-lambda_s T))."""
    per_s = errors_per_gpu_year / (units.HOURS_PER_YEAR * units.SECONDS_PER_HOUR)
    return REQUESTS_PER_MILLION * p_at_least_one(per_s * request_duration_s)
