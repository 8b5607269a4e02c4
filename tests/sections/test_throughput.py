"""Throughput results of notebook 03: the workloads' decode table, the model against published
measurements and the article's throughput figures."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.data import measurements
from gpucompare.sections import throughput

P7 = 6_738_415_616
KV7 = 2 * 32 * 32 * 128 * 2  # 524,288 B/token at fp16


@pytest.fixture
def p():
    return params.make()


def test_decode_table_says_does_not_fit(p):
    t = throughput.decode_workloads(p).frame
    row = t.loc[("7B fp16 batch 32", "rtx-4090")]
    assert row["tokens_per_s"] is None and row["bound"] == "does not fit"
    assert {"tokens_per_s", "bound"} <= set(t.columns)
    assert len(t) == len(p.workloads) * len(p.gpus)


def test_public_measurements_load_and_compare(p):
    t = measurements.load_public_decode()
    assert len(t) >= 3
    assert t["url"].str.startswith("https://").all()
    table = throughput.public_comparison(p)
    cmp = table.frame
    assert len(cmp) == len(t)
    assert cmp.loc["mlc-4090-7b-int4-b1", "measured_tokens_per_s"] == 204.8
    err = cmp["error_pct"].astype(float)
    assert err.abs().median() < 50  # the model is a roofline, not a simulator: state, don't hide
    assert "median absolute error" in table.caption


def test_article_table_fraction_of_roofline(p):
    t = throughput.article_throughput(p).frame
    # 42 tok/s against 1,008e9 / (13,476,831,232 + 2,147,483,648) = 64.5 tok/s.
    row = t.loc["tput-7b-fp16-bs1-4090"]
    assert row["datasheet_bandwidth_bound_tokens_per_s"] == pytest.approx(
        1008e9 / (2 * P7 + KV7 * 4096)
    )
    assert row["article / bandwidth bound"] == pytest.approx(42 * (2 * P7 + KV7 * 4096) / 1008e9)
    assert t.loc["tput-7b-fp16-bs32-4090", "model_tokens_per_s"] is None
