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


def test_sources_list_every_inference_source(p):
    t = measurements.load_inference()
    src = throughput.sources().frame
    for name in set(t["source"]):
        assert name in src.index


def test_article_table_fraction_of_roofline(p):
    t = throughput.article_throughput(p).frame
    # 42 tok/s against 1,008e9 / (13,476,831,232 - 262,144,000 (the input table, a lookup)
    # + 2,147,483,648) = 65.6 tok/s.
    read = 2 * P7 - 2 * 32_000 * 4_096 + KV7 * 4096
    row = t.loc["tput-7b-fp16-bs1-4090"]
    assert row["datasheet_bandwidth_bound_tokens_per_s"] == pytest.approx(1008e9 / read)
    assert row["article / bandwidth bound"] == pytest.approx(42 * read / 1008e9)
    assert t.loc["tput-7b-fp16-bs32-4090", "model_tokens_per_s"] is None
