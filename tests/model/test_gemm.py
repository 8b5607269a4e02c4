"""GEMM roofline: hand calculations from datasheet figures, properties, bad input, and the
measurements of a GEMM at precisions with the same datasheet rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare.core.errors import InputError
from gpucompare.model import gemm


def test_flops_bytes_and_intensity_hand_calculation():
    # 2 x 4096^3 = 137,438,953,472 FLOPs; FP16 operands and result: 3 x 4096^2 x 2 B = 100,663,296 B.
    assert gemm.flops(4096, 4096, 4096) == 137_438_953_472
    assert gemm.bytes_moved(4096, 4096, 4096, "fp16") == 100_663_296
    assert gemm.arithmetic_intensity(4096, 4096, 4096, "fp16") == pytest.approx(4096 / 3)
    # GEMV 1 x 4096 x 4096: (4,096 + 16,777,216) x 2 + 4,096 x 2 = 33,570,816 B for 33,554,432 FLOPs.
    assert gemm.bytes_moved(1, 4096, 4096, "fp16") == 33_570_816
    # FP8 inputs (1 B) with a BF16 result (2 B); INT8 with an INT32 result (4 B).
    assert gemm.bytes_moved(2, 3, 5, "fp8") == (2 * 5 + 5 * 3) * 1 + 2 * 3 * 2
    assert gemm.bytes_moved(2, 3, 5, "int8") == (2 * 5 + 5 * 3) * 1 + 2 * 3 * 4


def test_roofline_hand_calculation_compute_bound_h100():
    # H100 SXM FP16 989.4 TFLOPS x 0.8 = 791.52; 3,350 GB/s x 0.9 = 3,015 GB/s.
    est = gemm.roofline(4096, 4096, 4096, "h100-sxm", "fp16", 0.8, 0.9)
    assert est.compute_s == pytest.approx(137_438_953_472 / 791.52e12)
    assert est.memory_s == pytest.approx(100_663_296 / 3.015e12)
    assert est.bound == "compute"
    assert est.tflops == pytest.approx(791.52)
    # Ridge: 791.52e12 / 3.015e12 = 262.5 FLOP/byte; datasheet 989.4 / 3.35 = 295.3.
    assert est.ridge_flop_per_byte == pytest.approx(262.527, rel=1e-4)
    assert gemm.ridge_flop_per_byte("h100-sxm", "fp16") == pytest.approx(295.343, rel=1e-4)


def test_roofline_hand_calculation_memory_bound_gemv_4090():
    # RTX 4090: 1,008 GB/s x 0.9 = 907.2 GB/s -> 33,570,816 B in 37.005 us -> 0.9068 TFLOPS.
    est = gemm.roofline(1, 4096, 4096, "rtx-4090", "fp16", 0.8, 0.9)
    assert est.bound == "memory"
    assert est.time_s == pytest.approx(33_570_816 / 907.2e9)
    assert est.tflops == pytest.approx(33_554_432 / (33_570_816 / 907.2e9) / 1e12)
    assert est.tflops == pytest.approx(0.9068, abs=1e-4)


def test_fp16_means_fp32_accumulate_on_the_4090():
    # GeForce Ada: 165.2 TFLOPS with FP32 accumulate, 330.3 with FP16 accumulate (Ada whitepaper).
    assert gemm.peak_tflops("rtx-4090", "fp16") == pytest.approx(165.2)
    assert gemm.peak_tflops("rtx-4090", "fp16_fp16acc") == pytest.approx(330.3)
    est = gemm.roofline(8192, 8192, 8192, "rtx-4090", "fp16", 0.8, 0.9)
    assert est.tflops == pytest.approx(165.2 * 0.8)


def test_bad_input_names_the_key():
    with pytest.raises(InputError, match=r"precision.*allowed: bf16"):
        gemm.bytes_moved(1, 1, 1, "fp12")
    with pytest.raises(InputError, match="m: must be a positive integer"):
        gemm.flops(0, 4, 4)
    with pytest.raises(InputError, match="tflops_fraction"):
        gemm.roofline(8, 8, 8, "h100-sxm", "fp16", 0.0, 0.9)
    with pytest.raises(InputError, match="bandwidth_fraction"):
        gemm.roofline(8, 8, 8, "h100-sxm", "fp16", 0.8, 1.5)
    with pytest.raises(InputError, match="no fp8"):
        gemm.peak_tflops("a100-sxm-80gb", "fp8")
    with pytest.raises(InputError, match="gpu: unknown GPU 'h1000'"):
        gemm.roofline(8, 8, 8, "h1000", "fp16")


dims = st.integers(1, 65536)


@settings(max_examples=80, deadline=None)
@given(m=dims, n=dims, k=dims, grow=st.integers(1, 4096), axis=st.integers(0, 2))
def test_time_is_monotone_in_size_and_below_both_roofs(m, n, k, grow, axis):
    base = [m, n, k]
    bigger = list(base)
    bigger[axis] += grow
    a = gemm.roofline(*base, "h100-sxm", "bf16", 0.8, 0.9)
    b = gemm.roofline(*bigger, "h100-sxm", "bf16", 0.8, 0.9)
    assert b.time_s >= a.time_s
    assert a.tflops <= 989.4 * 0.8 * (1 + 1e-12)
    assert a.tflops <= a.intensity_flop_per_byte * 3.015 * (1 + 1e-12)  # TB/s x FLOP/B = TFLOPS


@settings(max_examples=40, deadline=None)
@given(m=dims, n=dims, k=dims)
def test_vectorized_roofline_agrees_with_scalar(m, n, k):
    est = gemm.roofline(m, n, k, "rtx-4090", "fp16", 0.8, 0.9)
    arr = gemm.roofline_tflops_array(
        np.array([m]), np.array([n]), np.array([k]), 2, 2, 165.2 * 0.8, 1008 * 0.9
    )
    assert arr[0] == pytest.approx(est.tflops)


def test_measurements_match_bf16_and_fp16_at_the_same_rate():
    # 8192^3 on the H100: 798 (bf16, the project's measurement) and 749.89 (fp16, cuBLAS) both count.
    got = gemm.measured_tflops("h100-sxm", 8192, 8192, 8192, "fp16")
    assert sorted(x["tflops"] for x in got) == [749.89, 798.0]
    assert gemm.measured_tflops("rtx-4090", 8192, 8192, 8192, "fp16") == []
