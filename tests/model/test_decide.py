"""Decision guide: the article's rules as written, their coverage, and the recommender."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.data import catalog
from gpucompare.model import cost, decide, memory, tco

BASE = {
    "model_size_B": 7,
    "batch_size": 1,
    "users": 1,
    "quantization_bits": 16,
    "type": "inference",
    "multi_gpu": False,
    "power_budget_watts": 1000,
}


@pytest.mark.parametrize(
    ("changes", "answer"),
    [
        ({}, "RTX 4090"),  # small model, one user: first rule
        ({"batch_size": 32}, "H100"),  # batch serving
        ({"model_size_B": 70, "batch_size": 8}, "H100"),  # large model
        (
            {"model_size_B": 20, "batch_size": 8, "type": "training", "multi_gpu": False},
            "RTX 4090 or H100",
        ),
        ({"model_size_B": 20, "batch_size": 8, "type": "development"}, "RTX 4090"),
        ({"model_size_B": 20, "batch_size": 8, "power_budget_watts": 50}, "Neither"),
        ({"model_size_B": 20, "batch_size": 8}, "H100"),  # default
        # The edge rule never sees a small single-user model: the first rule answers first.
        ({"power_budget_watts": 50}, "RTX 4090"),
    ],
)
def test_article_rules_first_match(changes, answer):
    assert decide.article_choose_gpu({**BASE, **changes})[0] == answer


def test_coverage_counts_add_up():
    cov = decide.rule_coverage()
    # Every grid workload is decided by exactly one rule.
    assert cov["workloads_decided"].sum() == decide.rule_grid_size() == 6 * 5 * 4 * 4 * 3 * 2 * 3
    # First rule: sizes {1, 7, 13} x batches {1, 4} x users {1} = 3 x 2 x 1 = 6 of 6 x 5 x 4 = 120
    # (size, batch, users) combinations, each crossed with the 4 x 3 x 2 x 3 = 72 other settings.
    assert cov.loc["B1 single-user small model", "workloads_decided"] == 6 * 72
    # Both arms of the large-model rule answer H100, so the quantization test changes nothing.
    assert set(cov.loc[["B3 large model, >= 4-bit", "B4 large model, < 4-bit"], "answer"]) == {
        "H100"
    }


def test_findings_name_the_late_edge_rule_and_the_useless_quantization_test():
    text = " ".join(decide.rule_findings())
    assert "quantization test" in text and "edge rule comes too late" in text


def test_recommender_picks_cheapest_qualifying_configuration():
    p = params.make(min_user_tokens_per_s=10)
    cand = decide.candidates_table(p)
    rec = decide.recommend_table(p)
    for wl in p.workloads:
        sub = cand.xs(wl.name, level="workload")
        ok = sub[sub["meets_target"].astype(bool)]
        if ok.empty:
            assert rec.loc[wl.name, "best_to_own"] is None
            continue
        cheapest = min(ok.index, key=lambda g: ok.loc[g, "usd_per_mtok_own"])
        n = ok.loc[cheapest, "gpus"]
        assert rec.loc[wl.name, "best_to_own"] == (cheapest if n == 1 else f"{n} x {cheapest}")
        assert all(
            rec.loc[wl.name, "usd_per_mtok_own"] <= ok.loc[g, "usd_per_mtok_own"] for g in ok.index
        )


def test_candidates_use_the_fewest_gpus_that_fit_and_pay_for_all_of_them():
    p = params.make()
    cand = decide.candidates_table(p)
    row = cand.loc[("70B int4 batch 1", "rtx-4090")]
    # Llama-2-70B int4 (36.6 GB) needs two RTX 4090s (22.1 GB usable each).
    model, gpu = catalog.get_model("llama-2-70b"), catalog.get_gpu("rtx-4090")
    assert (
        row["gpus"]
        == memory.gpus_needed(model, "int4", "fp16", 1, 4096, gpu, memory.Overheads.from_params(p))
        == 2
    )
    expected = tco.usd_per_million_tokens(
        2 * tco.tco_usd(p, "rtx-4090"), row["tokens_per_s"], p.utilization, p.years
    )
    assert row["usd_per_mtok_own"] == pytest.approx(expected)


def test_a_stricter_speed_target_never_lowers_the_cost():
    loose = decide.recommend_table(params.make(min_user_tokens_per_s=1))
    strict = decide.recommend_table(params.make(min_user_tokens_per_s=60))
    for wl, row in strict.iterrows():
        if row["usd_per_mtok_own"] is not None:
            assert row["usd_per_mtok_own"] >= loose.loc[wl, "usd_per_mtok_own"] - 1e-12


def test_configurations_that_do_not_fit_have_no_cost():
    p = params.make()
    t = cost.cost_table(p)
    # Llama-2-7B fp16 at batch 32 x 4,096 tokens needs 82.2 GB: no single H100 (76.2 GB usable) or 4090.
    row = t.loc[("7B fp16 batch 32", "rtx-4090")]
    assert row["tokens_per_s"] is None and row["usd_per_mtok_own"] is None
    assert cost.winners_table(p).loc["7B fp16 batch 32", "cheapest_own"] is None
