"""Specs section: formulas against hand calculations written here, from datasheet figures."""

from __future__ import annotations

import pytest

from gpucompare import params, specs
from gpucompare.core import units


@pytest.fixture
def p():
    return params.make(gpus=["h100-sxm", "rtx-4090"], price_usd={})


def test_peak_tflops_hand_calculation():
    # A100 whitepaper: 108 SMs, 1024 dense FP16 FMA/clock/SM, 1410 MHz -> 312 TFLOPS.
    assert units.peak_tflops(108, 1024, 1410) == pytest.approx(108 * 1024 * 1410e6 * 2 / 1e12)
    assert units.peak_tflops(108, 1024, 1410) == pytest.approx(312, rel=0.001)
    assert units.implied_clock_mhz(312, 108, 1024) == pytest.approx(1410, rel=0.001)


def test_unit_conversions():
    assert units.gib_to_gb(80) == pytest.approx(85.899345920)  # 80 * 2**30 / 1e9
    assert units.gb_to_gib(units.gib_to_gb(24)) == pytest.approx(24)


def test_article_derivation_recomputed():
    t = specs.article_derivation_table()
    # 132 x 256 x 1.83e9 x 2 = 123.67e12; 128 x 128 x 2.52e9 x 2 = 82.58e12 (hand arithmetic).
    assert t.loc["derivation-h100-fp16", "inputs actually give (TFLOPS)"] == pytest.approx(
        123.67, abs=0.01
    )
    assert t.loc["derivation-4090-fp16", "inputs actually give (TFLOPS)"] == pytest.approx(
        82.58, abs=0.01
    )
    assert t.loc["derivation-h100-fp16", "article result / recomputed"] == pytest.approx(
        990 / 123.67, rel=1e-3
    )


def test_derivation_reproduces_datasheet(p):
    t = specs.derivation_table(p)
    # H100 SXM: 132 SMs x 2048 FMA/clk/SM x 1830 MHz x 2 = 989.4 TFLOPS (datasheet: 989.4 dense FP16).
    row = t.loc[("NVIDIA H100 SXM5 80GB", "fp16_tensor_fp32acc")]
    assert row["derived_tflops"] == pytest.approx(132 * 2048 * 1830e6 * 2 / 1e12)
    assert abs(row["error_pct"]) < 0.1
    # RTX 4090: FP32 accumulate runs at half the FP16-accumulate rate: 165.2 vs 330.3 TFLOPS.
    rtx = t.xs("fp16_tensor_fp32acc", level="data type")
    assert rtx.iloc[1]["datasheet_tflops"] == pytest.approx(165.2, abs=0.1)
    assert (t["error_pct"].abs() < 2).all()


def test_ridge_points_hand_calculation(p):
    t = specs.ridge_table(p)
    # H100 SXM BF16: 989.4e12 FLOP/s / 3.35e12 B/s = 295.3 FLOP/B.
    assert t.iloc[0]["BF16 tensor ridge (FLOP/byte)"] == pytest.approx(
        989.4e12 / 3.35e12, rel=0.001
    )
    # RTX 4090 BF16 (FP32 accumulate): 165.2e12 / 1.008e12 = 163.9 FLOP/B.
    assert t.iloc[1]["BF16 tensor ridge (FLOP/byte)"] == pytest.approx(
        165.2e12 / 1.008e12, rel=0.002
    )


def test_bandwidth_table_hand_calculation(p):
    t = specs.bandwidth_table(p)
    h100 = t.iloc[0]
    assert h100["bandwidth_per_capacity_gb_s_per_gib"] == pytest.approx(3350 / 80)
    # 80 GiB read once at 3,350 GB/s: 80 * 2**30 B / 3.35e12 B/s = 25.64 ms.
    assert h100["full_memory_read_ms"] == pytest.approx(80 * 2**30 / 3.35e12 * 1e3)


def test_spec_table_ratios_and_price_override():
    p = params.make(gpus=["h100-sxm", "rtx-4090"], price_usd={"h100-sxm": 25000, "rtx-4090": 2000})
    t = specs.spec_table(p)
    ratio = t.columns[2]
    assert t.loc["memory bandwidth (GB/s)", ratio] == pytest.approx(3350 / 1008)
    assert t.loc["price (USD)", ratio] == pytest.approx(12.5)
    assert t.loc["ECC memory", ratio] is None  # booleans have no ratio


def test_spec_claims_flag_the_fp16_accumulate_mixup(p):
    t = specs.spec_claims_table(p)
    # The article's 330 TFLOPS for the 4090 is the FP16-accumulate rate, twice the FP32-accumulate one.
    assert not t.loc["spec-4090-fp16-tflops", "agrees (within 2%)"]
    assert t.loc["spec-h100-fp16-tflops", "agrees (within 2%)"]
