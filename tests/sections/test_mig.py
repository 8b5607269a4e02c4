"""MIG tables of the reliability section: GPUs without MIG are shown as not supported."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.sections import mig


@pytest.fixture
def p():
    return params.validate(params.defaults_dict())


def test_tenants_tables(p):
    t = mig.tenants_per_gpu(p).frame
    assert (t["rtx-4090 tenants"] == "not supported").all()
    assert mig.support(p).frame.loc["rtx-4090", "mig"] == "not supported"


def test_profile_table_uses_the_lgip_sm_counts(p):
    # H100 80GB HBM3 `nvidia-smi mig -lgip` (issue 17): 1g.20gb 26 SMs, 3g.40gb 60, 7g.80gb 132;
    # peak = SMs / 132 x 989.4 TFLOPS: 26 -> 194.9, 60 -> 449.7.
    t = mig.profiles(p).frame
    assert t.loc[("h100-sxm", "1g.20gb"), "sm_count"] == 26
    assert t.loc[("h100-sxm", "3g.40gb"), "sm_count"] == 60
    assert t.loc[("h100-sxm", "7g.80gb"), "sm_share_of_gpu"] == pytest.approx(1.0)
    assert t.loc[("h100-sxm", "3g.40gb"), "peak_fp16_tflops"] == pytest.approx(449.73, abs=0.01)


def test_profile_caption_names_derived_counts():
    with_h200 = params.make(gpus=["h200-sxm", "rtx-4090"])
    caption = mig.profiles(with_h200).caption
    assert "h200-sxm 1g.35gb, h200-sxm 4g.71gb inferred" in caption
    assert "inferred" not in mig.profiles(params.make()).caption
