"""Interconnect section: link figures and all-reduce times against hand calculations and published NCCL
numbers, tensor-parallel efficiency by hand, properties, bad input, and the article's claims."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucompare import audit, interconnect, params
from gpucompare.core.errors import InputError
from gpucompare.data import catalog

P = params.validate(params.defaults_dict())
MIB_128 = 8192 * 8192 * 2  # the article's 8192 x 8192 FP16 matrix, 134,217,728 bytes


# --- Link figures ------------------------------------------------------------------------------


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


def test_every_catalog_gpu_has_a_topology_consistent_with_its_spec():
    for gid in catalog.gpu_ids():
        topo = interconnect.gpu_topology(gid)
        spec = catalog.get_gpu(gid).spec("nvlink_bandwidth_per_direction_gb_s")
        link = interconnect.nvlink_link_id(gid)
        assert (link is None) == (spec is None) == (topo.nvlink_domain_gpus.value is None), gid
        if link is not None:
            assert interconnect.link_per_direction_gb_s(link) == spec
        assert topo.max_gpus_per_node.value >= 2


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


# --- All-reduce time ---------------------------------------------------------------------------


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
    measured = {m.id: m.value for m in interconnect.interconnect_catalog().measurements}
    assert measured["h100-nccl-ring-busbw"] < interconnect.link_per_direction_gb_s(
        "nvswitch-hgx-h100"
    )
    assert measured["rtx4090-patched-p2p-busbw"] < interconnect.link_per_direction_gb_s("pcie4-x16")


# --- Tensor-parallel efficiency ----------------------------------------------------------------


def test_llama_2_70b_layer_parameters():
    # 8192*64*128*2 (q, o) + 2*8192*8*128 (k, v) + 3*8192*28672 (MLP) + 2*8192 (norms) = 855,654,400;
    # 80 layers + 2 x 32,000 x 8,192 embeddings + 8,192 final norm = the catalog's 68,976,648,192.
    m = catalog.get_model("llama-2-70b")
    assert interconnect.layer_parameters(m) == 855_654_400
    assert m.parameters == 80 * 855_654_400 + 2 * 32_000 * 8_192 + 8_192
    # Mixtral: 2 of 8 experts active per token -> 6 experts x 3 x 4096 x 14336 fewer active weights.
    mx = catalog.get_model("mixtral-8x7b")
    assert (
        interconnect.layer_parameters(mx) - interconnect.layer_active_parameters(mx)
        == 6 * 3 * 4096 * 14336
    )


def test_decode_layer_by_hand_on_two_h100s():
    # Weights 855,654,400 x 2 B split over 2 GPUs at 3,350 GB/s: 255.42 us (FLOPs: 0.86 us, not binding).
    # Communication: 2 all-reduces of 8,192 x 2 = 16,384 B: 2 x (6.6 + 2 x 1.0 + 16,384 / 450,000) = 17.27 us.
    step = interconnect.tp_step(P, "h100-sxm", 2, 1, 1)
    compute = 855_654_400 * 2 / 2 / 3_350_000
    comm = 2 * (6.6 + 2 + 16_384 / 450_000)
    assert step.compute_us == pytest.approx(compute)
    assert step.comm_us == pytest.approx(comm)
    assert step.efficiency == pytest.approx(compute / (compute + comm))
    assert step.efficiency == pytest.approx(0.9367, abs=1e-4)


def test_prefill_layer_by_hand_on_two_h100s():
    # 2 x 855,654,400 x 2,048 FLOP over 2 GPUs at 989.4 TFLOPS = 1,771.2 us (compute-bound).
    step = interconnect.tp_step(P, "h100-sxm", 2, 1, 2048)
    assert step.compute_us == pytest.approx(2 * 855_654_400 * 2048 / (2 * 989.4e12) * 1e6)
    assert step.compute_us == pytest.approx(1771.2, abs=0.1)


def test_article_tp_efficiency_formula():
    # tp_efficiency(3.5, 0.28, 2): 1.75 / (1.75 + 0.28) = 86.2%; (8.5, 8.0, 2): 4.25 / 12.25 = 34.7%.
    assert interconnect.article_tp_efficiency(3.5, 0.28, 2) == pytest.approx(1.75 / 2.03)
    assert interconnect.article_tp_efficiency(8.5, 8.0, 2) == pytest.approx(4.25 / 12.25)


def test_one_gpu_needs_no_communication():
    assert interconnect.allreduce_time_us(MIB_128, 1, 450, 1.0, 6.6) == 0
    step = interconnect.tp_step(P, "rtx-4090", 1, 8, 1)
    assert step.comm_us == 0 and step.efficiency == 1.0


bandwidths = st.floats(min_value=1.0, max_value=2000.0, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(
    b1=bandwidths,
    b2=bandwidths,
    n=st.sampled_from([2, 4, 8]),
    batch=st.integers(1, 256),
    tokens=st.sampled_from([1, 128, 2048]),
    algorithm=st.sampled_from(interconnect.ALGORITHMS),
)
def test_more_link_bandwidth_never_lowers_efficiency(b1, b2, n, batch, tokens, algorithm):
    lo, hi = sorted((b1, b2))
    m = catalog.get_model("llama-2-70b")
    compute = interconnect.layer_compute_us(
        interconnect.layer_weight_bytes(m, "fp16"),
        interconnect.layer_active_parameters(m),
        batch,
        tokens,
        n,
        3350,
        989.4,
    )
    size = interconnect.activation_allreduce_bytes(m, batch, tokens)
    effs = [
        interconnect.tp_efficiency(
            compute, 2 * interconnect.allreduce_time_us(size, n, bw, 1.0, 6.6, algorithm)
        )
        for bw in (lo, hi)
    ]
    assert effs[1] >= effs[0]


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


@settings(max_examples=40, deadline=None)
@given(gpu_id=st.sampled_from(catalog.gpu_ids()), tp=st.sampled_from([1, 2, 4, 8]))
def test_efficiency_is_a_fraction_and_comm_grows_with_batch(gpu_id, tp):
    small = interconnect.tp_step(P, gpu_id, tp, 1, 1)
    large = interconnect.tp_step(P, gpu_id, tp, 64, 1)
    assert 0 < small.efficiency <= 1
    assert large.comm_us >= small.comm_us


# --- Bad input ---------------------------------------------------------------------------------


def test_tp_degree_beyond_a_node_is_refused():
    with pytest.raises(
        InputError,
        match=r"tp: tensor-parallel degree 16 .* holds 8 GPUs; allowed: 1, 2, 3, 4, 5, 6, 7, 8",
    ):
        interconnect.tp_link("rtx-4090", 16)
    with pytest.raises(InputError, match=r"degree 0"):
        interconnect.tp_step(P, "h100-sxm", 0, 1, 1)
    # A parameter asking for 16-GPU groups fails every table with the key and the allowed degrees.
    p16 = params.validate({**params.defaults_dict(), "tp_degrees": [2, 16]})
    with pytest.raises(
        InputError, match=r"tp_degrees: tensor-parallel degree 16 .*allowed: 1, 2, 3"
    ):
        interconnect.tp_efficiency_table(p16)
    with pytest.raises(InputError, match=r"tp_degrees: tensor-parallel degree 16"):
        interconnect.gpu_link_table(p16)


def test_unknown_link_gpu_and_algorithm_are_refused():
    with pytest.raises(
        InputError, match=r"link: unknown link 'nvlink9'.*allowed: .*nvlink4-h100.*pcie4-x16"
    ):
        interconnect.get_link("nvlink9")
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


def test_bad_parameters_are_refused_before_any_notebook_runs():
    with pytest.raises(
        InputError, match=r"tp_gpus.*unknown GPU 'rtx4090'.*did you mean 'rtx-4090'"
    ):
        params.notebook_params(tp_gpus=["rtx4090"])
    with pytest.raises(InputError, match=r"tp_model.*unknown model 'llama-70b'"):
        params.notebook_params(tp_model="llama-70b")
    with pytest.raises(InputError, match=r"allreduce_latency_us"):
        params.notebook_params(allreduce_latency_us=-1.0)


# --- The article's claims ----------------------------------------------------------------------


def _audit():
    return audit.audit_table("interconnect")


def test_every_interconnect_claim_has_a_registered_check():
    kinds = {c.check["kind"] for c in interconnect.claims.claims(section="interconnect")}
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


def test_article_tp_table_reproduces_its_arithmetic():
    t = interconnect.article_tp_table(P)
    assert list(t.index) == [
        "2x H100 NVLink",
        "2x A100 NVLink",
        "2x RTX 4090 PCIe",
        "2x RTX 3090 NVLink",
    ]
    # Its formula with its inputs gives its printed efficiencies within a point.
    assert (t["its formula, its inputs (%)"] - t["article efficiency (%)"]).abs().max() < 1
    # The A100's 128 MiB all-reduce on 300 GB/s: 6.6 + 2 + 134,217,728 / 300,000 us = 0.456 ms.
    assert t.loc["2x A100 NVLink", "comm, ring on catalog link (ms)"] == pytest.approx(
        (8.6 + 134_217_728 / 300_000) / 1e3
    )


def test_tables_and_captions_build():
    for frame in (
        interconnect.links_table(),
        interconnect.gpu_link_table(P),
        interconnect.measurements_table(),
        interconnect.ratio_table(),
        interconnect.allreduce_table(P),
        interconnect.tp_efficiency_table(P),
        interconnect.cluster_table(P),
        interconnect.sources_frame(),
    ):
        assert len(frame) > 0
    t = interconnect.cluster_table(P)
    assert t.loc[("fp16", "rtx-4090"), "gpus_needed"] == 8
    assert math.isclose(t.loc[("int4", "h100-sxm"), "decode b=1 (%)"], 100.0)
    for caption in (
        interconnect.links_caption(),
        interconnect.gpu_link_caption(P),
        interconnect.allreduce_caption(P),
        interconnect.tp_efficiency_caption(P),
        interconnect.cluster_caption(P),
        interconnect.article_tp_caption(P),
    ):
        assert caption.endswith(".") and len(caption) > 40
