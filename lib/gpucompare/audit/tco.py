"""Claim checks of the cost section: the article's cost figures and "N times cheaper" verdicts
recomputed with its own formula (:func:`gpucompare.model.tco.article_cost`) and its own inputs."""

from __future__ import annotations

from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.data.claims import Claim
from gpucompare.model.tco import TOKENS_PER_MILLION, article_cost

#: Relative tolerance for the article's cost figures (it rounds to 2-3 digits).
COST_TOLERANCE = 0.03


def _num(x: float) -> str:
    """Readable number: thousands separators above 1,000, four significant digits below."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _check_article_cost(c: Claim) -> Finding:
    """A cost figure against the article's own formula with its own inputs."""
    computed = article_cost(**c.check)[c.check["quantity"]]
    verdict = relative_verdict(float(c.value), computed, COST_TOLERANCE)
    why = f"its own formula and inputs give {_num(computed)}"
    if verdict == "wrong":
        factor = computed / float(c.value)
        why += (
            f", {factor:,.0f}x the printed figure"
            if factor >= 1
            else f", {1 / factor:,.1f}x less than printed"
        )
    return Finding(computed, verdict, why)


def _check_article_cost_no_throughput(c: Claim) -> Finding:
    """A cost row for which the article states no throughput: report the throughput it implies."""
    tco = article_cost(**c.check)["tco_usd"]
    implied = tco / (float(c.value) * 86_400 * 365 * c.check["years"] / TOKENS_PER_MILLION)
    return Finding(
        None,
        "unverifiable",
        f"no throughput is stated for this row; at its own TCO (${tco:,.0f}) the printed cost implies "
        f"{implied:,.0f} tok/s ({implied / 1000:,.0f} tok/s if the same 1000x slip applies)",
    )


def _check_article_cost_ratio(c: Claim) -> Finding:
    """A "GPU x is N times cheaper" verdict recomputed with the article's own inputs: ratio = cost(a) / cost(b)."""
    shared = {"usd_per_kwh": c.check["usd_per_kwh"], "years": c.check["years"]}
    cost_a = article_cost(**c.check["a"], **shared)["usd_per_million_tokens"]
    cost_b = article_cost(**c.check["b"], **shared)["usd_per_million_tokens"]
    ratio = cost_a / cost_b
    verdict = relative_verdict(float(c.value), ratio, 0.05)
    if ratio < 1:
        why = f"with its own inputs the claimed loser is {1 / ratio:.2f}x cheaper (${cost_a:.3f} vs ${cost_b:.3f} per million tokens): the verdict is reversed"
    else:
        why = f"with its own inputs: ${cost_a:.3f} vs ${cost_b:.3f} per million tokens, a ratio of {ratio:.2f}"
    return Finding(ratio, verdict, why)


CLAIM_CHECKS = {
    "article_cost": _check_article_cost,
    "article_cost_no_throughput": _check_article_cost_no_throughput,
    "article_cost_ratio": _check_article_cost_ratio,
}
