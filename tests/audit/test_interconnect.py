"""The article's interconnect claims: every claim has a check, and the verdicts by hand."""

from __future__ import annotations

import pytest

from gpucompare import audit
from gpucompare.audit import interconnect
from gpucompare.data import claims


def _audit():
    return audit.audit_table("interconnect")


def test_every_interconnect_claim_has_a_registered_check():
    kinds = {c.check["kind"] for c in claims.claims(section="interconnect")}
    assert kinds <= set(audit.checks())
    assert set(interconnect.CLAIM_CHECKS) <= set(audit.checks())


def test_claim_verdicts_by_hand():
    t = _audit()
    # 900 / 32 = 28.1 mixes directions: 450 / 31.51 = 14.3.
    assert t.loc["ic-nvlink-pcie-ratio", "verdict"] == "misleading"
    assert t.loc["ic-nvlink-pcie-ratio", "computed_value"] == pytest.approx(450 / 31.5077, rel=1e-4)
    # PCIe 4.0 x16 is 31.5 GB/s per direction, 63 total: both of the article's labels are wrong.
    assert t.loc["ic-pcie4-per-direction", "verdict"] == "wrong"
    assert t.loc["ic-pcie4-total", "verdict"] == "wrong"
    assert t.loc["ic-nvlink4-total", "verdict"] == "ok"
    # 8 KB over NVLink: 6.6 + 2 x 1.0 + 0.018 = 8.62 us, not 0.018 us.
    assert t.loc["ic-allreduce-8kb-nvlink", "computed_value"] == pytest.approx(8.618, abs=1e-3)
    assert t.loc["ic-allreduce-8kb-nvlink", "verdict"] == "wrong"
    # 128 MiB over staged PCIe 4.0 (15.75 GB/s): 8.53 ms ~ the article's 8.0, but from a wrong 16 GB/s label.
    assert t.loc["ic-allreduce-128mb-pcie", "verdict"] == "misleading"
    # "~3.5 ms on single H100": its own 380 TFLOPS gives 2 x 8192^3 / 380e12 = 2.89 ms.
    assert t.loc["ic-gemm-h100", "computed_value"] == pytest.approx(2 * 8192**3 / 380e12 * 1e3)
    assert t.loc["ic-gemm-h100", "verdict"] == "wrong"
    # 3090 per-GPU GEMM 5.10 ms < half of 2 x 8192^3 at 71 TFLOPS = 7.74 ms: faster than the GPU.
    assert t.loc["ic-table-3090-gemm", "computed_value"] == pytest.approx(8192**3 / 71e12 * 1e3)
    assert t.loc["ic-table-3090-gemm", "verdict"] == "wrong"
    # 3090 comm 1.2 ms needs 112.5 GB/s (both directions); per direction: 134,217,728 / 56.25e9 = 2.39 ms.
    assert t.loc["ic-table-3090-comm", "verdict"] == "wrong"
    # 70B fp16 needs 8 RTX 4090s (6 does not divide 64 heads and 6 x 22.1 GB usable < 138 GB), 2 H100s.
    assert t.loc["ic-cluster-4090-gpus", "computed_value"] == 8
    assert t.loc["ic-cluster-4090-gpus", "verdict"] == "wrong"
    assert t.loc["ic-cluster-h100-gpus", "verdict"] == "ok"
    assert set(t["verdict"]) <= set(audit.VERDICTS)
