"""The reliability notebook's results (``notebooks/05_reliability.ipynb``): memory errors with and
without ECC and their cost to training and serving, sustained against peak throughput, MIG slices as
tenants, the article's claims and the sources. Each public function returns one ready
:class:`~gpucompare.sections.display.Table` or :class:`~gpucompare.sections.display.Figure`; the
formulas live in :mod:`gpucompare.model.ecc`, :mod:`gpucompare.model.sustained` and
:mod:`gpucompare.model.mig`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gpucompare.audit.reliability import ARITHMETIC_TOLERANCE, FIELD_RATE_FACTOR, default_params
from gpucompare.core import units
from gpucompare.data import catalog, claims
from gpucompare.data import reliability as reliability_data
from gpucompare.model.ecc import (
    REQUESTS_PER_MILLION,
    corrupted_per_million,
    duration_years,
    ecc_active,
    error_rates_per_gpu_year,
    field_errors_per_gb_year,
    field_uncorrectable_fraction,
    memory_gb,
    p_at_least_one,
    per_year,
    rollback_overhead_factor,
    rollback_rate_per_gpu_year,
    study_per_device_year,
    study_per_gb_year,
    wasted_gpu_hours,
)
from gpucompare.model.sustained import (
    PEAK_FIELD,
    measured_fraction,
    segment_measured_fraction,
    sustained_fraction,
    sustained_tflops,
)
from gpucompare.params import Params
from gpucompare.sections import display, verdicts
from gpucompare.sections.figures import legend, new, series
from gpucompare.sections.prose import fmt_range

# --- Field studies and the error model ------------------------------------------------------------


def _field_study_frame() -> pd.DataFrame:
    """Each field study as published and converted to errors per GB-year (and per device-year)."""
    rows = []
    for s in reliability_data.data().field_studies:
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


def field_studies() -> display.Table:
    """Published field studies in errors per GB-year; the caption: the spread of the correctable rates
    and the defaults taken from them."""
    t = _field_study_frame()
    corr = t[t["kind"] == "correctable"]["errors_per_gb_year"]
    caption = (
        f"Correctable-error rates span {fmt_range(corr.min(), corr.max(), 'errors per GB-year', ',.3g')} "
        f"({corr.max() / corr.min():,.0f}x), depending on the fleet and on whether a few faulty parts are "
        f"counted; the default is the GPU fleet without its outliers, {field_errors_per_gb_year():.2f} per GB-year, "
        f"with {field_uncorrectable_fraction():.2e} of errors uncorrectable."
    )
    return display.table(
        t,
        "memory_error_field_studies",
        caption,
        errors_per_gb_year=4,
        errors_per_device_year=4,
    )


def _error_model_frame(p: Params) -> pd.DataFrame:
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


def errors_per_gpu(p: Params) -> display.Table:
    """Errors per GPU-year by outcome; the caption: what becomes of them on each GPU."""
    t = _error_model_frame(p)
    parts = []
    for g, row in t.iterrows():
        fate = (
            f"{row['detected_uncorrectable_per_gpu_year']:.3f} of them uncorrectable"
            if row["ecc_active"]
            else "all of them silent (no ECC)"
        )
        parts.append(f"{g} {row['errors_per_gpu_year']:.1f} per year, {fate}")
    caption = f"At {p.dram_errors_per_gb_year:g} errors per GB-year: " + "; ".join(parts) + "."
    return display.table(t, "memory_errors_per_gpu", caption, detected_uncorrectable_per_gpu_year=4)


def _article_fleet_frame() -> pd.DataFrame:
    """The article's error counts: what it prints, what its own rate gives, and the field model."""
    p = default_params()
    rows = []
    for c in claims.claims(kind="error_count"):
        chk = c.check
        years = duration_years(chk["duration"], chk["duration_unit"])
        own = per_year(chk["rate"], chk.get("per", "year")) * chk["memory_gb"] * chk["gpus"] * years
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


def article_error_counts() -> display.Table:
    """The article's error counts recomputed; the caption names the counts that contradict its own rate
    and those the field model does not support (more than ``FIELD_RATE_FACTOR`` apart)."""
    t = _article_fleet_frame()
    own_off = (t["article / own arithmetic"] - 1).abs() > ARITHMETIC_TOLERANCE
    ratio = t["article / field model"].astype(float)
    field_off = ~own_off & ((ratio > FIELD_RATE_FACTOR) | (ratio < 1 / FIELD_RATE_FACTOR))

    def names(mask, col):
        return ", ".join(f"{i} ({t.loc[i, col]:.0f}x)" for i in t.index[mask]) or "none"

    caption = (
        f"{int(own_off.sum())} of the article's {len(t)} error counts contradict its own rate "
        f"({names(own_off, 'article / own arithmetic')}); {int(field_off.sum())} follow from it but exceed the "
        f"field model by more than {FIELD_RATE_FACTOR:g}x ({names(field_off, 'article / field model')})."
    )
    return display.table(t, "article_error_counts", caption)


# --- Training and serving ---------------------------------------------------------------------------


def _training_frame(p: Params) -> pd.DataFrame:
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


def training(p: Params) -> display.Table:
    """The training run's memory errors; the caption: silent corruptions and rollback cost per GPU."""
    t = _training_frame(p)
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
    caption = (
        f"{p.training_gpus:,} GPUs for {p.training_days:g} days, checkpoints every "
        f"{p.checkpoint_interval_hours:g} h: " + "; ".join(parts) + "."
    )
    return display.table(
        t,
        "training_memory_errors",
        caption,
        p_at_least_one_silent=4,
        p_at_least_one_uncorrectable=4,
        wasted_fraction=4,
    )


def _probability_caption(p: Params, g: str) -> str:
    """One sentence: the days until a silent error on ``g`` is more likely than not, for one GPU and for
    the fleet."""
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


def silent_error_probability(p: Params) -> display.Figure:
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
            label=f"{n:,} GPU{'s' if n > 1 else ''}",
            **series(i, markers=False),
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    legend(ax, loc="upper left")
    return display.figure(fig, "silent_error_probability", _probability_caption(p, g))


def _serving_frame(p: Params) -> pd.DataFrame:
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


def serving(p: Params) -> display.Table:
    """Silent and failed requests; the caption: corrupted requests per million on each GPU."""
    t = _serving_frame(p)
    parts = [
        f"{g} {row['corrupted_per_million_requests']:.2f} silently corrupted and "
        f"{row['failed_per_million_requests']:.4f} failed"
        for g, row in t.iterrows()
    ]
    caption = (
        f"Per million requests of {p.request_duration_s:g} s: "
        + "; ".join(parts)
        + " (upper bounds: "
        "every error is counted as hitting a request in flight)."
    )
    return display.table(
        t,
        "serving_memory_errors",
        caption,
        failed_per_million_requests=4,
        failed_requests_per_gpu_day=4,
    )


# --- Sustained against peak throughput ---------------------------------------------------------


def _measurement_frame() -> pd.DataFrame:
    """The measured large matmuls behind the sustained-fraction defaults."""
    rows = []
    for m in reliability_data.data().sustained_measurements:
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


def sustained_measurements() -> display.Table:
    """The measured large matmuls; the caption: the range of measured fractions per segment and the
    defaults taken from them."""
    t = _measurement_frame()
    parts = [
        f"{seg} {fmt_range(grp['measured_fraction'].min(), grp['measured_fraction'].max(), '%', '.0%')} "
        f"(default {segment_measured_fraction(seg):.2f}, the lowest)"
        for seg, grp in sorted(t.groupby("segment"), key=lambda kv: kv[0])
    ]
    caption = "Measured large matmuls reach, of their dense peak: " + "; ".join(parts) + "."
    return display.table(t, "sustained_measurements", caption, measured_fraction=3)


def sustained_throughput(p: Params) -> display.Table:
    """Per GPU: segment, datasheet peak, the sustained fraction in use and the sustained TFLOPS; the
    caption quotes the sustained TFLOPS of each GPU."""
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
    t = pd.DataFrame(rows).set_index("gpu")
    parts = [
        f"{g} {row['sustained_fp16_fp32acc_tflops']:.0f} of {row['peak_fp16_fp32acc_tflops']:.0f} TFLOPS"
        for g, row in t.iterrows()
    ]
    caption = "Sustained dense FP16 throughput (FP32 accumulate): " + "; ".join(parts) + "."
    return display.table(t, "sustained_throughput", caption)


# --- The article's claims and the sources ----------------------------------------------------------


def claims_audit() -> display.Table:
    """The audit of this section's claims (the article's figure, the recomputation, verdict and why)."""
    return verdicts.claims_table(
        ["reliability"],
        "reliability_claims",
        "reliability, sustained-throughput and MIG",
        ["claim", *verdicts.COLUMNS],
    )


def sources() -> display.Table:
    """The sources of ``data/reliability.yaml``, one row per source (sorted by id)."""
    return display.table(reliability_data.sources_frame(), "reliability_sources")
