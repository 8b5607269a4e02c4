"""Cost claims: the article's cost figures recomputed with its own formula and inputs."""

from __future__ import annotations

import pytest

from gpucompare import audit


def test_audit_reverses_the_batch_serving_verdict():
    rows = {r["id"]: r for r in audit.run("tco")}
    # With the article's own inputs: RTX 4090 at 320 tok/s costs $2,535.84 / (320 x 94.608 M) = $0.0838/M;
    # H100 at 2,800 tok/s costs $31,471.68 / (2,800 x 94.608 M) = $0.1188/M: the 4090 is cheaper.
    r = rows["winner-7b-fp16-bs32"]
    assert r["verdict"] == "wrong"
    assert r["computed_value"] == pytest.approx(
        (2535.84 / (320 * 94.608)) / (31471.68 / (2800 * 94.608)), rel=1e-4
    )
    assert rows["winner-7b-fp16-bs1"]["verdict"] == "ok"
    assert rows["cpm-h100-7b-fp16-bs1"]["verdict"] == "wrong"
    assert rows["cpm-h100-13b-fp16-bs1"]["verdict"] == "unverifiable"
