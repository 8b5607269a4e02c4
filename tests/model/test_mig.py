"""MIG formulas: max batch in a slice by hand, SM shares and peaks, cost per tenant, tenants per GPU."""

from __future__ import annotations

import math

import pytest

from gpucompare import params
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
    assert mig.mig_sm_count("h100-sxm", "1g.20gb") == 16
    assert mig.mig_sm_count("a100-sxm-80gb", "1g.10gb") is None


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
