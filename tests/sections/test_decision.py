"""The decision page's check of the article's training rules (B5, B6) against the training model:
which rule each job falls under (by hand from ZeRO's 16 bytes per parameter), agreement with the
training claims of the audit and with the training section's numbers, the caption against its
table, and runs that never finish. The agreement with ``gpucompare train --json`` is tested in
tests/test_cli_train.py."""

from __future__ import annotations

import pytest

from gpucompare import audit, params
from gpucompare.data import claims as claims_data
from gpucompare.model import decide
from gpucompare.sections import decision
from gpucompare.sections import training as training_section

GB = 1e9
GIB = 2**30
B5, B6 = "B5 multi-GPU training", "B6 single-GPU training"


@pytest.fixture(scope="module")
def p():
    return params.make()


@pytest.fixture(scope="module")
def shown(p):
    return decision.training_rules(p)


def test_the_rules_name_the_h100_and_the_rtx_4090():
    # The article: B5 'return "H100"', B6 'return "RTX 4090 or H100"'.
    assert decide.rule(B5).answer == "H100" and decide.rule(B6).answer == "RTX 4090 or H100"
    assert decide.answer_gpus("RTX 4090 or H100") == ["rtx-4090", "h100-sxm"]
    assert decide.training_rule_gpus() == ["h100-sxm", "rtx-4090"]


def test_jobs_fall_under_the_rule_their_memory_decides(shown):
    t = shown.frame
    # Full fine-tuning of Llama 2 7B keeps 16 bytes per parameter (ZeRO §3.1): 107.8 GB, more than
    # one 80 GiB H100 (85.9 GB) holds, so it is multi-GPU training on both cards.
    assert 16 * 6_738_415_616 / GB > 80 * GIB / GB
    row = t.loc[(B5, "Llama 2 7B full")]
    assert row["h100-sxm gpus"] == 2 and row["rtx-4090 gpus"] == 8
    # Llama 2 70B in NF4 alone (68.98e9 x 4.127 / 8 = 35.6 GB) exceeds a 24 GiB card: B5 through
    # the RTX 4090 although one H100 holds it.
    assert 68_976_648_192 * (4 + 8 / 64 + 32 / (64 * 256)) / 8 / GB > 24 * GIB / GB
    row = t.loc[(B5, "Llama 2 70B QLoRA")]
    assert row["h100-sxm gpus"] == 1 and row["rtx-4090 gpus"] == 2
    # LoRA of 7B: 2 bytes per frozen weight, 16 per adapter weight, fits one card of each: B6.
    for g in ("h100-sxm", "rtx-4090"):
        assert t.loc[(B6, "Llama 2 7B LoRA"), f"{g} gpus"] == 1
    # Every job once, B5's first.
    assert sorted(t.index.get_level_values("job")) == sorted(
        j.name for j in params.make().training_jobs
    )
    assert list(dict.fromkeys(t.index.get_level_values("rule"))) == [B5, B6]


def test_agreement_is_what_the_audit_finds_for_the_rules(p, shown):
    """The decision page and the claims page judge B5 and B6 on the same jobs (the claims' job lists
    are the default jobs of each rule) and find the same share of agreement."""
    t = shown.frame
    rows = audit.audit_table("training")
    by_id = {c.id: c for c in claims_data.claims(section="training")}
    for rule, claim_id in ((B5, "train-rule-b5-multi-gpu"), (B6, "train-rule-b6-single-gpu")):
        mine = t.xs(rule, level="rule")
        claim_jobs = {(j["model"], j["method"]) for j in by_id[claim_id].check["jobs"]}
        jobs = {j.name: (j.model, j.method) for j in p.training_jobs}
        assert {jobs[name] for name in mine.index} == claim_jobs
        share = mine["agrees"].astype(bool).mean()
        assert share == pytest.approx(rows.loc[claim_id, "computed_value"])
    # B5: the H100 is the cheaper rental for the two full fine-tunes, not for 70B QLoRA (2 RTX 4090s).
    b5 = t.xs(B5, level="rule")
    assert b5["agrees"].tolist() == [
        b5.loc[j, "h100-sxm rent_usd"] < b5.loc[j, "rtx-4090 rent_usd"] for j in b5.index
    ]
    assert rows.loc["train-rule-b5-multi-gpu", "verdict"] == "misleading"
    assert rows.loc["train-rule-b6-single-gpu", "verdict"] == "ok"


def test_the_numbers_are_the_training_sections(p, shown):
    section = training_section.time_and_cost(p).frame
    for (_, job), row in shown.frame.iterrows():
        for g in ("h100-sxm", "rtx-4090"):
            assert row[f"{g} gpus"] == section.loc[(job, g), "gpus"]
            assert row[f"{g} hours"] == pytest.approx(section.loc[(job, g), "hours"])
            assert row[f"{g} rent_usd"] == pytest.approx(section.loc[(job, g), "cost_usd_rent"])


def test_caption_agrees_with_its_table(shown):
    t, caption = shown.frame, shown.caption
    b5, b6 = (t.xs(r, level="rule") for r in (B5, B6))
    n5 = int(b5["agrees"].astype(bool).sum())
    assert (
        f"rule B5 (multi-GPU training: H100) agrees with the training model for {n5} of {len(b5)}"
        in caption
    )
    assert f"for all {len(b6)} jobs that fit one card of each" in caption
    assert "the h100-sxm is cheaper for Llama 2 7B full and Llama 3 8B full" in caption
    assert "the rtx-4090 for Llama 2 70B QLoRA" in caption
    shown._repr_mimebundle_()


def test_runs_that_never_finish_do_not_agree_with_b6():
    """At a million memory errors per GB-year a GPU without ECC rolls back faster than it
    checkpoints: the RTX 4090 finishes nothing, so B6 ('either card') fails and B5 is left with the
    H100 alone."""
    q = params.make(dram_errors_per_gb_year=1e6)
    shown = decision.training_rules(q)
    t = shown.frame
    b6 = t.xs(B6, level="rule")
    assert not b6["agrees"].astype(bool).any()
    assert (b6["model_says"] == "does not finish on one card of each").all()
    assert b6["rtx-4090 hours"].isna().all() and b6["h100-sxm hours"].notna().all()
    b5 = t.xs(B5, level="rule")
    assert b5["agrees"].astype(bool).all()
    assert (b5["model_says"] == "only h100-sxm finishes it").all()
    assert "agrees with the training model for all" in shown.caption
    shown._repr_mimebundle_()
