"""The decision section (``notebooks/07_decision.ipynb``): the article's ``choose_gpu`` rules and
what they cover, its training rules against the training model, the data-driven recommendation,
and where each chosen GPU wins, each as a ready table or figure with its caption."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from gpucompare.model import cost, decide
from gpucompare.model import training as tr
from gpucompare.model.tco import tco_usd
from gpucompare.params import Params
from gpucompare.sections import display
from gpucompare.sections import tco as tco_section
from gpucompare.sections import training as training_section
from gpucompare.sections.figures import colour, legend, new
from gpucompare.sections.prose import join_words


def article_rules() -> display.Table:
    """For each rule: how many grid workloads it matches and decides, and how often it is shadowed."""
    cov = decide.rule_coverage()
    first_two = int(cov["workloads_decided"].iloc[:2].sum())
    n = decide.rule_grid_size()
    caption = (
        f"The first two rules decide {first_two:,} of {n:,} workloads "
        f"({first_two / n:.0%}); the later, more specific rules rarely get a say."
    )
    return display.table(cov, "article_rules", caption)


def article_rule_findings() -> display.Table:
    """The findings of :func:`gpucompare.model.decide.rule_findings` as a one-column table."""
    findings = decide.rule_findings()
    frame = pd.DataFrame({"finding": findings}, index=pd.RangeIndex(1, len(findings) + 1, name="#"))
    return display.table(
        frame, "article_rule_findings", "What the enumeration shows about the rules."
    )


def training_rules(p: Params) -> display.Table:
    """The training rules B5 and B6 against the training model: per training job (parameter
    ``training_jobs``, :data:`gpucompare.model.training.JOB_TOKENS` tokens each) the rule that
    applies, cards, hours and rental cost on each GPU the rules name, the model's pick and whether
    they agree (:func:`gpucompare.model.decide.training_rules`), captioned with the agreement of
    each rule."""
    t = decide.training_rules(p, training_section.jobs(p), tr.JOB_TOKENS)
    dollars = {c: 2 for c in t.columns if c.endswith(" rent_usd")}
    return display.table(t, "decision_training_rules", _training_rules_caption(t), **dollars)


def _training_rules_caption(t: pd.DataFrame) -> str:
    """Per rule: its answer, for how many of its jobs it agrees, and the cheaper rental per job."""
    parts = []
    for branch in (decide.MULTI_GPU_RULE, decide.SINGLE_GPU_RULE):
        if branch not in t.index.get_level_values("rule"):
            continue
        rows = t.xs(branch, level="rule")
        agree = int(rows["agrees"].astype(bool).sum())
        code, _, case = branch.partition(" ")
        rule = f"rule {code} ({case}: {rows['rule_says'].iloc[0]})"
        multi = branch == decide.MULTI_GPU_RULE
        n = len(rows)
        if n == 1:
            what = "needs several cards of one of its GPUs" if multi else "fits one card of each"
            verb = "agrees with" if agree else "disagrees with"
            text = f"{rule} {verb} the training model on the one job, which {what}"
        else:
            what = "need several cards of one of its GPUs" if multi else "fit one card of each"
            share = "all" if agree == n else f"{agree} of"
            text = f"{rule} agrees with the training model for {share} {n} jobs that {what}"
        failing = [str(j) for j in rows.index[~rows["agrees"].astype(bool)]]
        if failing and not multi:  # they fit one card of each: one of them never finishes
            text += (
                f" ({join_words(failing)} never finishing on one of them: memory-error rollbacks "
                "outpace its checkpoints)"
            )
        cheaper = _cheaper_rentals(rows)
        if cheaper:
            text += "; renting, " + cheaper
        parts.append(text)
    body = "; ".join(parts) if parts else "no training job"
    return f"For {tr.JOB_TOKENS / 1e6:,.0f} million tokens of each fine-tuning job, {body}."


def _cheaper_rentals(rows: pd.DataFrame) -> str:
    """'the h100-sxm is cheaper for a and b and the rtx-4090 for c', from the rent columns."""
    cost_columns = [c for c in rows.columns if c.endswith(" rent_usd")]
    by_gpu: dict[str, list[str]] = {}
    for job, row in rows.iterrows():
        costs = {c.split(" ")[0]: row[c] for c in cost_columns if row[c] is not None}
        if costs:
            by_gpu.setdefault(min(costs, key=costs.get), []).append(str(job))
    items = list(by_gpu.items())
    return join_words(
        f"the {g} is cheaper for {join_words(jobs)}"
        if i == 0
        else f"the {g} for {join_words(jobs)}"
        for i, (g, jobs) in enumerate(items)
    )


def recommendation(p: Params) -> display.Table:
    """Per workload: the cheapest qualifying configuration of the whole catalog, to own and to rent."""
    t = decide.recommend_table(p)
    counts = t["best_to_own"].value_counts()
    parts = [f"{g} ({n})" for g, n in counts.items()]
    none = int(t["best_to_own"].isna().sum())
    tail = f"; {none} workload(s) fit no configuration" if none else ""
    caption = (
        f"Cheapest configuration to own that fits and gives every sequence at least {p.min_user_tokens_per_s:g} tokens/s: "
        + (", ".join(parts) if parts else "none")
        + tail
        + "."
    )
    return display.table(t, "recommendation", caption)


def recommendation_candidates(p: Params) -> display.Table:
    """Every catalog GPU for every workload on the fewest GPUs it fits, with speed and cost."""
    t = decide.candidates_table(p)
    runs = t["tokens_per_s"].notna()
    one = int((runs & (t["gpus"] == 1)).sum())
    several = int((runs & (t["gpus"].fillna(0).astype(int) > 1)).sum())
    meets = int(t["meets_target"].astype(bool).sum())
    caption = (
        f"Of {len(t)} workload-GPU pairs, {one} run on one GPU, {several} need 2-8 GPUs in "
        f"tensor parallelism, {len(t) - one - several} fit no node or cannot run; {meets} meet "
        f"{p.min_user_tokens_per_s:g} tokens/s per sequence."
    )
    return display.table(t, "recommendation_candidates", caption)


def decision_winners(p: Params) -> display.Table:
    """The cost section's winners table, shown again here."""
    return dataclasses.replace(tco_section.cost_winners(p), name="decision_winners")


def perf_per_dollar(p: Params) -> display.Figure:
    """Bars: decode tokens/s per 1,000 USD of TCO for each workload on each chosen GPU (missing = does not fit)."""
    t = cost.cost_table(p)
    names = [wl.name for wl in p.workloads]
    fig, ax = new(
        "Throughput per dollar (owning)",
        "workload",
        "throughput per cost (decode tokens/s per 1,000 USD of TCO)",
    )
    x = np.arange(len(names))
    width = 0.8 / len(p.gpus)
    for i, g in enumerate(p.gpus):
        vals = [
            (t.loc[(n, g), "tokens_per_s"] or 0) / (tco_usd(p, g) / 1000)
            if t.loc[(n, g), "tokens_per_s"]
            else np.nan
            for n in names
        ]
        ax.bar(x + (i - (len(p.gpus) - 1) / 2) * width, vals, width, label=g, color=colour(i))
    ax.set_xticks(x, [tco_section.figure_literal(n) for n in names], rotation=20, ha="right")
    legend(ax)

    wl = p.workloads[0]
    best_vals = {
        g: t.loc[(wl.name, g), "tokens_per_s"] / (tco_usd(p, g) / 1000)
        for g in p.gpus
        if t.loc[(wl.name, g), "tokens_per_s"]
    }
    if not best_vals:
        caption = f"No chosen GPU fits {wl.name}."
    else:
        best = max(best_vals, key=best_vals.get)
        caption = f"For {wl.name}, {best} gives the most throughput per dollar: {best_vals[best]:.1f} tokens/s per 1,000 USD of TCO; missing bars do not fit."
    return display.figure(fig, "perf_per_dollar", caption)


def sources() -> display.Table:
    """The cloud-price sources (the costs' data), one row per source."""
    return dataclasses.replace(tco_section.sources(), name="decision_sources")
