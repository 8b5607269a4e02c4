"""The audit of the article's decode throughput figures."""

from __future__ import annotations

import pytest

from gpucompare import audit
from gpucompare.data import catalog
from gpucompare.model import memory


def test_article_figures_verdicts():
    rows = {r["id"]: r for r in audit.run("throughput")}
    # 70B int4 at 4,096 tokens: 36.6 GB of weights less the 32,000 x 8,192 x 2-byte input table (a
    # lookup) + 1.34 GB KV -> 3,350 GB/s / 37.43 GB = 89.5 tok/s < 98.
    m70 = catalog.get_model("llama-2-70b")
    emb = 2 * 32_000 * 8_192
    w = (68_976_648_192 - emb) * (4 + 20 / 128) / 8 + emb * 2
    assert memory.weights_bytes(m70, "int4") == pytest.approx(w)
    bound = 3350e9 / (w - 32_000 * 8_192 * 2 + 2 * 80 * 8 * 128 * 2 * 4096)
    assert bound == pytest.approx(89.50, abs=0.01)
    assert rows["tput-70b-int4-bs1-h100"]["verdict"] == "wrong"
    assert "exceeds the datasheet bandwidth bound" in rows["tput-70b-int4-bs1-h100"]["explanation"]
    # Batch 32 x 4,096 tokens of 7B fp16 (82.2 GB) fits neither GPU: no computed value.
    for gid in ("h100", "4090"):
        r = rows[f"tput-7b-fp16-bs32-{gid}"]
        assert r["verdict"] == "wrong" and r["computed_value"] is None
        assert "does not fit" in r["explanation"]
    assert "fits up to 515 tokens" in rows["tput-7b-fp16-bs32-4090"]["explanation"]
    assert rows["tput-7b-fp16-bs1-4090"]["verdict"] == "ok"
    # 95 tok/s for 7B fp16 on an H100 is 44% of the bandwidth bound and inside the range the
    # engines' models span (the article names no engine): not wrong.
    assert rows["tput-7b-fp16-bs1-h100"]["verdict"] == "ok"
    assert "engines' models give" in rows["tput-7b-fp16-bs1-h100"]["explanation"]
