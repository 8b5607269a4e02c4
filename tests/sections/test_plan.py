"""The report's answer and the captions that count configurations: each caption agrees with its
own table (the defaults and every scenario), and the answer agrees with the planner."""

from __future__ import annotations

import pandas as pd
import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.model import cost, decide, plan
from gpucompare.sections import decision, summary
from gpucompare.sections import plan as plan_section
from gpucompare.sections import tco as tco_section

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
        if own is None:
            assert row["Best to own"] is None
        else:  # "34 x rtx-5090 (17 replicas of 2)": GPUs in all first
            assert row["Best to own"].startswith(f"{own['gpu_count']} x {own['gpu']}")
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
        label = "Best to own" if col == "Own" else "Best to rent"
        assert answer.loc[tr.name, label].startswith(f"{first['GPUs']} x {first['GPU']}")
        assert answer.loc[tr.name, f"{col}: $ per million output tokens"] == pytest.approx(
            first["$ per million output tokens"]
        )


def test_cost_by_gpu_cheapest_rows_are_the_answer_and_the_caption_names_them(p):
    table = plan_section.by_gpu(p)
    t = table.frame
    answer = plan_section.answer(p).frame
    for tr in p.traffic:
        if tr.name not in t.index.get_level_values("Service"):
            continue
        sub = t.xs(tr.name, level="Service")
        for word in ("Own", "Rent"):
            money = pd.to_numeric(sub[f"{word}: $ per million output tokens"], errors="coerce")
            if money.notna().any():
                best_gpu = money.idxmin()
                label = answer.loc[tr.name, f"Best to {word.lower()}"]
                assert label.startswith(f"{int(sub.loc[best_gpu, f'{word}: GPUs'])} x {best_gpu}")
                assert money.min() == pytest.approx(
                    answer.loc[tr.name, f"{word}: $ per million output tokens"]
                )
        own = pd.to_numeric(sub["Own: $ per month"], errors="coerce").dropna()
        if len(own):
            assert f"{tr.name}: owning {own.idxmin()} (${own.min():,.0f} a month)" in table.caption


def test_excluded_caption_counts_its_table(p):
    table = plan_section.excluded(p)
    assert table.caption.startswith(f"{len(table.frame)} GPU groups")
    for why, n in table.frame["Why no replica count works"].value_counts().items():
        assert f"{n} because {why}" in table.caption


def test_cost_winners_caption_counts_multi_card_wins(p):
    table = tco_section.cost_winners(p)
    t = table.frame
    for g in p.gpus:
        won = t[t["cheapest_own"] == g]
        several = int((won["gpus_own"].fillna(1).astype(int) > 1).sum())
        expected = f"{g} for {len(won)}" + (f" ({several} on several cards)" if several else "")
        assert expected in table.caption


def test_mixed_fleet_caption_follows_its_table(p):
    table = plan_section.mixed_fleets(p)
    t = table.frame
    for service, row in t.iterrows():
        saving = row["Saving (%)"]
        # The 10% rule of the issue, applied to the table's own numbers.
        if saving is not None:
            assert (row["Use the mixed fleet"] == "yes") == (saving >= 10 - 1e-9)
            assert row["Mixed: $ per month"] <= row["One GPU type: $ per month"] + 1e-6
        if row["Use the mixed fleet"] == "yes":
            assert service in table.caption
    if len(t) and not (t["Use the mixed fleet"] == "yes").any():
        assert "no mixed fleet saves 10% or more" in table.caption


def test_a_mix_whose_means_disagree_with_the_service_is_refused():
    from gpucompare.core.errors import InputError

    service = {
        "name": "s",
        "model": "llama-2-7b",
        "requests_per_s": 1,
        "ttft_ms": 1000,
        "tpot_ms": 50,
        "mix": [
            {"name": "a", "share": 0.5, "prompt_tokens": 100, "output_tokens": 100},
            {"name": "b", "share": 0.5, "prompt_tokens": 300, "output_tokens": 100},
        ],
    }
    # Means filled in from the mix: (100 + 300) / 2 = 200 prompt tokens, 100 output tokens.
    t = params.make(traffic=[service]).traffic[0]
    assert (t.prompt_tokens, t.output_tokens) == (200, 100)
    with pytest.raises(InputError, match="prompt_tokens: 500 is not the mix's weighted mean 200"):
        params.make(traffic=[{**service, "prompt_tokens": 500}])
    bad = {**service, "mix": [{**service["mix"][0], "share": 0.7}, service["mix"][1]]}
    with pytest.raises(InputError, match=r"the shares sum to 1\.2, not 1"):
        params.make(traffic=[bad])


def test_users_and_think_time_give_the_request_rate():
    from gpucompare.core.errors import InputError

    service = {
        "name": "s",
        "model": "llama-2-7b",
        "prompt_tokens": 500,
        "output_tokens": 200,
        "ttft_ms": 1000,
        "tpot_ms": 50,
    }
    # 300 users, each thinking 60 s between requests: at most 300 / 60 = 5 requests/s.
    t = params.make(traffic=[{**service, "concurrent_users": 300, "think_time_s": 60}]).traffic[0]
    assert t.requests_per_s == 5.0
    # A validated service read again (all three fields) is accepted; a contradiction is not.
    again = params.make(traffic=[t.model_dump()]).traffic[0]
    assert again.requests_per_s == 5.0
    with pytest.raises(
        InputError, match=r"requests_per_s: 7 is not concurrent_users / think_time_s = 5"
    ):
        params.make(
            traffic=[{**service, "concurrent_users": 300, "think_time_s": 60, "requests_per_s": 7}]
        )
    with pytest.raises(InputError, match="think_time_s: needed with concurrent_users"):
        params.make(traffic=[{**service, "concurrent_users": 300}])


def test_answer_says_when_the_cheapest_gpu_has_no_speed_measurement(p):
    from gpucompare.model import calibration

    table = plan_section.answer(p)
    for tr in p.traffic:
        best = plan.plan(p, plan.Load.of(tr))["best"]
        if not best:
            continue
        rows = calibration.parameters(p.engine, best["gpu"])["fitted_on_rows"]
        assert table.frame.loc[tr.name, "Cheapest: speed measurements of its GPU"] == rows
        if rows == 0:
            assert f"No public {p.engine} measurement exists for" in table.caption
            assert best["gpu"] in table.caption.split("measurement exists for")[1]
