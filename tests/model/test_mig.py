"""MIG formulas: max batch in a slice by hand, SM shares and peaks, cost per tenant, tenants per GPU."""

from __future__ import annotations

import math

import pytest
import yaml

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.model import memory, mig

OV = memory.Overheads(gpu_memory_utilization=0.9, activation_reserve_gib=1.0)


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


def test_max_batch_in_a_slice_by_hand():
    # 1g.10gb: 10 GiB x 0.9 - 1 GiB = 8 GiB usable. Llama-2-7B int4: body at 4 + 20/128 bits, embeddings
    # and LM head (2 x 32,000 x 4,096) at 16 bits; KV 524,288 B/token x 4,096 tokens per sequence.
    emb = 2 * 32_000 * 4_096
    weights = (6_738_415_616 - emb) * (4 + 20 / 128) / 8 + emb * 2
    per_seq = 524_288 * 4_096
    expected = math.floor((8 * 2**30 - weights) / per_seq)
    assert expected == 2
    got = mig.max_batch_in_budget("llama-2-7b", "int4", "fp16", 4096, 10, OV, "h100-sxm")
    assert got == expected


def test_whole_gpu_budget_equals_memory_section():
    h100 = catalog.get_gpu("h100-sxm")
    model = catalog.get_model("llama-2-7b")
    assert mig.max_batch_in_budget(
        "llama-2-7b", "fp16", "fp16", 4096, 80, OV, "h100-sxm"
    ) == memory.max_batch(model, "fp16", "fp16", 4096, h100, OV)


def test_mig_figures_by_hand(p):
    # 16 of 132 SMs x 989.4 TFLOPS = 119.93 TFLOPS; $30,000 / 7 = $4,285.71.
    assert mig.mig_peak_tflops("h100-sxm", "1g.10gb") == pytest.approx(989.4 * 16 / 132)
    assert mig.cost_per_tenant_usd(p, "h100-sxm", "1g.10gb") == pytest.approx(30_000 / 7)
    cheap = p.model_copy(update={"price_usd": {"h100-sxm": 21_000.0}})
    assert mig.cost_per_tenant_usd(cheap, "h100-sxm", "1g.10gb") == pytest.approx(3_000)


# SMs per GPU-instance profile, the SM column of `nvidia-smi mig -lgip` (issue 17: H100 80GB HBM3;
# public copies of the command's output for the H100 PCIe (driver 570.169), the A100-SXM4-80GB and
# the H200; the A100 figures are also the MIG user guide's A100 slices: 14 SMs per slice, 98 in all).
LGIP_SMS = {
    "h100-sxm": {
        "1g.10gb": 16,
        "1g.20gb": 26,
        "2g.20gb": 32,
        "3g.40gb": 60,
        "4g.40gb": 64,
        "7g.80gb": 132,
    },
    "h100-pcie": {
        "1g.10gb": 14,
        "1g.20gb": 14,
        "2g.20gb": 30,
        "3g.40gb": 46,
        "4g.40gb": 62,
        "7g.80gb": 114,
    },
    "a100-sxm-80gb": {
        "1g.10gb": 14,
        "1g.20gb": 14,
        "2g.20gb": 28,
        "3g.40gb": 42,
        "4g.40gb": 56,
        "7g.80gb": 98,
    },
    # 1g.35gb and 4g.71gb: no published count found; the catalog marks them derived (H100's 26 and 64).
    "h200-sxm": {"1g.18gb": 16, "2g.35gb": 32, "3g.71gb": 60, "7g.141gb": 132},
    # B200: only the 1g.23gb count is published (XLA's B200 MIG target config: 18 cores).
    "b200": {"1g.23gb": 18},
}


@pytest.mark.parametrize("gpu_id", sorted(LGIP_SMS))
def test_sm_counts_are_the_lgip_ones(gpu_id):
    for profile, sms in LGIP_SMS[gpu_id].items():
        assert mig.mig_sm_count(gpu_id, profile) == sms, profile
        assert not mig.mig_profile(gpu_id, profile).sm_derived


def test_h200_unsourced_profiles_are_marked_derived():
    for profile in ("1g.35gb", "4g.71gb"):
        m = mig.mig_profile("h200-sxm", profile)
        assert m.sm_derived and "DERIVED" in m.sm_note
    derived = [
        (g, m.profile) for g in catalog.gpu_ids() for m in mig.mig_profiles(g) if m.sm_derived
    ]
    b200 = [("b200", p) for p in ("1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb")]
    assert derived == [("h200-sxm", "1g.35gb"), ("h200-sxm", "4g.71gb"), *b200]


def test_mig_tflops_table_by_hand():
    # TFLOPS per instance = profile SMs / GPU SMs x the GPU's dense FP16 (FP32-accumulate) peak.
    # H100 SXM (989.4 TFLOPS, 132 SMs): 1g.20gb 26/132 x 989.4 = 194.88; 3g.40gb 60/132 x 989.4 = 449.73;
    # 7g.80gb the whole GPU. A100 SXM4 (312 TFLOPS, 108 SMs): 1g.10gb 14/108 x 312 = 40.44; 7g.80gb
    # 98/108 x 312 = 283.11 (MIG leaves 10 SMs unused).
    assert mig.mig_peak_tflops("h100-sxm", "1g.20gb") == pytest.approx(194.88, abs=0.01)
    assert mig.mig_peak_tflops("h100-sxm", "3g.40gb") == pytest.approx(449.73, abs=0.01)
    assert mig.mig_peak_tflops("h100-sxm", "7g.80gb") == pytest.approx(989.4)
    assert mig.mig_peak_tflops("a100-sxm-80gb", "1g.10gb") == pytest.approx(40.44, abs=0.01)
    assert mig.mig_peak_tflops("a100-sxm-80gb", "7g.80gb") == pytest.approx(283.11, abs=0.01)
    assert mig.mig_sm_share("h100-sxm", "1g.10gb") == pytest.approx(16 / 132)


def test_profile_sm_count_above_the_gpu_is_refused(tmp_path):
    raw = yaml.safe_load((paths.data_dir() / "gpus.yaml").read_text())
    h100 = next(g for g in raw["gpus"] if g["id"] == "h100-sxm")
    h100["mig_profiles"][0]["sm_count"] = 133
    bad = tmp_path / "gpus.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match=r"sm_count: 133 exceeds the GPU's 132 SMs"):
        catalog.load_validated(bad, catalog.GpuCatalog)


def test_tenants(p):
    # int4 7B fits the 10 GiB slice (2 sequences): 7 tenants. fp16 7B (13.48 GB) needs a 20 GiB slice
    # (17 GiB usable = 18.25 GB, room for 2 sequences of 2.147 GB): 1g.20gb, 4 tenants.
    assert mig.tenants(p, "h100-sxm", "llama-2-7b", "int4") == (7, "1g.10gb")
    assert mig.tenants(p, "h100-sxm", "llama-2-7b", "fp16") == (4, "1g.20gb")
    # 70B fp16 (138 GB) fits no slice of an 80 GB GPU.
    assert mig.tenants(p, "h100-sxm", "llama-2-70b", "fp16") == (0, None)


def test_bad_input():
    with pytest.raises(
        InputError, match=r"profile: unknown MIG profile of h100-sxm '1g.5gb'.*1g.10gb"
    ):
        mig.mig_profile("h100-sxm", "1g.5gb")
