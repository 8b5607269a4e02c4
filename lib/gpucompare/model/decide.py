"""Decision guide: the article's ``choose_gpu`` rules as written (first match wins), their
coverage of a grid of workloads, and a data-driven recommender that picks the cheapest
configuration of the catalog that fits and is fast enough.

Recommender: for each workload and catalog GPU, n = the fewest GPUs it fits in tensor parallelism
(1, 2, 4 or 8, :func:`gpucompare.model.memory.gpus_needed`), decode tokens/s on n GPUs
(:func:`gpucompare.model.throughput.decode_tokens_per_s_tp`), and cost per million tokens =
n x TCO (host share of an n-GPU host, :func:`gpucompare.model.tco.host_usd`; or n x rental) /
(tokens/s x u x seconds per year x years / 1e6)
(:mod:`gpucompare.model.tco`). Source of the rules: the article's ``choose_gpu``.

Training rules (:func:`training_rules`): B5 (multi-GPU training -> H100) and B6 (single-GPU
training -> RTX 4090 or H100) against the training model (:mod:`gpucompare.model.training`). Each
job is placed on the fewest cards of each GPU the rules name (:data:`ANSWER_GPUS`) that hold it
(:func:`gpucompare.model.training.placed_run`: one card, else ZeRO-3), as the training section and
``gpucompare train`` do. A job that needs more than one card of one of them (or fits no count) is
multi-GPU training, B5's case: the rule agrees when the H100 is the cheaper rental (or the only GPU
that finishes it). The others fit one card of each, B6's case: the rule agrees when the job fits
and finishes on one card of every GPU it names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from gpucompare.core import memo
from gpucompare.data import catalog
from gpucompare.model import memory, tco, throughput
from gpucompare.model import training as tr
from gpucompare.model import training_memory as tm
from gpucompare.params import Params


@dataclass(frozen=True)
class Rule:
    """One ``if ...: return ...`` of the article's ``choose_gpu``, in source order."""

    branch: str
    condition: str
    applies: Callable[[dict], bool]
    answer: str


#: The article's rules, transcribed in order (first match wins). The nested size rule is two
#: branches because its two arms are written separately, although both return "H100".
ARTICLE_RULES: tuple[Rule, ...] = (
    Rule(
        "B1 single-user small model",
        "model_size_B <= 13 and batch_size <= 4 and users == 1",
        lambda w: w["model_size_B"] <= 13 and w["batch_size"] <= 4 and w["users"] == 1,
        "RTX 4090",
    ),
    Rule(
        "B2 batch serving",
        "batch_size >= 16 or users >= 8",
        lambda w: w["batch_size"] >= 16 or w["users"] >= 8,
        "H100",
    ),
    Rule(
        "B3 large model, >= 4-bit",
        "model_size_B >= 30 and quantization_bits >= 4",
        lambda w: w["model_size_B"] >= 30 and w["quantization_bits"] >= 4,
        "H100",
    ),
    Rule(
        "B4 large model, < 4-bit",
        "model_size_B >= 30 and quantization_bits < 4",
        lambda w: w["model_size_B"] >= 30 and w["quantization_bits"] < 4,
        "H100",
    ),
    Rule(
        "B5 multi-GPU training",
        "type == 'training' and multi_gpu",
        lambda w: w["type"] == "training" and w["multi_gpu"],
        "H100",
    ),
    Rule(
        "B6 single-GPU training",
        "type == 'training' and not multi_gpu",
        lambda w: w["type"] == "training" and not w["multi_gpu"],
        "RTX 4090 or H100",
    ),
    Rule(
        "B7 development", "type == 'development'", lambda w: w["type"] == "development", "RTX 4090"
    ),
    Rule(
        "B8 edge (< 100 W)",
        "power_budget_watts < 100",
        lambda w: w["power_budget_watts"] < 100,
        "Neither",
    ),
    Rule("B9 default", "(nothing above)", lambda w: True, "H100"),
)

#: Workload grid over which the rules are enumerated (each value a typical case).
RULE_GRID = {
    "model_size_B": [1, 7, 13, 20, 34, 70],
    "batch_size": [1, 4, 8, 16, 64],
    "users": [1, 4, 8, 32],
    "quantization_bits": [2, 4, 8, 16],
    "type": ["inference", "training", "development"],
    "multi_gpu": [False, True],
    "power_budget_watts": [50, 300, 1000],
}


def article_choose_gpu(workload: dict) -> tuple[str, str]:
    """The article's answer and the branch that gives it (first matching rule)."""
    for rule in ARTICLE_RULES:
        if rule.applies(workload):
            return rule.answer, rule.branch
    raise AssertionError("the default rule always applies")


@memo.of_inputs(memo.copy_frame)
def rule_coverage() -> pd.DataFrame:
    """For each rule: how many grid workloads satisfy its own condition, how many it actually
    decides (first match), and the share of its own cases that earlier rules take first."""
    keys = list(RULE_GRID)
    workloads = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*RULE_GRID.values())
    ]
    decided = {r.branch: 0 for r in ARTICLE_RULES}
    own = {r.branch: 0 for r in ARTICLE_RULES}
    for w in workloads:
        decided[article_choose_gpu(w)[1]] += 1
        for r in ARTICLE_RULES:
            own[r.branch] += r.applies(w)
    rows = [
        {
            "branch": r.branch,
            "condition": r.condition,
            "answer": r.answer,
            "workloads_matching": own[r.branch],
            "workloads_decided": decided[r.branch],
            "shadowed_fraction": 1 - decided[r.branch] / own[r.branch] if own[r.branch] else None,
        }
        for r in ARTICLE_RULES
    ]
    return pd.DataFrame(rows).set_index("branch")


def rule_findings() -> list[str]:
    """Plain-language findings about the rules, derived from the enumeration."""
    cov = rule_coverage()
    out = []
    dead = cov.index[cov["workloads_decided"] == 0].tolist()
    if dead:
        out.append(f"never decide anything: {', '.join(dead)}")
    rules = cov.drop(index=ARTICLE_RULES[-1].branch)  # the default has no condition to shadow
    mostly = rules[
        (rules["shadowed_fraction"].astype(float) > 0.5) & (rules["workloads_decided"] > 0)
    ]
    for branch, row in mostly.iterrows():
        out.append(
            f"{branch} decides only {1 - row['shadowed_fraction']:.0%} of the workloads its condition describes"
        )
    b3, b4 = (cov.loc[b, "answer"] for b in ("B3 large model, >= 4-bit", "B4 large model, < 4-bit"))
    if b3 == b4:
        out.append(
            "the quantization test inside the large-model rule changes nothing: both arms return "
            + b3
        )
    edge = {
        "model_size_B": 7,
        "batch_size": 1,
        "users": 1,
        "quantization_bits": 4,
        "type": "inference",
        "multi_gpu": False,
        "power_budget_watts": 50,
    }
    answer, branch = article_choose_gpu(edge)
    out.append(
        f"a 50 W edge deployment of a 7B model gets '{answer}' from {branch} (a 450 W card): the edge rule comes too late"
    )
    return out


def rule_grid_size() -> int:
    """Number of workloads in :data:`RULE_GRID`."""
    n = 1
    for values in RULE_GRID.values():
        n *= len(values)
    return n


# --- Data-driven recommender ---------------------------------------------------------------------


def candidates_table(p: Params) -> pd.DataFrame:
    """Every catalog GPU for every workload, on the fewest GPUs it fits (1, 2, 4 or 8 in tensor
    parallelism): tokens/s, tokens/s per sequence, whether it meets ``min_user_tokens_per_s``, and
    cost per million tokens owning (GPUs x TCO) and renting (GPUs x rental)."""
    ov = memory.Overheads.from_params(p)
    rows = []
    for wl in p.workloads:
        model = catalog.get_model(wl.model)
        for g in catalog.gpu_ids():
            n = memory.gpus_needed(
                model,
                wl.weights,
                wl.kv_cache,
                wl.batch_size,
                wl.context_tokens,
                catalog.get_gpu(g),
                ov,
            )
            tps = None
            if n is not None:
                tps = throughput.decode_tokens_per_s_tp(
                    p, wl.model, wl.weights, wl.kv_cache, wl.batch_size, wl.context_tokens, g, n
                )
            row = {
                "workload": wl.name,
                "gpu": g,
                "gpus": n,
                "tokens_per_s": tps,
                "tokens_per_s_per_user": None,
                "meets_target": False,
                "usd_per_mtok_own": None,
                "usd_per_mtok_rent": None,
            }
            if tps:
                row["tokens_per_s_per_user"] = tps / wl.batch_size
                row["meets_target"] = tps / wl.batch_size >= p.min_user_tokens_per_s
                row["usd_per_mtok_own"] = tco.usd_per_million_tokens(
                    n * tco.tco_usd(p, g, gpus_per_host=n), tps, p.utilization, p.years
                )
                row["usd_per_mtok_rent"] = tco.usd_per_million_tokens(
                    n * tco.rent_usd(p, g), tps, p.utilization, p.years
                )
            rows.append(row)
    return pd.DataFrame(rows).set_index(["workload", "gpu"]).astype(object)


def _config(gpu_id: str, gpus: int) -> str:
    return gpu_id if gpus == 1 else f"{gpus} x {gpu_id}"


def recommend_table(p: Params) -> pd.DataFrame:
    """Per workload: the cheapest configuration of the whole catalog (one GPU type, as many GPUs as
    it needs in tensor parallelism, at most one node) that fits and gives each sequence at least
    ``min_user_tokens_per_s``, to own and to rent; None where no configuration qualifies."""
    t = candidates_table(p)
    rows = []
    for wl in p.workloads:
        ok = t.xs(wl.name, level="workload")
        ok = ok[ok["meets_target"].astype(bool)]
        row = {"workload": wl.name}
        for label in ("own", "rent"):
            col = f"usd_per_mtok_{label}"
            best = ok[col].dropna().astype(float).sort_values()
            row[f"best_to_{label}"] = (
                _config(best.index[0], int(ok.loc[best.index[0], "gpus"])) if len(best) else None
            )
            row[f"usd_per_mtok_{label}"] = best.iloc[0] if len(best) else None
        row["qualifying_configurations"] = len(ok)
        rows.append(row)
    return pd.DataFrame(rows).set_index("workload").astype(object).where(lambda f: f.notna(), None)


# --- Training rules against the training model ----------------------------------------------------

#: The catalog GPU each GPU name of the rules' answers means.
ANSWER_GPUS = {"H100": "h100-sxm", "RTX 4090": "rtx-4090"}
#: The article's training rules: multi-GPU (B5) and single-GPU (B6).
MULTI_GPU_RULE = "B5 multi-GPU training"
SINGLE_GPU_RULE = "B6 single-GPU training"


def rule(branch: str) -> Rule:
    """The rule of :data:`ARTICLE_RULES` with this branch name."""
    return next(r for r in ARTICLE_RULES if r.branch == branch)


def answer_gpus(answer: str) -> list[str]:
    """The catalog GPUs an answer names ("RTX 4090 or H100" -> rtx-4090, h100-sxm)."""
    return [ANSWER_GPUS[name] for name in answer.split(" or ") if name in ANSWER_GPUS]


def training_rule_gpus() -> list[str]:
    """The GPUs the training rules name, B5's first: h100-sxm, rtx-4090."""
    names = answer_gpus(rule(MULTI_GPU_RULE).answer) + answer_gpus(rule(SINGLE_GPU_RULE).answer)
    return list(dict.fromkeys(names))


def _rent(r: dict | None) -> float | None:
    return None if r is None else r["usd_rent"]


def training_rules(
    p: Params, jobs: list[tuple[str, tm.Setup]], tokens: float = tr.JOB_TOKENS
) -> pd.DataFrame:
    """Per job (label, setup at one GPU): the training rule that applies (module docstring), its
    answer, for each GPU it names the cards, hours and rental USD of ``tokens`` tokens (None where no
    count holds it or it never finishes), what the training model picks and whether the rule agrees.
    Indexed by (rule, job), B5's jobs first."""
    gpus = training_rule_gpus()
    rows = []
    for label, setup in jobs:
        runs = {g: tr.placed_run(p, setup, g, tokens) for g in gpus}
        multi = any(r is None or r["gpus"] > 1 for r in runs.values())
        branch = MULTI_GPU_RULE if multi else SINGLE_GPU_RULE
        answer = rule(branch).answer
        row = {"rule": branch, "job": label, "rule_says": answer}
        for g in gpus:
            r = runs[g]
            row[f"{g} gpus"] = None if r is None else r["gpus"]
            row[f"{g} hours"] = None if r is None else r["hours"]
            row[f"{g} rent_usd"] = _rent(r)
        costs = {g: c for g in gpus if (c := _rent(runs[g])) is not None}
        cheapest = min(costs, key=costs.get) if costs else None
        if multi:
            says = f"{cheapest} is cheaper to rent" if cheapest else "no GPU here finishes it"
            agrees = cheapest is not None and cheapest in answer_gpus(answer)
            if cheapest is not None and len(costs) == 1:
                says = f"only {cheapest} finishes it"
        else:
            named = answer_gpus(answer)
            agrees = all(runs[g] is not None and runs[g]["hours"] is not None for g in named)
            says = "fits one card of each" + (
                f"; {cheapest} is cheaper to rent" if cheapest else ""
            )
            if not agrees:
                says = "does not finish on one card of each"
        row["model_says"] = says
        row["agrees"] = agrees
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = {MULTI_GPU_RULE: 0, SINGLE_GPU_RULE: 1}
    frame = frame.sort_values("rule", key=lambda s: s.map(order), kind="stable")
    return frame.set_index(["rule", "job"]).astype(object).where(lambda f: f.notna(), None)
