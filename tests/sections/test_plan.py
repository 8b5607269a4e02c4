"""The report's answer and the captions that count configurations: each caption agrees with its
own table (the defaults and every scenario), and the answer agrees with the planner."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.model import cost, decide, plan
from gpucompare.sections import decision, summary
from gpucompare.sections import plan as plan_section

SCENARIOS = sorted((paths.params_dir() / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module", params=[None, *SCENARIOS], ids=lambda s: s.stem if s else "default")
def p(request):
    return params.resolve([request.param] if request.param else [], [])[0]


def test_answer_rows_are_the_planners_best_options(p):
    t = plan_section.answer(p).frame
    for tr in p.traffic:
        result = plan.plan(p, plan.Load.of(tr))
        own = next((o for o in result["options"] if o["acquisition"] == "own"), None)
        row = t.loc[tr.name]
        assert row["Own: GPUs"] == (own["gpu_count"] if own else None)
        if result["best"]:
            assert row["Cheapest: time to first token (ms)"] == pytest.approx(
                result["best"]["ttft_ms"]
            )
            assert row["Cheapest: time to first token (ms)"] <= tr.ttft_ms
            assert row["Cheapest: time per output token (ms)"] <= tr.tpot_ms


def test_candidate_caption_counts_its_own_table(p):
    table = decision.recommendation_candidates(p)
    t = table.frame
    runs = t["tokens_per_s"].notna()
    one = int((runs & (t["gpus"] == 1)).sum())
    several = int((runs & (t["gpus"].fillna(0).astype(int) > 1)).sum())
    assert f"{one} run on one GPU, {several} need 2-8 GPUs" in table.caption


def test_summary_winners_name_multi_card_configurations(p):
    winners = cost.configuration_winners(p, decide.candidates_table(p))
    text = " ".join(summary.key_findings(p))
    for w, r in winners.iterrows():
        if r["cheapest_own"] is not None and r["gpus_own"] > 1:
            assert f"{w} ({r['gpus_own']} cards)" in text


def test_decision_options_rank_1_is_the_summary_answer(p):
    opts = plan_section.options(p).frame
    answer = plan_section.answer(p).frame
    for tr in p.traffic:
        if (tr.name, 1) not in opts.index:
            continue
        first = opts.loc[(tr.name, 1)]
        col = "Own" if first["Own or rent"] == "own" else "Rent"
        assert answer.loc[tr.name, f"{col}: GPUs"] == first["GPUs"]
        assert answer.loc[tr.name, f"{col}: $ per million output tokens"] == pytest.approx(
            first["$ per million output tokens"]
        )
