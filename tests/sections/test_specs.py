"""Specs section: its tables against hand calculations written here, from datasheet figures."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.sections import specs


@pytest.fixture
def p():
    return params.make(gpus=["h100-sxm", "rtx-4090"], price_usd={})


def test_article_derivation_recomputed():
    t = specs.article_derivation().frame
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


def test_ridge_points_hand_calculation(p):
    t = specs.ridge_points(p).frame
    # H100 SXM BF16: 989.4e12 FLOP/s / 3.35e12 B/s = 295.3 FLOP/B.
    assert t.iloc[0]["BF16 tensor ridge (FLOP/byte)"] == pytest.approx(
        989.4e12 / 3.35e12, rel=0.001
    )
    # RTX 4090 BF16 (FP32 accumulate): 165.2e12 / 1.008e12 = 163.9 FLOP/B.
    assert t.iloc[1]["BF16 tensor ridge (FLOP/byte)"] == pytest.approx(
        165.2e12 / 1.008e12, rel=0.002
    )


def test_bandwidth_table_hand_calculation(p):
    t = specs.bandwidth_per_capacity(p).frame
    h100 = t.iloc[0]
    assert h100["bandwidth_per_capacity_gb_s_per_gib"] == pytest.approx(3350 / 80)
    # 80 GiB read once at 3,350 GB/s: 80 * 2**30 B / 3.35e12 B/s = 25.64 ms.
    assert h100["full_memory_read_ms"] == pytest.approx(80 * 2**30 / 3.35e12 * 1e3)


def test_spec_table_ratios_and_price_override():
    p = params.make(gpus=["h100-sxm", "rtx-4090"], price_usd={"h100-sxm": 25000, "rtx-4090": 2000})
    t = specs.spec_table(p).frame
    ratio = t.columns[2]
    assert t.loc["memory bandwidth (GB/s)", ratio] == pytest.approx(3350 / 1008)
    assert t.loc["price (USD)", ratio] == pytest.approx(12.5)
    assert t.loc["ECC memory", ratio] is None  # booleans have no ratio


def test_spec_claims_flag_the_fp16_accumulate_mixup(p):
    t = specs.spec_claims().frame
    # The article's 330 TFLOPS for the 4090 is the FP16-accumulate rate, twice the FP32-accumulate one.
    assert not t.loc["spec-4090-fp16-tflops", "agrees (within 2%)"]
    assert t.loc["spec-h100-fp16-tflops", "agrees (within 2%)"]
