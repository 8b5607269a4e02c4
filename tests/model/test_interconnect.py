"""Interconnect formulas: link figures and all-reduce times against hand calculations and published NCCL
numbers, properties and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.data import interconnect as ic_data
from gpucompare.model import interconnect, tensor_parallel

P = params.validate(params.defaults_dict())
MIB_128 = 8192 * 8192 * 2  # the article's 8192 x 8192 FP16 matrix, 134,217,728 bytes
bandwidths = st.floats(min_value=1.0, max_value=2000.0, allow_nan=False)


def test_pcie_per_direction_hand_calculation():
    # GT/s x 16 lanes x 128/130 / 8 bits: Gen3 8 -> 15.75, Gen4 16 -> 31.51, Gen5 32 -> 63.02 GB/s.
    assert interconnect.pcie_per_direction_gb_s(3, 16) == pytest.approx(8 * 16 * 128 / 130 / 8)
    assert interconnect.pcie_per_direction_gb_s(4, 16) == pytest.approx(31.5077, abs=1e-4)
    assert interconnect.pcie_per_direction_gb_s(5, 16) == pytest.approx(63.0154, abs=1e-4)
    # PCI-SIG's marketing "64 GB/s" for Gen4 x16 is both directions added.
    assert interconnect.link_total_gb_s("pcie4-x16") == pytest.approx(63.0154, abs=1e-4)


def test_nvlink_figures_match_the_whitepapers():
    # H100: 18 links x 25 GB/s per direction = 450, 900 total; GA102 bridge: 4 x 14.0625 = 56.25, 112.5.
    assert interconnect.link_per_direction_gb_s("nvlink4-h100") == 18 * 25
    assert interconnect.link_total_gb_s("nvlink4-h100") == 900
    assert interconnect.link_per_direction_gb_s("nvlink3-bridge-ga102") == 4 * 14.0625
    assert interconnect.link_total_gb_s("nvlink3-bridge-ga102") == 112.5
    # NVLink 5: 18 links x 100 GB/s both ways = 1.8 TB/s; InfiniBand NDR 400 Gb/s / 8 = 50 GB/s.
    assert interconnect.link_total_gb_s("nvlink5-b200") == 18 * 100
    assert interconnect.link_per_direction_gb_s("infiniband-ndr") == 400 / 8


def test_host_staged_pcie_is_half_the_line_rate():
    # data/interconnect.yaml: host_staged_fraction 0.5 (6x RTX 4090, P2P off: ~30 of 63 GB/s both ways).
    assert interconnect.link_per_direction_gb_s("pcie4-x16-host-staged") == pytest.approx(
        16 * 16 * 128 / 130 / 8 * 0.5
    )


def test_tp_links_by_hand():
    # HGX H100: 8 GPUs on NVSwitch, 450 GB/s per direction at any degree.
    assert interconnect.tp_link("h100-sxm", 8).per_direction_gb_s == 450
    # RTX 3090: bridged pairs (56.25 GB/s); a group of 4 crosses PCIe 4.0, staged: 31.51 / 2.
    assert interconnect.tp_link("rtx-3090", 2).link_id == "nvlink3-bridge-ga102"
    assert interconnect.tp_link("rtx-3090", 4).per_direction_gb_s == pytest.approx(
        31.5077 / 2, abs=1e-4
    )
    # H100 PCIe: NVLink bridges for a pair (300), PCIe 5.0 with P2P beyond (63.02).
    assert interconnect.tp_link("h100-pcie", 2).per_direction_gb_s == 300
    assert interconnect.tp_link("h100-pcie", 4).link_id == "pcie5-x16"
    # RTX 4090: no NVLink, no P2P: staged PCIe 4.0 at every degree.
    assert interconnect.tp_link("rtx-4090", 2).link_id == "pcie4-x16-host-staged"
    assert interconnect.tp_link("rtx-4090", 1).link_id is None


# GPU-to-GPU latency with P2P disabled, p2pBandwidthLatencyTest (voipmonitor/rtx6kpro pcie-bandwidth.md,
# RTX PRO 6000 Blackwell: ~14 us off vs 0.36-0.45 us on; 14.8 us on a GeForce RTX 2080 Ti pair).
STAGED_HOP_US = 14.0


def test_links_without_p2p_get_the_measured_staged_latency():
    # The default per-hop latency (NCCL's figure, 1.0 us) is for P2P links only.
    assert interconnect.hop_latency_us(P, "nvswitch-hgx-h100") == P.allreduce_latency_us == 1.0
    assert interconnect.hop_latency_us(P, "pcie5-x16") == 1.0
    for staged in ("pcie3-x16-host-staged", "pcie4-x16-host-staged", "pcie5-x16-host-staged"):
        assert interconnect.hop_latency_us(P, staged) == STAGED_HOP_US
    # The parameter moves P2P links only.
    slow = params.make(allreduce_latency_us=3.0)
    assert interconnect.hop_latency_us(slow, "nvswitch-hgx-h100") == 3.0
    assert interconnect.hop_latency_us(slow, "pcie4-x16-host-staged") == STAGED_HOP_US
    # RTX 3090: a bridged pair is NVLink (1 us); a group of 4 crosses staged PCIe (14 us).
    assert interconnect.tp_hop_latency_us(P, "rtx-3090", 2) == 1.0
    assert interconnect.tp_hop_latency_us(P, "rtx-3090", 4) == STAGED_HOP_US
    assert interconnect.tp_hop_latency_us(P, "rtx-4090", 1) == 0.0


def test_staged_allreduce_by_hand():
    # 8 KiB over 2 RTX 4090 (PCIe 4.0 x16 staged: 31.5077 x 0.5 = 15.754 GB/s per direction):
    # 6.6 + 2 x 14 + 2(1)/2 x 8192 B / 15,754 B/us = 6.6 + 28 + 0.520 = 35.12 us.
    assert interconnect.gpu_allreduce_time_us(P, "rtx-4090", 2, 8192) == pytest.approx(
        6.6 + 2 * 14 + 8192 / (31.5077e3 / 2), abs=1e-3
    )
    # The same on 2 H100 SXM (NVSwitch, 450 GB/s, 1 us per hop): 6.6 + 2 + 8192 / 450,000 = 8.618 us.
    assert interconnect.gpu_allreduce_time_us(P, "h100-sxm", 2, 8192) == pytest.approx(
        8.618, abs=1e-3
    )
    # Latency floors (vanishing message): ring 6.6 + 2(n-1) alpha; tree 6.6 + 2 ceil(log2 n) alpha.
    assert interconnect.latency_floor_us(P, "rtx-4090", 8) == pytest.approx(6.6 + 14 * 14)
    assert interconnect.latency_floor_us(P, "rtx-4090", 8, "tree") == pytest.approx(6.6 + 6 * 14)
    assert interconnect.latency_floor_us(P, "h100-sxm", 8) == pytest.approx(6.6 + 14 * 1.0)
    assert interconnect.latency_floor_us(P, "h100-sxm", 1) == 0.0


def test_tensor_parallel_decode_pays_the_staged_latency():
    # Llama-2-70B decode, batch 1: two all-reduces of 1 x 8192 x 2 = 16,384 B per layer.
    # 2 RTX 4090: 2 x (6.6 + 2 x 14 + 16384 / 15,754) = 71.28 us per layer (it was 2 x 9.64 with 1 us).
    step = tensor_parallel.tp_step(P, "rtx-4090", 2, 1, 1, "llama-2-70b", "fp16")
    assert step.comm_us == pytest.approx(2 * (6.6 + 2 * 14 + 16384 / (31.5077e3 / 2)), abs=1e-3)


def test_ring_allreduce_hand_calculation():
    # n = 2, 128 MiB at 450 GB/s: 6.6 + 2 x 1.0 + 134,217,728 / 450,000 B/us = 306.86 us.
    t = interconnect.allreduce_time_us(MIB_128, 2, 450, 1.0, 6.6)
    assert t == pytest.approx(6.6 + 2 + 134_217_728 / 450_000)
    assert t == pytest.approx(306.86, abs=0.01)
    # n = 8: 6.6 + 14 x 1.0 + 2 x 7/8 x S/B.
    assert interconnect.allreduce_time_us(MIB_128, 8, 450, 1.0, 6.6) == pytest.approx(
        6.6 + 14 + 1.75 * 134_217_728 / 450_000
    )


def test_tree_allreduce_hand_calculation():
    # n = 8: 6.6 + 2 x log2(8) x 1.0 + 2 x S/B; n = 6 rounds log2 up to 3 levels.
    assert interconnect.allreduce_time_us(MIB_128, 8, 450, 1.0, 6.6, "tree") == pytest.approx(
        6.6 + 6 + 2 * 134_217_728 / 450_000
    )
    assert interconnect.allreduce_time_us(1e6, 6, 100, 1.0, 0.0, "tree") == pytest.approx(
        6 + 2e6 / 1e5
    )


def test_article_model_reproduces_its_arithmetic():
    # "8 KB / 450 GB/s = 0.018 us", "8 KB / 16 GB/s = 0.5 us", "128 MB / 450 GB/s = 0.28 ms".
    assert interconnect.article_allreduce_time_us(8192, 450) == pytest.approx(0.0182, abs=1e-4)
    assert interconnect.article_allreduce_time_us(8192, 16) == pytest.approx(0.512)
    assert interconnect.article_allreduce_time_us(128e6, 450) / 1e3 == pytest.approx(
        0.284, abs=1e-3
    )
    # With the true 128 MiB the NVLink figure is 0.298 ms.
    assert interconnect.article_allreduce_time_us(MIB_128, 450) / 1e3 == pytest.approx(
        0.2983, abs=1e-4
    )


def test_bus_bandwidth_against_published_nccl_tests_output():
    # tinygrad/open-gpu-kernel-modules README: 6x RTX 4090 (patched P2P), 33,554,432 B in 2275.1 us:
    # algbw 14.75 GB/s, busbw 24.58 GB/s (= algbw x 2 x 5/6).
    assert interconnect.bus_bandwidth_gb_s(33_554_432, 2275.1, 6) == pytest.approx(24.58, abs=0.01)
    # Anthony-Hoo AutoDL test: 2x RTX 2080 Ti, 134,217,728 B in 33,587 us: busbw 4.00 (factor 1 at n = 2).
    assert interconnect.bus_bandwidth_gb_s(134_217_728, 33_587, 2) == pytest.approx(4.00, abs=0.005)
    # NCCL maintainer (nccl-tests#212): 8 H100s, busBw ~480 GB/s <-> algbw ~275 GB/s (480 x 8/14 = 274.3).
    t_us = 1e9 / 275e9 * 1e6
    assert interconnect.bus_bandwidth_gb_s(1e9, t_us, 8) == pytest.approx(480, rel=0.005)


def test_model_bus_bandwidth_is_an_upper_bound_that_approaches_the_line_rate():
    # busbw of the modelled ring tends to B for large messages and never exceeds it; NCCL's ring on
    # NVLink 4 measures 370 GB/s (nccl-tests#212), below the 450 GB/s line rate.
    for n in (2, 4, 8):
        t = interconnect.allreduce_time_us(8 * 2**30, n, 450, 1.0, 6.6)
        busbw = interconnect.bus_bandwidth_gb_s(8 * 2**30, t, n)
        assert 0.999 * 450 < busbw < 450
    measured = {m.id: m.value for m in ic_data.interconnect_catalog().measurements}
    assert measured["h100-nccl-ring-busbw"] < interconnect.link_per_direction_gb_s(
        "nvswitch-hgx-h100"
    )
    assert measured["rtx4090-patched-p2p-busbw"] < interconnect.link_per_direction_gb_s("pcie4-x16")


@settings(max_examples=80, deadline=None)
@given(
    size=st.floats(min_value=1.0, max_value=1e10),
    n=st.integers(1, 64),
    bw=bandwidths,
    hop=st.floats(min_value=0, max_value=50),
)
def test_ring_time_grows_with_size_and_n_one_is_free(size, n, bw, hop):
    t = interconnect.allreduce_time_us(size, n, bw, hop, 6.6)
    if n == 1:
        assert t == 0
    else:
        assert interconnect.allreduce_time_us(size * 2, n, bw, hop, 6.6) > t
        # With no latency, n = 2 is exactly the article's size / bandwidth.
        if n == 2:
            assert interconnect.allreduce_time_us(size, 2, bw, 0, 0) == pytest.approx(
                interconnect.article_allreduce_time_us(size, bw)
            )


def test_tp_degree_beyond_a_node_is_refused():
    with pytest.raises(
        InputError,
        match=r"tp: tensor-parallel degree 16 .* holds 8 GPUs; allowed: 1, 2, 3, 4, 5, 6, 7, 8",
    ):
        interconnect.tp_link("rtx-4090", 16)
    with pytest.raises(InputError, match=r"degree 0"):
        tensor_parallel.tp_step(P, "h100-sxm", 0, 1, 1)


def test_unknown_link_gpu_and_algorithm_are_refused():
    with pytest.raises(
        InputError, match=r"link: unknown link 'nvlink9'.*allowed: .*nvlink4-h100.*pcie4-x16"
    ):
        ic_data.get_link("nvlink9")
    with pytest.raises(InputError, match=r"gpu: unknown GPU 'h100'.*allowed: .*h100-sxm"):
        interconnect.tp_link("h100", 2)
    with pytest.raises(
        InputError,
        match=r"algorithm: unknown all-reduce algorithm 'butterfly'.*allowed: ring, tree",
    ):
        interconnect.allreduce_time_us(1024, 2, 450, 1.0, 6.6, "butterfly")
    with pytest.raises(InputError, match=r"message_bytes: must be a positive number"):
        interconnect.allreduce_time_us(-1, 2, 450, 1.0)
    with pytest.raises(InputError, match=r"pcie_generation: unknown PCIe generation '7'"):
        interconnect.pcie_per_direction_gb_s(7, 16)
