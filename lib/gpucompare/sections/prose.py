"""Sentences for readers: number ranges that never read "25.6 to 25.6 ms", lists in words, and the
caption clause that names lines lying on each other in a figure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gpucompare.sections.figures import Overlap

#: Units written against the number ("76%", "1.6x"); any other unit follows the last number after a space.
ATTACHED_UNITS = ("%", "x")


def _number(value: float, spec: str, unit: str, prefix: str = "") -> str:
    text = prefix + format(value, spec)
    return text + unit if unit in ATTACHED_UNITS and not text.endswith(unit) else text


def fmt_range(lo: float, hi: float, unit: str = "", spec: str = ",.1f", prefix: str = "") -> str:
    """``lo`` to ``hi`` formatted with ``spec`` and their unit, or one number when both round to the
    same text: ``fmt_range(25.6, 25.61, "ms")`` is "25.6 ms", ``fmt_range(41.9, 42.0, "GB/s")`` is
    "41.9 to 42.0 GB/s", ``fmt_range(0.76, 0.81, "%", ".0%")`` is "76% to 81%" and
    ``fmt_range(1.6, 1.8, "x")`` is "1.6x to 1.8x"; ``prefix`` goes before each number
    (``fmt_range(4.9, 10.6, prefix="$", spec=",.2f")`` is "$4.90 to $10.60")."""
    a, b = _number(lo, spec, unit, prefix), _number(hi, spec, unit, prefix)
    tail = "" if not unit or unit in ATTACHED_UNITS else f" {unit}"
    if a == b:
        return a + tail
    return f"{a} to {b}{tail}"


def join_words(items: Iterable[str], last: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def overlap_sentence(found: list[Overlap], x_unit: str = "", spec: str = ",.0f") -> str:
    """One sentence naming each pair of lines that lie on each other, with the panels (and, where
    they part, the stretch of x) where they do, and how the figure tells them apart; "" for none."""
    if not found:
        return ""
    pairs: dict[tuple[str, str], list[str]] = {}
    for o in found:
        where = o.panel if o.whole else f"{o.panel}, {fmt_range(o.x_from, o.x_to, x_unit, spec)}"
        pairs.setdefault((o.first, o.second), []).append(where.strip(", "))
    parts = [
        f"{a} and {b}" + (f" ({'; '.join(w for w in where if w)})" if any(where) else "")
        for (a, b), where in pairs.items()
    ]
    return (
        f"Markers and line styles tell apart the lines that lie on each other: {'; '.join(parts)}."
    )


def fmt_extremes(values: Mapping[str, float], unit: str = "", spec: str = ",.1f") -> str:
    """The smallest and largest of ``values`` with whose they are, "23% (rtx-5090) to 72%
    (a100-sxm-80gb)", or one number when both round to the same text; missing values are skipped
    ("" when none is left)."""
    known = {k: float(v) for k, v in dict(values).items() if v is not None and v == v}
    if not known:
        return ""
    lo = min(known, key=known.get)
    hi = max(known, key=known.get)
    tail = "" if not unit or unit in ATTACHED_UNITS else f" {unit}"
    a, b = _number(known[lo], spec, unit), _number(known[hi], spec, unit)
    if a == b:
        return a + tail + (f" ({lo})" if len(known) == 1 else "")
    return f"{a}{tail} ({lo}) to {b}{tail} ({hi})"
