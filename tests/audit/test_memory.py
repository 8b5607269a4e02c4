"""Memory claims of the article's decision code and quantization remarks, by hand."""

from __future__ import annotations

import pytest

from gpucompare import audit

GIB = 2**30
# RTX 4090 usable memory at the defaults: 24 GiB x 0.9 - 1 GiB = 20.6 GiB = 22.119 GB.
USABLE_4090 = (24 * 0.9 - 1) * GIB
# Llama-2-70B: 68,976,648,192 parameters (together-python pcount table); KV at fp16 for one
# 4,096-token sequence = 2 x 80 layers x 8 KV heads x 128 x 2 B x 4,096 = 1,342,177,280 B.
PARAMS_70B = 68_976_648_192
KV_70B = 2 * 80 * 8 * 128 * 2 * 4096


@pytest.fixture(scope="module")
def rows():
    return {r["id"]: r for r in audit.run("memory")}


def test_70b_at_2_bit(rows):
    # "Even at 2-bit, 70B = 18 GB": 68.98e9 x 2 / 8 = 17.24 GB (70e9 nominal: 17.5), within 5%.
    r = rows["mem-70b-2bit-weights"]
    assert r["computed_value"] == pytest.approx(PARAMS_70B * 2 / 8 / 1e9)
    assert r["verdict"] == "ok"


def test_4090_runs_70b_only_below_three_bits(rows):
    # Room for weights = 22.119 GB - 1.342 GB of KV = 20.777 GB -> 20.777e9 x 8 / 68.98e9 = 2.41 bits.
    # At 3 bits the weights alone are 68.98e9 x 3 / 8 = 25.87 GB > the card's 24 GiB (25.77 GB).
    r = rows["mem-4090-70b-bits"]
    assert r["computed_value"] == pytest.approx((USABLE_4090 - KV_70B) * 8 / PARAMS_70B)
    assert r["computed_value"] == pytest.approx(2.41, abs=0.01)
    assert PARAMS_70B * 3 / 8 > 24 * GIB
    assert r["verdict"] == "wrong"


def test_70b_fits_some_number_of_4090s(rows):
    # FP16: 137.95 GB of weights / 8 GPUs = 17.24 GB + KV / 8 (8 KV heads over 8 GPUs) = 17.41 GB
    # <= 22.12 usable, while 4 GPUs need 34.5 GB each: 8 RTX 4090s hold it. INT4 (AWQ, 4 + 20/128 bits,
    # embeddings fp16: ~36.2 GB) fits 2 (18.1 + 0.67 GB each).
    r = rows["mem-70b-fp16-any-4090s"]
    assert PARAMS_70B * 2 / 8 / 1e9 + KV_70B / 8 / 1e9 <= USABLE_4090 / 1e9
    assert PARAMS_70B * 2 / 4 / 1e9 > USABLE_4090 / 1e9
    assert r["computed_value"] is True
    assert r["verdict"] == "wrong"
    assert "fp16: 8 GPUs; int4: 2 GPUs" in r["explanation"]
