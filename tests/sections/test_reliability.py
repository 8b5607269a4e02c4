"""Reliability section's tables and captions: field studies, the training run and serving by hand,
the article's error counts, and the section's parameters."""

from __future__ import annotations

import math

import pytest

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.sections import reliability

GIB_IN_GB = 2**30 / 1e9  # 1.073741824


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


def test_field_study_table_by_hand():
    t = reliability.field_studies().frame
    assert t.loc["schroeder-2009-high", "errors_per_gb_year"] == pytest.approx(
        70_000e-9 * 8e9 / 2**20 * 8760
    )


def test_training_run_by_hand(p):
    t = reliability.training(p).frame
    years = 90 * 24 / 8760
    # 1,000 H100s x 90 days: 43.809 x 1,000 x 0.24658 = 10,802 errors.
    assert t.loc["h100-sxm", "expected_errors"] == pytest.approx(
        0.51 * 80 * GIB_IN_GB * 1000 * years
    )
    # 1,000 RTX 4090s: 3,241 silent errors; P(at least one) is 1 to double precision.
    assert t.loc["rtx-4090", "expected_silent"] == pytest.approx(3240.64, abs=0.01)
    assert t.loc["rtx-4090", "p_at_least_one_silent"] == pytest.approx(1.0)
    # H100 rollbacks: L = 0.031980 x 1,000 / 8,760 per hour; waste = 1,000 x 2,160 h x ((e^L - 1)/L - 1),
    # slightly above the first-order events x tau/2 x GPUs = 7.886 x 0.5 x 1,000 = 3,943 GPU-hours.
    lam = 0.51 * 80 * GIB_IN_GB * 0.00073 * 1000 / 8760
    exact = 1000 * 2160 * (math.expm1(lam) / lam - 1)
    assert t.loc["h100-sxm", "wasted_gpu_hours"] == pytest.approx(exact)
    first_order = lam * 2160 * 0.5 * 1000
    assert first_order < exact < first_order * 1.005


def test_training_run_that_never_finishes(p):
    """Rollbacks faster than checkpoints: infinite waste and a caption that says so."""
    q = params.make(
        checkpoint_interval_hours=1000.0
    )  # about 1,500 rollbacks per interval on a 4090
    shown = reliability.training(q)
    t = shown.frame
    assert math.isinf(t.loc["rtx-4090", "wasted_gpu_hours"])
    assert t["p_at_least_one_silent"].between(0, 1).all()
    assert "never finishes" in shown.caption


def test_probability_caption_without_errors():
    q = params.make(dram_errors_per_gb_year=0.0)
    assert "no silent error" in reliability.silent_error_probability(q).caption


def test_serving_by_hand(p):
    t = reliability.serving(p).frame
    # RTX 4090: 13.1426 per year / 31,536,000 s = 4.1675e-7 per s; x 10 s x 1e6 = 4.1675 per million.
    assert t.loc["rtx-4090", "corrupted_per_million_requests"] == pytest.approx(4.1675, abs=1e-4)
    # 10 requests/s x 86,400 s = 864,000 requests a day: 3.6007 corrupted.
    assert t.loc["rtx-4090", "corrupted_requests_per_gpu_day"] == pytest.approx(3.6007, abs=1e-3)
    assert t.loc["h100-sxm", "corrupted_per_million_requests"] == 0.0
    assert t.loc["h100-sxm", "failed_per_million_requests"] == pytest.approx(
        0.51 * 80 * GIB_IN_GB * 0.00073 / 31_536_000 * 10 * 1e6, rel=1e-6
    )


def test_article_fleet_arithmetic():
    t = reliability.article_error_counts().frame
    assert t.loc["rel-fleet-h100-correctable", "article's own rate gives"] == pytest.approx(20_000)
    assert t.loc["rel-fleet-h100-correctable", "article / own arithmetic"] == pytest.approx(4.0)
    assert t.loc["rel-fleet-4090-silent", "article's own rate gives"] == pytest.approx(72_000)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("uncorrectable_fraction", 1.5),
        ("dram_errors_per_gb_year", -1.0),
        ("sustained_fraction_consumer", 0.0),
        ("checkpoint_interval_hours", 0.0),
        ("mig_kv_cache", "fp4"),
        ("training_gpus", 0),
    ],
)
def test_bad_parameters(key, value):
    with pytest.raises(InputError, match=key):
        params.make(**{key: value})
