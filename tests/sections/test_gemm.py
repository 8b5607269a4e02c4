"""GEMM results of notebook 03: the article's GEMM table, the kernel measurements and the square
sweep."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.sections import gemm


@pytest.fixture
def p():
    return params.make()


def test_gemm_table_and_caption(p):
    table = gemm.article_gemms(p)
    t = table.frame
    assert len(t) == 12
    row = t.loc[("8192 x 8192 x 8192", "NVIDIA H100 SXM5 80GB")]
    assert row["article_tflops"] == 380
    assert row["measured_tflops"] == pytest.approx(773.945)
    assert row["bound"] == "compute"
    assert t.loc[("1 x 4096 x 4096", "NVIDIA GeForce RTX 4090"), "measured_tflops"] is None
    assert "380 where 774 was measured" in table.caption


def test_measurement_table_fractions_support_the_defaults(p):
    t = gemm.kernel_measurements(p).frame
    frac = t.loc[("NVIDIA H100 SXM5 80GB", "GEMM bf16 8192x8192x8192"), "fraction of datasheet"]
    assert frac == pytest.approx(798 / 989.4)
    assert p.sustained_fraction_datacenter == pytest.approx(frac, abs=0.01)
    copy = t.loc[("NVIDIA H100 SXM5 80GB", "device-to-device copy (read + written)")]
    assert copy["fraction of datasheet"] == pytest.approx(3000 / 3350)


def test_square_sweep_bound_changes_at_the_ridge(p):
    t = gemm.square_sweep(p).frame
    # H100: intensity of an s^3 FP16 GEMM = s / 3; it passes the 262.5 ridge between 512 and 1024.
    assert t.loc[512, "NVIDIA H100 SXM5 80GB bound"] == "memory"
    assert t.loc[1024, "NVIDIA H100 SXM5 80GB bound"] == "compute"
