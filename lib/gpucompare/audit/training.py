"""Claim checks of the training section: the article's training claims recomputed with the training
model (:mod:`gpucompare.model.training`) and the memory-error model (:mod:`gpucompare.model.ecc`) at
the default parameters.

A claim's jobs are ``{model, method}`` (AdamW, bf16, 2,048-token sequences, one sequence per
micro-batch), each placed on the fewest GPUs that hold it (:func:`gpucompare.model.training.smallest_fit`:
one GPU, else ZeRO-3) and run for the claim's ``tokens``.
"""

from __future__ import annotations

from dataclasses import replace

from gpucompare import params
from gpucompare.audit.finding import Finding, Verdict
from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.data.interconnect import max_gpus_per_node
from gpucompare.data.training import load_training
from gpucompare.model import ecc
from gpucompare.model import training as tr
from gpucompare.model import training_memory as tm
from gpucompare.params import Params

#: The article's "would produce incorrect results" holds when a run is more likely than not to see a
#: silent memory error (an assumption of this report).
LIKELY = 0.5
#: Methods in words.
METHOD_WORDS = {"full": "full fine-tuning", "lora": "LoRA", "qlora": "QLoRA"}


def setup_of(job: dict) -> tm.Setup:
    """The checked :class:`~gpucompare.model.training_memory.Setup` of a claim's job."""
    return tm.Setup(
        model=job["model"],
        method=job["method"],
        optimizer=job.get("optimizer", "adamw"),
        zero=job.get("zero", 0),
    ).check()


def label(job: dict) -> str:
    """``Llama 2 7B full fine-tuning``."""
    return f"{catalog.get_model(job['model']).name} {METHOD_WORDS[job['method']]}"


def run(p: Params, job: dict, gpu_id: str, tokens: float) -> dict | None:
    """The job on the fewest ``gpu_id`` GPUs that hold it: ``gpus``, ``setup`` and the speed, time and
    cost of :func:`gpucompare.model.training.speed_time_cost`; None when no GPU count holds it."""
    return tr.placed_run(p, setup_of(job), gpu_id, tokens)


def _usd(x: float | None) -> str:
    return "never finishes" if x is None else f"${x:,.2f}"


def _cards(n: int) -> str:
    return f"{n} card" if n == 1 else f"{n} cards"


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _span(values: list[float], spec: str, prefix: str = "") -> str:
    """``lo-hi`` (one number when both print the same) with ``prefix`` on each: "$3.00-3.52"."""
    lo, hi = f"{prefix}{min(values):{spec}}", f"{max(values):{spec}}"
    return lo if lo == f"{prefix}{hi}" else f"{lo}-{hi}"


def _share_verdict(share: float) -> Verdict:
    """A claim that something holds for every job: ok for all, wrong for none, else misleading."""
    return "ok" if share == 1 else ("wrong" if share == 0 else "misleading")


def _check_distributed(c: Claim) -> Finding:
    """Data-parallel training over the GPU's PCIe link: the scaling efficiency at each GPU count of
    ``gpu_counts`` for each job at its ZeRO stage, where it first fits, and a published multi-GPU run
    over the same kind of link (measured tokens/s of N GPUs / (N x one GPU's))."""
    chk, p = c.check, params.make()
    g = chk["gpu"]
    bad = [n for n in chk["gpu_counts"] if n not in tr.SCALING_GPUS]
    if bad:
        raise InputError(f"claim {c.id}: gpu_counts {bad} not among {list(tr.SCALING_GPUS)}")
    parts, runs = [], []
    for job in chk["jobs"]:
        s = setup_of(job)
        eff = tr.scaling(p, s, g)
        fits_from = tm.gpus_needed(s, g)
        runs.append(fits_from is not None and fits_from <= max_gpus_per_node(g))
        where = f", fits from {_cards(fits_from)}" if fits_from and fits_from > 1 else ""
        effs = ", ".join(f"{eff[n]:.0%}" for n in chk["gpu_counts"])
        parts.append(f"{label(job)} (ZeRO-{s.zero}{where}) {effs}")
    rows = load_training().set_index("id")
    one, many = rows.loc[chk["measured_one_gpu"]], rows.loc[chk["measured_gpus"]]
    measured = many["measured_tokens_per_s"] / (many["gpus"] * one["measured_tokens_per_s"])
    computed = all(runs)
    counts = "/".join(str(n) for n in chk["gpu_counts"])
    why = (
        "it runs: without peer-to-peer transfers NCCL stages the traffic through host memory. Share "
        f"of linear scaling on {counts} {g} cards: "
        + "; ".join(parts)
        + f". A published {many['gpus']} x {many['gpu_id']} {many['model_name']} "
        f"{METHOD_WORDS[many['method']]} run reached {measured:.0%} of {many['gpus']} x one card"
    )
    verdict: Verdict = "ok" if computed == bool(c.value) else "wrong"
    return Finding(computed, verdict, why)


def _check_silent_errors(c: Claim) -> Finding:
    """Silent memory errors during each run (ECC off at the defaults; and with the consumer ECC mode
    on) and in the article's fleet: lambda = silent errors per GPU-year x GPUs x hours / hours per
    year, P(at least one) = 1 - exp(-lambda). The computed value is the first run's P."""
    chk, p = c.check, params.make()
    g = chk["gpu"]
    on = params.make(consumer_ecc_enabled=True)
    off_rate = ecc.error_rates_per_gpu_year(p, g)["silent"]
    on_rates = ecc.error_rates_per_gpu_year(on, g)
    parts, chances, detected = [], [], []
    for job in chk["runs"]:
        r = run(p, job, g, chk["tokens"])
        if r is None:
            raise InputError(f"claim {c.id}: {label(job)} fits no count of {g}")
        gpu_years = r["gpus"] * r["hours_without_rollbacks"] / units.HOURS_PER_YEAR
        lam = off_rate * gpu_years
        chances.append(ecc.p_at_least_one(lam))
        detected.append(on_rates["uncorrectable"] * gpu_years)
        parts.append(
            f"{label(job)} on {_cards(r['gpus'])} ({r['hours_without_rollbacks']:.1f} h) "
            f"{lam:.3g} ({chances[-1]:.1%})"
        )
    fleet_years = chk["fleet_gpus"] * chk["fleet_days"] * units.HOURS_PER_DAY / units.HOURS_PER_YEAR
    fleet = off_rate * fleet_years
    why = (
        f"{chk['tokens'] / 1e6:,.0f}-million-token runs expect these silent errors (chance of any), "
        "each counted as if it hit live data: "
        + "; ".join(parts)
        + f". With the card's ECC mode on they are corrected (at most {max(detected):.1g} detected, "
        f"uncorrectable errors remain, each a restart). Only runs like the article's {chk['fleet_gpus']:,} cards for "
        f"{chk['fleet_days']} days are near-certain to see one ({fleet:,.0f} expected)"
    )
    verdict: Verdict = "ok" if chances[0] >= LIKELY else "misleading"
    return Finding(chances[0], verdict, why)


def _single_gpu(p: Params, job: dict, g: str, ref: str, tokens: float) -> dict:
    """A job on one ``g`` (recomputation if needed): ``fits``, ``gb`` per GPU, ``hours`` there and
    ``ref_hours`` on the fewest ``ref`` (None where it does not fit)."""
    one = tm.auto_recompute(replace(setup_of(job), gpus=1), g)
    out = {"fits": tm.fits(one, g), "gb": tm.memory_per_gpu(one)["total"] / units.BYTES_PER_GB}
    out["hours"] = tr.speed_time_cost(p, one, g, tokens)["hours"] if out["fits"] else None
    other = run(p, job, ref, tokens)
    out["ref_hours"] = None if other is None else other["hours"]
    return out


def _check_single_gpu(c: Claim) -> Finding:
    """Which fine-tuning jobs fit one ``gpu`` (computed: all of ``jobs`` do), with memory and hours
    for ``tokens`` there and on ``reference_gpu``; ``also`` jobs and the published single-card runs of
    ``gpu`` are reported beside them."""
    chk, p = c.check, params.make()
    g, ref, tokens = chk["gpu"], chk["reference_gpu"], chk["tokens"]
    every = [*chk["jobs"], *chk.get("also", [])]
    found = {label(j): _single_gpu(p, j, g, ref, tokens) for j in every}
    main = [found[label(j)] for j in chk["jobs"]]
    computed = all(r["fits"] for r in main)
    fit = [f"{k} ({r['gb']:.1f} GB, {r['hours']:.1f} h)" for k, r in found.items() if r["fits"]]
    not_fit = [f"{k} ({r['gb']:,.0f} GB)" for k, r in found.items() if not r["fits"]]
    ref_hours = [r["ref_hours"] for r in main if r["fits"] and r["ref_hours"] is not None]
    rows = load_training()
    one_card = rows[(rows["gpu_id"] == g) & (rows["gpus"] == 1)]
    published = ", ".join(
        f"{METHOD_WORDS[r['method']]} {r['measured_tokens_per_s']:,.0f}"
        for _, r in one_card.iterrows()
    )
    why = (
        f"on one {g}, {tokens / 1e6:,.0f} million tokens: "
        + (_and(fit) + " fit" if fit else "none fits")
        + (f"; {_and(not_fit)} do not" if not_fit else "")
        + (
            f". One {ref} takes {_span(ref_hours, '.1f')} h for the first {len(main)}"
            if ref_hours
            else ""
        )
        + (
            f". Published one-card runs ({_and(sorted(set(one_card['model_name'])))}, tokens/s): "
            f"{published}"
            if published
            else ""
        )
    )
    verdict: Verdict = "ok" if computed == bool(c.value) else "wrong"
    return Finding(computed, verdict, why)


def _job_costs(p: Params, job: dict, gpus: list[str], tokens: float) -> str:
    """``Llama 2 7B full fine-tuning $8.14 on 2 h100-sxm, $11.33 on 8 rtx-4090 (38% scaling)``:
    renting each GPU type on the fewest cards that hold the job."""
    cells = []
    for g in gpus:
        r = run(p, job, g, tokens)
        if r is None:
            cells.append(f"does not fit {g}")
            continue
        scaling = f" ({r['scaling_efficiency']:.0%} scaling)" if r["gpus"] > 1 else ""
        cells.append(f"{_usd(r['usd_rent'])} on {r['gpus']} {g}{scaling}")
    return f"{label(job)} " + ", ".join(cells)


def _cheaper(p: Params, job: dict, gpu: str, others: list[str], tokens: float, key: str) -> bool:
    """``gpu`` costs no more than every other GPU for the job (``key``: usd_rent or usd_own); a GPU
    on which it does not fit or never finishes costs more than any."""
    mine = run(p, job, gpu, tokens)
    if mine is None or mine[key] is None:
        return False
    for o in others:
        r = run(p, job, o, tokens)
        if r is not None and r[key] is not None and r[key] < mine[key]:
            return False
    return True


def _check_rule(c: Claim) -> Finding:
    """A decision-guide rule on training. Multi-GPU (answer ``answer_gpu``): the share of ``jobs``
    that ``answer_gpu`` does for less than each other GPU of ``gpus`` when renting (owning reported
    beside it). Single-GPU (answer: any of ``gpus``): the share of ``jobs`` that fit one card of every
    GPU of ``gpus``."""
    chk, p = c.check, params.make()
    jobs, gpus, tokens = chk["jobs"], chk["gpus"], chk["tokens"]
    if chk["multi_gpu"]:
        a = chk["answer_gpu"]
        others = [g for g in gpus if g != a]
        rent = [_cheaper(p, j, a, others, tokens, "usd_rent") for j in jobs]
        own = [_cheaper(p, j, a, others, tokens, "usd_own") for j in jobs]
        share = sum(rent) / len(jobs)
        why = (
            f"renting for {tokens / 1e6:,.0f} million tokens, {a} costs less for {sum(rent)} of "
            f"{len(jobs)} jobs (owning: {sum(own)}): "
            + "; ".join(_job_costs(p, j, gpus, tokens) for j in jobs)
        )
        return Finding(share, _share_verdict(share), why)
    fits = [
        all((r := run(p, j, g, tokens)) is not None and r["gpus"] == 1 for g in gpus) for j in jobs
    ]
    share = sum(fits) / len(jobs)
    per_gpu = []
    for g in gpus:
        done = [
            r for j in jobs if (r := run(p, j, g, tokens)) is not None and r["hours"] is not None
        ]
        if done:
            rent = _span([r["usd_rent"] for r in done], ",.2f", "$")
            per_gpu.append(f"{g} {rent} in {_span([r['hours'] for r in done], '.1f')} h")
    why = (
        f"{sum(fits)} of {len(jobs)} jobs fit one card of each; renting for {tokens / 1e6:,.0f} "
        "million tokens: " + "; ".join(per_gpu)
    )
    return Finding(share, _share_verdict(share), why)


def _check_premium(c: Claim) -> Finding:
    """The share of ``jobs`` that no node of ``gpu`` can run (the claimed value: all of them), with the
    jobs ``premium_gpu`` does for less when renting: misleading when it runs them all but the premium
    GPU is cheaper for some, wrong when it is cheaper for none."""
    chk, p = c.check, params.make()
    g, h, tokens, jobs = chk["gpu"], chk["premium_gpu"], chk["tokens"], chk["jobs"]
    cannot = []
    for j in jobs:
        r = run(p, j, g, tokens)
        if r is None or r["gpus"] > max_gpus_per_node(g):
            cannot.append(label(j))
    cheaper = [label(j) for j in jobs if _cheaper(p, j, h, [g], tokens, "usd_rent")]
    faster = [label(j) for j in jobs if _faster(p, j, h, g, tokens)]
    share = len(cannot) / len(jobs)
    why = (
        f"one node of {g} cards runs {len(jobs) - len(cannot)} of {len(jobs)} fine-tuning jobs"
        + (f" (not {', '.join(cannot)})" if cannot else "")
        + f"; {h} is the cheaper rental for "
        + (_and(cheaper) if cheaper else "none of them")
        + f" and faster for {len(faster)} of {len(jobs)}: a price and speed premium for some jobs, "
        "not a capability the cheaper card lacks"
    )
    if share > 0:
        verdict: Verdict = "ok" if share == 1 else "misleading"
    else:
        verdict = "misleading" if cheaper else "wrong"
    return Finding(share, verdict, why)


def _faster(p: Params, job: dict, gpu: str, other: str, tokens: float) -> bool:
    """The job finishes sooner on ``gpu`` than on ``other`` (each on its fewest cards)."""
    a, b = run(p, job, gpu, tokens), run(p, job, other, tokens)
    if a is None or a["hours"] is None:
        return False
    return b is None or b["hours"] is None or a["hours"] < b["hours"]


CLAIM_CHECKS = {
    "training_distributed": _check_distributed,
    "training_silent_errors": _check_silent_errors,
    "training_single_gpu": _check_single_gpu,
    "training_rule": _check_rule,
    "training_premium": _check_premium,
}
