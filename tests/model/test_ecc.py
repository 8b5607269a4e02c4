"""Memory-error formulas: Poisson probabilities against closed forms written here, field-rate conversions
by hand, the per-GPU error model, rollback and serving arithmetic, bad input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.data import reliability as reliability_data
from gpucompare.model import ecc

GIB_IN_GB = 2**30 / 1e9  # 1.073741824


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


# --- Poisson --------------------------------------------------------------------------------------


def test_p_at_least_one_against_closed_form():
    # 1 - e^-2 = 0.8646647167633873 (e^-2 = 0.1353352832366127).
    assert ecc.p_at_least_one(2.0) == pytest.approx(1 - 0.1353352832366127, rel=1e-12)
    assert ecc.p_at_least_one(0.0) == 0.0
    # Tiny lambda: 1 - e^-x = x - x^2/2 + ..., so 1e-12 within rounding (1 - exp(-x) would lose digits).
    assert ecc.p_at_least_one(1e-12) == pytest.approx(1e-12, rel=1e-9)


def test_poisson_pmf_and_small_sum_by_hand():
    lam = 1.5
    e = math.exp(-1.5)  # 0.22313016014842982
    assert ecc.poisson_pmf(0, lam) == pytest.approx(e)
    assert ecc.poisson_pmf(1, lam) == pytest.approx(1.5 * e)
    assert ecc.poisson_pmf(2, lam) == pytest.approx(1.5**2 / 2 * e)
    # P(N <= 2) = e^-1.5 (1 + 1.5 + 1.125) = 3.625 e^-1.5 = 0.80884683053805...
    assert ecc.poisson_cdf(2, lam) == pytest.approx(0.8088468305380581, rel=1e-12)
    # P(N >= 1) = 1 - P(N = 0).
    assert ecc.p_at_least_one(lam) == pytest.approx(1 - ecc.poisson_pmf(0, lam))


def test_poisson_pmf_large_arguments_stirling():
    # P(N = n) at lambda = n is about 1 / sqrt(2 pi n) (Stirling): 0.0126157 for n = 1000.
    assert ecc.poisson_pmf(1000, 1000.0) == pytest.approx(
        1 / math.sqrt(2 * math.pi * 1000), rel=1e-3
    )
    assert ecc.poisson_pmf(3, 0.0) == 0.0
    assert ecc.poisson_pmf(0, 0.0) == 1.0


@settings(max_examples=80, deadline=None)
@given(lam=st.floats(0.0, 50.0), k=st.integers(0, 40))
def test_poisson_properties(lam, k):
    assert 0.0 <= ecc.poisson_cdf(k, lam) <= 1.0 + 1e-12
    assert ecc.poisson_cdf(k + 1, lam) >= ecc.poisson_cdf(k, lam)
    assert ecc.p_at_least_one(lam + 1.0) >= ecc.p_at_least_one(lam)


def test_pmf_sums_to_one():
    assert math.fsum(ecc.poisson_pmf(k, 10.0) for k in range(80)) == pytest.approx(1.0)


# --- Field rates and conversions -------------------------------------------------------------------


def test_fit_conversion_by_hand():
    # 25,000 failures per 1e9 device-hours per Mbit; 1 GB = 8e9 bits = 7,629.39453125 Mbit (2^20 bits);
    # per GB-hour 25,000e-9 x 7,629.39453125 = 0.19073486328125; x 8,760 h = 1,670.837 per GB-year.
    assert ecc.fit_per_mbit_to_per_gb_year(25_000) == pytest.approx(1670.8374, rel=1e-6)


def test_durations():
    assert ecc.duration_years(90, "days") == pytest.approx(90 * 24 / 8760)
    assert ecc.duration_years(3, "months") == 0.25
    assert ecc.duration_years(2, "years") == 2.0


def test_titan_rates_by_hand():
    # 6,000,000 SBEs, 98% on 10 cards, 94% of the rest in device memory: 112,800 errors on
    # 18,688 GPUs x 6 GiB (6.442 GB) over 22 months (1.8333 years).
    sbe = 6_000_000 * 0.02 * 0.94 / (18_688 * 6 * GIB_IN_GB * 22 / 12)
    assert sbe == pytest.approx(0.51104, abs=1e-5)
    assert ecc.field_errors_per_gb_year() == pytest.approx(sbe)
    # 91 DBEs, 86% in device memory, over 21 months, against the SBE rate: 7.27e-4.
    dbe = 91 * 0.86 / (18_688 * 6 * GIB_IN_GB * 21 / 12)
    assert ecc.field_uncorrectable_fraction() == pytest.approx(dbe / sbe)
    assert dbe / sbe == pytest.approx(7.268e-4, rel=1e-3)


def test_parameter_defaults_are_the_field_values_rounded(p):
    assert p.dram_errors_per_gb_year == float(f"{ecc.field_errors_per_gb_year():.2g}")
    assert p.uncorrectable_fraction == float(f"{ecc.field_uncorrectable_fraction():.2g}")


def test_llama3_hbm3_interruptions_per_gpu_year():
    # 72 interruptions on 16,384 GPUs in 54 days: 72 / (16,384 x 54 / 365) = 0.029704 per GPU-year.
    s = reliability_data.field_study("llama3-h100-hbm3")
    assert ecc.study_per_device_year(s) == pytest.approx(72 / (16_384 * 54 / 365))


# --- Error model, training and serving ------------------------------------------------------------


def test_error_model_by_hand(p):
    # H100: 0.51 x 80 GiB (85.899 GB) = 43.809 errors per year, 0.00073 of them uncorrectable.
    h100 = ecc.error_rates_per_gpu_year(p, "h100-sxm")
    assert h100["raw"] == pytest.approx(0.51 * 80 * GIB_IN_GB)
    assert h100["uncorrectable"] == pytest.approx(0.51 * 80 * GIB_IN_GB * 0.00073)
    assert h100["silent"] == 0.0
    # RTX 4090 with its driver ECC mode off (default): 0.51 x 25.770 GB = 13.143, all silent.
    rtx = ecc.error_rates_per_gpu_year(p, "rtx-4090")
    assert rtx["silent"] == pytest.approx(13.1426, abs=1e-4)
    assert rtx["corrected"] == 0.0
    # With the mode on, the same errors are corrected or detected.
    on = p.model_copy(update={"consumer_ecc_enabled": True})
    assert ecc.ecc_active(on, "rtx-4090")
    assert ecc.error_rates_per_gpu_year(on, "rtx-4090")["silent"] == 0.0
    # The RTX 3090 has no ECC mode at all.
    assert not ecc.ecc_active(on, "rtx-3090")


def test_one_gpu_one_day_without_ecc(p):
    # lambda = 13.1426 / 365 = 0.036007; P = 1 - e^-0.036007 = 0.035366.
    lam = ecc.expected_errors(0.51, 24 * GIB_IN_GB, 1, 1 / 365)
    assert lam == pytest.approx(0.036007, abs=1e-6)
    assert ecc.p_at_least_one(lam) == pytest.approx(1 - math.exp(-0.036007), abs=1e-6)


def test_rollback_factor_closed_form():
    # L tau = 0.5: (e^0.5 - 1) / 0.5 = 1.2974425414002564.
    assert ecc.rollback_overhead_factor(0.5, 1.0) == pytest.approx(1.2974425414002564)
    assert ecc.rollback_overhead_factor(0.0, 1.0) == 1.0
    # Small L tau: 1 + x/2 + x^2/6.
    x = 1e-3
    assert ecc.rollback_overhead_factor(x, 1.0) == pytest.approx(1 + x / 2 + x * x / 6)
    assert ecc.wasted_gpu_hours(8, 100.0, 0.5, 1.0) == pytest.approx(8 * 100 * 0.2974425414002564)


def test_rollback_factor_never_overflows():
    # Near and past the float limit (exp(709.78)): computed in logs, then infinite, never OverflowError.
    for x in (699.0, 700.0, 701.0):  # both sides of the switch to logs agree
        assert ecc.rollback_overhead_factor(x, 1.0) == pytest.approx(
            math.exp(x - math.log(x)), rel=1e-9
        )
    assert ecc.rollback_overhead_factor(715.0, 1.0) == pytest.approx(
        math.exp(715 - math.log(715)), rel=1e-9
    )
    assert ecc.rollback_overhead_factor(1e6, 1.0) == math.inf
    assert ecc.wasted_gpu_hours(500_000, 2160.0, 1e3, 1.0) == math.inf


@settings(max_examples=60, deadline=None)
@given(x=st.floats(0.0, 1e9))
def test_rollback_factor_grows_and_stays_at_least_one(x):
    f = ecc.rollback_overhead_factor(x, 1.0)
    assert f >= 1.0
    assert ecc.rollback_overhead_factor(x * 1.5 + 1e-3, 1.0) >= f


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.0, 5.0), tau=st.floats(0.01, 24.0))
def test_rollback_waste_grows_with_interval(rate, tau):
    a = ecc.wasted_gpu_hours(10, 100.0, rate, tau)
    b = ecc.wasted_gpu_hours(10, 100.0, rate, tau * 2)
    assert a >= 0
    assert b >= a - 1e-9


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.0, 100.0),
    gb=st.floats(0.0, 200.0),
    n=st.integers(0, 10_000),
    days=st.floats(0.0, 365.0),
)
def test_expected_errors_is_linear(rate, gb, n, days):
    years = days / 365
    one = ecc.expected_errors(rate, gb, 1, years)
    assert ecc.expected_errors(rate, gb, n, years) == pytest.approx(n * one, rel=1e-12, abs=1e-12)


# --- Bad input --------------------------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(InputError, match=r"k: must be an integer >= 0"):
        ecc.poisson_pmf(-1, 1.0)
    with pytest.raises(InputError, match=r"lambda: must be >= 0"):
        ecc.p_at_least_one(-0.5)
    with pytest.raises(InputError, match=r"lambda: must be a finite number"):
        ecc.p_at_least_one(float("nan"))
    with pytest.raises(
        InputError, match=r"unit: unknown duration unit 'weeks'.*allowed: days, months, years"
    ):
        ecc.duration_years(1, "weeks")
    with pytest.raises(InputError, match=r"checkpoint_interval_hours: must be > 0"):
        ecc.rollback_overhead_factor(1.0, 0.0)
