"""Spec claims: the article's per-SM decomposition of the H100 / RTX 4090 gap, by hand."""

from __future__ import annotations

import pytest

from gpucompare import audit


def test_net_factor_of_the_wgmma_derivation():
    # The article: "Net: 2x * 1.03 * 0.73 = 1.50x per SM" (its arithmetic holds: 1.504).
    # Whitepapers: H100 SXM 989.4 TFLOPS / (132 SMs x 1,830 MHz x 2) = 2,048 FMA/clock/SM; RTX 4090
    # 330.3 TFLOPS (FP16 accumulate) / (128 x 2,520 MHz x 2) = 512, 256 with FP32 accumulate.
    # Its own three factors with the real per-SM rate: 2048/512 x 132/128 x 1830/2520 = 2.9955x,
    # 989.4 / 330.3, the 3x of its own table; 2048/256 x ... = 5.991x like for like (FP32 accumulate).
    r = {x["id"]: x for x in audit.run("specs")}["derivation-net-factor"]
    assert r["computed_value"] == pytest.approx(4 * 132 / 128 * 1830 / 2520, rel=1e-6)
    assert r["computed_value"] == pytest.approx(989.4 / 330.3, rel=1e-3)
    assert r["verdict"] == "wrong"
    assert "multiply to 1.50" in r["explanation"] and "5.99x" in r["explanation"]
