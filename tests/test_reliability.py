"""Reliability section: Poisson probabilities against closed forms written here, field-rate conversions
by hand, rollback and serving arithmetic, sustained fractions, MIG fits, the article's claims, bad input."""

from __future__ import annotations

import math
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import audit, memory, params, reliability
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog

GIB_IN_GB = 2**30 / 1e9  # 1.073741824
OV = memory.Overheads(gpu_memory_utilization=0.9, activation_reserve_gib=1.0)


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


# --- Poisson --------------------------------------------------------------------------------------


def test_p_at_least_one_against_closed_form():
    # 1 - e^-2 = 0.8646647167633873 (e^-2 = 0.1353352832366127).
    assert reliability.p_at_least_one(2.0) == pytest.approx(1 - 0.1353352832366127, rel=1e-12)
    assert reliability.p_at_least_one(0.0) == 0.0
    # Tiny lambda: 1 - e^-x = x - x^2/2 + ..., so 1e-12 within rounding (1 - exp(-x) would lose digits).
    assert reliability.p_at_least_one(1e-12) == pytest.approx(1e-12, rel=1e-9)


def test_poisson_pmf_and_small_sum_by_hand():
    lam = 1.5
    e = math.exp(-1.5)  # 0.22313016014842982
    assert reliability.poisson_pmf(0, lam) == pytest.approx(e)
    assert reliability.poisson_pmf(1, lam) == pytest.approx(1.5 * e)
    assert reliability.poisson_pmf(2, lam) == pytest.approx(1.5**2 / 2 * e)
    # P(N <= 2) = e^-1.5 (1 + 1.5 + 1.125) = 3.625 e^-1.5 = 0.80884683053805...
    assert reliability.poisson_cdf(2, lam) == pytest.approx(0.8088468305380581, rel=1e-12)
    # P(N >= 1) = 1 - P(N = 0).
    assert reliability.p_at_least_one(lam) == pytest.approx(1 - reliability.poisson_pmf(0, lam))


def test_poisson_pmf_large_arguments_stirling():
    # P(N = n) at lambda = n is about 1 / sqrt(2 pi n) (Stirling): 0.0126157 for n = 1000.
    assert reliability.poisson_pmf(1000, 1000.0) == pytest.approx(
        1 / math.sqrt(2 * math.pi * 1000), rel=1e-3
    )
    assert reliability.poisson_pmf(3, 0.0) == 0.0
    assert reliability.poisson_pmf(0, 0.0) == 1.0


@settings(max_examples=80, deadline=None)
@given(lam=st.floats(0.0, 50.0), k=st.integers(0, 40))
def test_poisson_properties(lam, k):
    assert 0.0 <= reliability.poisson_cdf(k, lam) <= 1.0 + 1e-12
    assert reliability.poisson_cdf(k + 1, lam) >= reliability.poisson_cdf(k, lam)
    assert reliability.p_at_least_one(lam + 1.0) >= reliability.p_at_least_one(lam)


def test_pmf_sums_to_one():
    assert math.fsum(reliability.poisson_pmf(k, 10.0) for k in range(80)) == pytest.approx(1.0)


# --- Field rates and conversions -------------------------------------------------------------------


def test_fit_conversion_by_hand():
    # 25,000 failures per 1e9 device-hours per Mbit; 1 GB = 8e9 bits = 7,629.39453125 Mbit (2^20 bits);
    # per GB-hour 25,000e-9 x 7,629.39453125 = 0.19073486328125; x 8,760 h = 1,670.837 per GB-year.
    assert reliability.fit_per_mbit_to_per_gb_year(25_000) == pytest.approx(1670.8374, rel=1e-6)
    t = reliability.field_study_table()
    assert t.loc["schroeder-2009-high", "errors_per_gb_year"] == pytest.approx(
        70_000e-9 * 8e9 / 2**20 * 8760
    )


def test_durations():
    assert reliability.duration_years(90, "days") == pytest.approx(90 * 24 / 8760)
    assert reliability.duration_years(3, "months") == 0.25
    assert reliability.duration_years(2, "years") == 2.0


def test_titan_rates_by_hand():
    # 6,000,000 SBEs, 98% on 10 cards, 94% of the rest in device memory: 112,800 errors on
    # 18,688 GPUs x 6 GiB (6.442 GB) over 22 months (1.8333 years).
    sbe = 6_000_000 * 0.02 * 0.94 / (18_688 * 6 * GIB_IN_GB * 22 / 12)
    assert sbe == pytest.approx(0.51104, abs=1e-5)
    assert reliability.field_errors_per_gb_year() == pytest.approx(sbe)
    # 91 DBEs, 86% in device memory, over 21 months, against the SBE rate: 7.27e-4.
    dbe = 91 * 0.86 / (18_688 * 6 * GIB_IN_GB * 21 / 12)
    assert reliability.field_uncorrectable_fraction() == pytest.approx(dbe / sbe)
    assert dbe / sbe == pytest.approx(7.268e-4, rel=1e-3)


def test_parameter_defaults_are_the_field_values_rounded(p):
    assert p.dram_errors_per_gb_year == float(f"{reliability.field_errors_per_gb_year():.2g}")
    assert p.uncorrectable_fraction == float(f"{reliability.field_uncorrectable_fraction():.2g}")
    assert p.sustained_fraction_datacenter == round(
        reliability.segment_measured_fraction("datacenter"), 2
    )
    assert p.sustained_fraction_consumer == round(
        reliability.segment_measured_fraction("consumer"), 2
    )


def test_llama3_hbm3_interruptions_per_gpu_year():
    # 72 interruptions on 16,384 GPUs in 54 days: 72 / (16,384 x 54 / 365) = 0.029704 per GPU-year.
    s = reliability.field_study("llama3-h100-hbm3")
    assert reliability.study_per_device_year(s) == pytest.approx(72 / (16_384 * 54 / 365))


# --- Error model, training and serving ------------------------------------------------------------


def test_error_model_by_hand(p):
    # H100: 0.51 x 80 GiB (85.899 GB) = 43.809 errors per year, 0.00073 of them uncorrectable.
    h100 = reliability.error_rates_per_gpu_year(p, "h100-sxm")
    assert h100["raw"] == pytest.approx(0.51 * 80 * GIB_IN_GB)
    assert h100["uncorrectable"] == pytest.approx(0.51 * 80 * GIB_IN_GB * 0.00073)
    assert h100["silent"] == 0.0
    # RTX 4090 with its driver ECC mode off (default): 0.51 x 25.770 GB = 13.143, all silent.
    rtx = reliability.error_rates_per_gpu_year(p, "rtx-4090")
    assert rtx["silent"] == pytest.approx(13.1426, abs=1e-4)
    assert rtx["corrected"] == 0.0
    # With the mode on, the same errors are corrected or detected.
    on = p.model_copy(update={"consumer_ecc_enabled": True})
    assert reliability.ecc_active(on, "rtx-4090")
    assert reliability.error_rates_per_gpu_year(on, "rtx-4090")["silent"] == 0.0
    # The RTX 3090 has no ECC mode at all.
    assert not reliability.ecc_active(on, "rtx-3090")


def test_training_run_by_hand(p):
    t = reliability.training_table(p)
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


def test_one_gpu_one_day_without_ecc(p):
    # lambda = 13.1426 / 365 = 0.036007; P = 1 - e^-0.036007 = 0.035366.
    lam = reliability.expected_errors(0.51, 24 * GIB_IN_GB, 1, 1 / 365)
    assert lam == pytest.approx(0.036007, abs=1e-6)
    assert reliability.p_at_least_one(lam) == pytest.approx(1 - math.exp(-0.036007), abs=1e-6)


def test_rollback_factor_closed_form():
    # L tau = 0.5: (e^0.5 - 1) / 0.5 = 1.2974425414002564.
    assert reliability.rollback_overhead_factor(0.5, 1.0) == pytest.approx(1.2974425414002564)
    assert reliability.rollback_overhead_factor(0.0, 1.0) == 1.0
    # Small L tau: 1 + x/2 + x^2/6.
    x = 1e-3
    assert reliability.rollback_overhead_factor(x, 1.0) == pytest.approx(1 + x / 2 + x * x / 6)
    assert reliability.wasted_gpu_hours(8, 100.0, 0.5, 1.0) == pytest.approx(
        8 * 100 * 0.2974425414002564
    )


def test_rollback_factor_never_overflows():
    # Near and past the float limit (exp(709.78)): computed in logs, then infinite, never OverflowError.
    for x in (699.0, 700.0, 701.0):  # both sides of the switch to logs agree
        assert reliability.rollback_overhead_factor(x, 1.0) == pytest.approx(
            math.exp(x - math.log(x)), rel=1e-9
        )
    assert reliability.rollback_overhead_factor(715.0, 1.0) == pytest.approx(
        math.exp(715 - math.log(715)), rel=1e-9
    )
    assert reliability.rollback_overhead_factor(1e6, 1.0) == math.inf
    assert reliability.wasted_gpu_hours(500_000, 2160.0, 1e3, 1.0) == math.inf


@settings(max_examples=60, deadline=None)
@given(x=st.floats(0.0, 1e9))
def test_rollback_factor_grows_and_stays_at_least_one(x):
    f = reliability.rollback_overhead_factor(x, 1.0)
    assert f >= 1.0
    assert reliability.rollback_overhead_factor(x * 1.5 + 1e-3, 1.0) >= f


def test_training_run_that_never_finishes(p):
    """Rollbacks faster than checkpoints: infinite waste and a caption that says so."""
    q = params.make(
        checkpoint_interval_hours=1000.0
    )  # about 1,500 rollbacks per interval on a 4090
    t = reliability.training_table(q)
    assert math.isinf(t.loc["rtx-4090", "wasted_gpu_hours"])
    assert t["p_at_least_one_silent"].between(0, 1).all()
    assert "never finishes" in reliability.training_caption(q)


def test_probability_caption_without_errors():
    q = params.make(dram_errors_per_gb_year=0.0)
    assert "no silent error" in reliability.probability_caption(q)


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.0, 5.0), tau=st.floats(0.01, 24.0))
def test_rollback_waste_grows_with_interval(rate, tau):
    a = reliability.wasted_gpu_hours(10, 100.0, rate, tau)
    b = reliability.wasted_gpu_hours(10, 100.0, rate, tau * 2)
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
    one = reliability.expected_errors(rate, gb, 1, years)
    assert reliability.expected_errors(rate, gb, n, years) == pytest.approx(
        n * one, rel=1e-12, abs=1e-12
    )


def test_serving_by_hand(p):
    t = reliability.serving_table(p)
    # RTX 4090: 13.1426 per year / 31,536,000 s = 4.1675e-7 per s; x 10 s x 1e6 = 4.1675 per million.
    assert t.loc["rtx-4090", "corrupted_per_million_requests"] == pytest.approx(4.1675, abs=1e-4)
    # 10 requests/s x 86,400 s = 864,000 requests a day: 3.6007 corrupted.
    assert t.loc["rtx-4090", "corrupted_requests_per_gpu_day"] == pytest.approx(3.6007, abs=1e-3)
    assert t.loc["h100-sxm", "corrupted_per_million_requests"] == 0.0
    assert t.loc["h100-sxm", "failed_per_million_requests"] == pytest.approx(
        0.51 * 80 * GIB_IN_GB * 0.00073 / 31_536_000 * 10 * 1e6, rel=1e-6
    )


# --- Sustained throughput -----------------------------------------------------------------------


def test_sustained_fraction_and_tflops(p):
    assert reliability.sustained_fraction(p, "h100-sxm") == 0.80
    assert reliability.sustained_fraction(p, "rtx-4090") == 0.94
    assert reliability.sustained_tflops(p, "h100-sxm") == pytest.approx(0.80 * 989.4)
    assert reliability.sustained_tflops(p, "rtx-4090") == pytest.approx(0.94 * 165.2)
    # The measurements: 794.5 / 989.4 = 0.8030 (H100 MAMF), 155.5 / 165.2 = 0.9413 (RTX 4090).
    assert reliability.segment_measured_fraction("datacenter") == pytest.approx(794.5 / 989.4)
    assert reliability.segment_measured_fraction("consumer") == pytest.approx(155.5 / 165.2)


# --- MIG --------------------------------------------------------------------------------------------


def test_max_batch_in_a_slice_by_hand():
    # 1g.10gb: 10 GiB x 0.9 - 1 GiB = 8 GiB usable. Llama-2-7B int4: body at 4 + 20/128 bits, embeddings
    # and LM head (2 x 32,000 x 4,096) at 16 bits; KV 524,288 B/token x 4,096 tokens per sequence.
    emb = 2 * 32_000 * 4_096
    weights = (6_738_415_616 - emb) * (4 + 20 / 128) / 8 + emb * 2
    per_seq = 524_288 * 4_096
    expected = math.floor((8 * 2**30 - weights) / per_seq)
    assert expected == 2
    got = reliability.max_batch_in_budget("llama-2-7b", "int4", "fp16", 4096, 10, OV, "h100-sxm")
    assert got == expected


def test_whole_gpu_budget_equals_memory_section():
    h100 = catalog.get_gpu("h100-sxm")
    model = catalog.get_model("llama-2-7b")
    assert reliability.max_batch_in_budget(
        "llama-2-7b", "fp16", "fp16", 4096, 80, OV, "h100-sxm"
    ) == memory.max_batch(model, "fp16", "fp16", 4096, h100, OV)


def test_mig_figures_by_hand(p):
    # 16 of 132 SMs x 989.4 TFLOPS = 119.93 TFLOPS; $30,000 / 7 = $4,285.71.
    assert reliability.mig_peak_tflops("h100-sxm", "1g.10gb") == pytest.approx(989.4 * 16 / 132)
    assert reliability.cost_per_tenant_usd(p, "h100-sxm", "1g.10gb") == pytest.approx(30_000 / 7)
    cheap = p.model_copy(update={"price_usd": {"h100-sxm": 21_000.0}})
    assert reliability.cost_per_tenant_usd(cheap, "h100-sxm", "1g.10gb") == pytest.approx(3_000)
    assert reliability.mig_sm_count("h100-sxm", "1g.20gb") == 16
    assert reliability.mig_sm_count("a100-sxm-80gb", "1g.10gb") is None


def test_tenants(p):
    # int4 7B fits the 10 GiB slice (2 sequences): 7 tenants. fp16 7B (13.48 GB) needs a 20 GiB slice
    # (17 GiB usable = 18.25 GB, room for 2 sequences of 2.147 GB): 1g.20gb, 4 tenants.
    assert reliability.tenants(p, "h100-sxm", "llama-2-7b", "int4") == (7, "1g.10gb")
    assert reliability.tenants(p, "h100-sxm", "llama-2-7b", "fp16") == (4, "1g.20gb")
    # 70B fp16 (138 GB) fits no slice of an 80 GB GPU.
    assert reliability.tenants(p, "h100-sxm", "llama-2-70b", "fp16") == (0, None)
    t = reliability.tenants_table(p)
    assert (t["rtx-4090 tenants"] == "not supported").all()
    assert reliability.mig_support_table(p).loc["rtx-4090", "mig"] == "not supported"


# --- The article's claims ---------------------------------------------------------------------------


def test_claim_verdicts():
    t = audit.audit_table("reliability")
    expected = {
        # 1 per GB-year is 1.96x Titan's 0.511: within the 2x band.
        "rel-h100-correctable-per-gb-year": "ok",
        "rel-h100-correctable-per-year": "ok",
        # 0.01 per GPU-year against Meta's 72 / 2,424 GPU-years = 0.0297: 3x too few.
        "rel-h100-uncorrectable-per-gpu-year": "wrong",
        "rel-4090-flips-per-gb-month": "unverifiable",
        # 24 = 1 x 24 follows, but the field model gives 0.511 x 25.77 / 12 = 1.10 per month.
        "rel-4090-flips-per-month": "misleading",
        # 80 x 1,000 x 0.25 = 20,000, not 80,000.
        "rel-fleet-h100-correctable": "wrong",
        "rel-fleet-4090-silent": "misleading",
        # 96% against the measured 80.3%.
        "rel-h100-sustained-fraction": "wrong",
        "rel-4090-sustained-fraction": "unverifiable",
        "mig-h100-1g-instances": "ok",
        # 1/7 = 14.3% of slices, but 16 / 132 = 12.1% of the SMs.
        "mig-h100-1g-compute-fraction": "misleading",
        "mig-h100-1g-memory": "ok",
        # 140 against 989.4 x 16 / 132 = 119.9.
        "mig-h100-1g-tflops": "wrong",
        # 30,000 / 7 = 4,286.
        "mig-h100-cost-per-model": "ok",
        "mig-7b-int4-weights": "ok",
        # 4 + 6 = 10 GB does not fit 8 GiB = 8.59 GB usable.
        "mig-7b-int4-need": "wrong",
    }
    assert t["verdict"].to_dict() == expected
    assert t.loc["rel-fleet-h100-correctable", "computed_value"] == pytest.approx(
        0.51 * 80 * GIB_IN_GB * (1 - 0.00073) * 1000 * 0.25
    )
    assert t.loc["mig-h100-1g-tflops", "computed_value"] == pytest.approx(989.4 * 16 / 132)


def test_article_fleet_arithmetic():
    t = reliability.article_fleet_table()
    assert t.loc["rel-fleet-h100-correctable", "article's own rate gives"] == pytest.approx(20_000)
    assert t.loc["rel-fleet-h100-correctable", "article / own arithmetic"] == pytest.approx(4.0)
    assert t.loc["rel-fleet-4090-silent", "article's own rate gives"] == pytest.approx(72_000)


# --- Bad input --------------------------------------------------------------------------------------


def test_bad_input(p):
    with pytest.raises(InputError, match=r"k: must be an integer >= 0"):
        reliability.poisson_pmf(-1, 1.0)
    with pytest.raises(InputError, match=r"lambda: must be >= 0"):
        reliability.p_at_least_one(-0.5)
    with pytest.raises(InputError, match=r"lambda: must be a finite number"):
        reliability.p_at_least_one(float("nan"))
    with pytest.raises(
        InputError, match=r"unit: unknown duration unit 'weeks'.*allowed: days, months, years"
    ):
        reliability.duration_years(1, "weeks")
    with pytest.raises(InputError, match=r"checkpoint_interval_hours: must be > 0"):
        reliability.rollback_overhead_factor(1.0, 0.0)
    with pytest.raises(InputError, match=r"gpu_id: unknown GPU 'h100'"):
        reliability.sustained_fraction(p, "h100")
    with pytest.raises(
        InputError, match=r"profile: unknown MIG profile of h100-sxm '1g.5gb'.*1g.10gb"
    ):
        reliability.mig_profile("h100-sxm", "1g.5gb")
    with pytest.raises(InputError, match=r"field_study: unknown field study 'titan'"):
        reliability.field_study("titan")


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


def test_bad_data_file_names_the_key(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(paths.data_dir(), data)
    f = data / "reliability.yaml"
    f.write_text(f.read_text().replace("source: stas00-mamf", "source: no-such-source"))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    with pytest.raises(InputError, match=r"undefined source ids: \['no-such-source'\]"):
        reliability.data()
