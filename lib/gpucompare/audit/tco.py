"""Claim checks of the cost section: the article's cost figures and "N times cheaper" verdicts
recomputed with its own formula (:func:`gpucompare.model.tco.article_cost`) and its own inputs."""

from __future__ import annotations

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.model.cost import cost_of
from gpucompare.model.tco import TOKENS_PER_MILLION, article_cost

#: Relative tolerance for the article's cost figures (it rounds to 2-3 digits).
COST_TOLERANCE = 0.03
#: Relative tolerance for an "N times" figure (whole or half multiples).
RATIO_TOLERANCE = 0.05


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


def _check_price_ratio(c: Claim) -> Finding:
    """A price ratio against the article's own prices; the catalog's dated prices give another."""
    chk = c.check
    own = chk["price_a_usd"] / chk["price_b_usd"]
    a, b = catalog.get_gpu(chk["gpu_a"]), catalog.get_gpu(chk["gpu_b"])
    cat = a.price.value_usd / b.price.value_usd
    return Finding(
        own,
        relative_verdict(float(c.value), own, RATIO_TOLERANCE),
        f"its own prices: ${chk['price_a_usd']:,.0f} / ${chk['price_b_usd']:,.0f} = {own:.1f}x; the catalog's "
        f"(${a.price.value_usd:,.0f}, {a.price.kind} {a.price.date}; ${b.price.value_usd:,.0f}, "
        f"{b.price.kind} {b.price.date}) give {cat:.1f}x",
    )


def cost_ratios(chk: dict) -> dict[str, float | None]:
    """Per workload of the check (``model``, ``weights``, ``batch``): cost per million tokens owning
    on ``gpu_a`` / the same on ``gpu_b`` (:func:`gpucompare.model.cost.cost_of` at the default
    parameters, ``kv`` and ``context_tokens`` of the check); None where it does not fit ``gpu_b``."""
    p = params.make()
    out: dict[str, float | None] = {}
    for wl in chk["workloads"]:
        args = (wl["model"], wl["weights"], chk["kv"], wl["batch"], chk["context_tokens"])
        a = cost_of(p, chk["gpu_a"], *args)["usd_per_million_tokens"]
        b = cost_of(p, chk["gpu_b"], *args)["usd_per_million_tokens"]
        out[f"{wl['model']} {wl['weights']} batch {wl['batch']}"] = a / b if a and b else None
    return out


def _check_cost_ratio_range(c: Claim) -> Finding:
    """An "N-M times cheaper per token" range against the cost model (throughput model, default
    TCO parameters) for the workloads it covers: ok when every workload that fits lies in the range
    (within RATIO_TOLERANCE), else wrong; the computed value is the smallest ratio."""
    chk = c.check
    ratios = cost_ratios(chk)
    fitting = {k: r for k, r in ratios.items() if r is not None}
    low, high = float(c.value), float(chk["range_high"])
    inside = all(
        low * (1 - RATIO_TOLERANCE) <= r <= high * (1 + RATIO_TOLERANCE) for r in fitting.values()
    )
    parts = [
        f"{k}: {'does not fit one ' + chk['gpu_b'] if r is None else f'{r:.2f}x'}"
        for k, r in ratios.items()
    ]
    return Finding(
        min(fitting.values()) if fitting else None,
        "ok" if fitting and inside else ("unverifiable" if not fitting else "wrong"),
        f"{chk['gpu_a']} cost per million tokens (owning, default parameters) / {chk['gpu_b']}'s: "
        + "; ".join(parts)
        + f"; the article's range is {low:g}-{high:g}x",
    )


CLAIM_CHECKS = {
    "article_price_ratio": _check_price_ratio,
    "cost_ratio_range": _check_cost_ratio_range,
    "article_cost": _check_article_cost,
    "article_cost_no_throughput": _check_article_cost_no_throughput,
    "article_cost_ratio": _check_article_cost_ratio,
}
