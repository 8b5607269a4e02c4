"""The reliability section's claims: each verdict, and the recomputed figures behind two of them."""

from __future__ import annotations

import pytest

from gpucompare import audit

GIB_IN_GB = 2**30 / 1e9  # 1.073741824


def test_claim_verdicts():
    t = audit.audit_table("reliability")
    expected = {
        # 1 per GB-year is 1.96x Titan's 0.511: within the 2x band.
        "rel-h100-correctable-per-gb-year": "ok",
        "rel-h100-correctable-per-year": "ok",
        # 0.01 per GPU-year against Meta's 72 / 2,424 GPU-years = 0.0297: 3x too few.
        "rel-h100-uncorrectable-per-gpu-year": "wrong",
        "rel-4090-flips-per-gb-month": "unverifiable",
        # 24 = 1 x 24 follows, but the field model gives 0.511 x 25.77 / 12 = 1.10 per month.
        "rel-4090-flips-per-month": "misleading",
        # 80 x 1,000 x 0.25 = 20,000, not 80,000.
        "rel-fleet-h100-correctable": "wrong",
        "rel-fleet-4090-silent": "misleading",
        # 96% against the measured 80.3%.
        "rel-h100-sustained-fraction": "wrong",
        "rel-4090-sustained-fraction": "unverifiable",
        "mig-h100-1g-instances": "ok",
        # 1/7 = 14.3% of slices, but 16 / 132 = 12.1% of the SMs.
        "mig-h100-1g-compute-fraction": "misleading",
        "mig-h100-1g-memory": "ok",
        # 140 against 989.4 x 16 / 132 = 119.9.
        "mig-h100-1g-tflops": "wrong",
        # 30,000 / 7 = 4,286.
        "mig-h100-cost-per-model": "ok",
        "mig-7b-int4-weights": "ok",
        # 4 + 6 = 10 GB does not fit 8 GiB = 8.59 GB usable.
        "mig-7b-int4-need": "wrong",
    }
    assert t["verdict"].to_dict() == expected
    assert t.loc["rel-fleet-h100-correctable", "computed_value"] == pytest.approx(
        0.51 * 80 * GIB_IN_GB * (1 - 0.00073) * 1000 * 0.25
    )
    assert t.loc["mig-h100-1g-tflops", "computed_value"] == pytest.approx(989.4 * 16 / 132)
