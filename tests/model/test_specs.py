"""Specs formulas: peak throughput and units against hand calculations from datasheet figures."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.core import units
from gpucompare.model import specs


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


def test_derivation_reproduces_datasheet(p):
    t = specs.tensor_derivation(p.gpus)
    # H100 SXM: 132 SMs x 2048 FMA/clk/SM x 1830 MHz x 2 = 989.4 TFLOPS (datasheet: 989.4 dense FP16).
    row = t.loc[("NVIDIA H100 SXM5 80GB", "fp16_tensor_fp32acc")]
    assert row["derived_tflops"] == pytest.approx(132 * 2048 * 1830e6 * 2 / 1e12)
    assert abs(row["error_pct"]) < 0.1
    # RTX 4090: FP32 accumulate runs at half the FP16-accumulate rate: 165.2 vs 330.3 TFLOPS.
    rtx = t.xs("fp16_tensor_fp32acc", level="data type")
    assert rtx.iloc[1]["datasheet_tflops"] == pytest.approx(165.2, abs=0.1)
    assert (t["error_pct"].abs() < 2).all()
