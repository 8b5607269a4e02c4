"""The article's interconnect claims: every claim has a check, and the verdicts by hand."""

from __future__ import annotations

import pytest

from gpucompare import audit, params
from gpucompare.audit import interconnect
from gpucompare.data import claims
from gpucompare.model import throughput
from gpucompare.model.interconnect import gpu_allreduce_time_us


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


def test_nvlink_left_consumer_cards_with_the_40_series():
    # NVIDIA GA102 whitepaper: the RTX 3090 has an NVLink 3 bridge (4 x4 links, 112.5 GB/s both ways);
    # the RTX 4090 (AD102) and RTX 5090 have no NVLink connector. "Removed since RTX 30-series" is wrong.
    r = _audit().loc["ic-nvlink-dropped-since"]
    assert r["computed_value"] == 40
    assert r["verdict"] == "wrong"
    assert "RTX 3090: NVLink 3 bridge, 112.5 GB/s" in r["explanation"]


def test_cluster_slowdown_is_the_ratio_of_the_throughput_functions():
    # Structure, not speeds (the speed model is being replaced): the recomputed ratio is the ratio of
    # decode_tokens_per_s_tp on the GPUs each side needs, computed here; the GPUs needed by hand:
    # Llama-2-70B fp16 (137.95 GB) needs 2 x H100 (80 GiB) but 8 x RTX 4090 (22.1 GB usable each);
    # int4 (~36 GB) fits one H100 and 2 x RTX 4090.
    p = params.make()
    c = next(c for c in claims.claims() if c.id == "ic-cluster-slowdown")
    rows = interconnect.slowdowns(p, c.check)
    assert [(r["gpus_a"], r["gpus_b"]) for r in rows] == [(2, 8), (1, 2)]
    ratios = []
    for (weights, n_a, n_b), r in zip([("fp16", 2, 8), ("int4", 1, 2)], rows, strict=True):
        a = throughput.decode_tokens_per_s_tp(
            p, "llama-2-70b", weights, "fp16", 1, 4096, "h100-sxm", n_a
        )
        b = throughput.decode_tokens_per_s_tp(
            p, "llama-2-70b", weights, "fp16", 1, 4096, "rtx-4090", n_b
        )
        assert r["ratio"] == pytest.approx(a / b)
        # All-reduce share of the RTX 4090 step: 80 layers x 2 x all-reduce(1 x 8192 x 2 B) x tok/s.
        comm_s = 80 * 2 * tpm_allreduce_us(p, n_b) / 1e6
        assert r["comm_share_b"] == pytest.approx(comm_s * b)
        ratios.append(a / b)
    t = _audit().loc["ic-cluster-slowdown"]
    assert t["computed_value"] == pytest.approx(min(ratios))
    in_range = all(2 * 0.95 <= x <= 4 * 1.05 for x in ratios)
    blame = max(r["comm_share_b"] for r in rows) >= 0.5
    assert t["verdict"] == ("wrong" if not in_range else "ok" if blame else "misleading")


def tpm_allreduce_us(p, n):
    """One all-reduce of a batch-1 Llama-2-70B activation (8,192 x 2 bytes) over ``n`` RTX 4090s."""
    return gpu_allreduce_time_us(p, "rtx-4090", n, 8192 * 2)
