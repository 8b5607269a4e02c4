"""The audit section (``notebooks/09_audit.ipynb``): every numeric claim of the article, recomputed
by :mod:`gpucompare.audit`, shown for readers: sections and verdicts in words, each claim as the
article's text without its code or markdown markup, grouped by the report section it belongs to.

The audit judges every claim at the default inputs of ``params/default.yaml``, so this section reads
no parameter and its tables are the same in every scenario. The full-precision values stay in the
tables' CSV files (and in ``gpucompare audit --json``); the page rounds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from gpucompare import audit
from gpucompare.core.errors import InputError
from gpucompare.sections import display

#: The claims files' section ids, in the report's page order, and the words the page shows.
SECTION_NAMES: dict[str, str] = {
    "specs": "Specifications",
    "memory": "Memory",
    "gemm": "GEMM (matrix multiply) speed",
    "throughput": "Inference throughput",
    "interconnect": "Interconnect and multi-GPU",
    "reliability": "Reliability and multi-tenancy",
    "tco": "Cost of ownership and cost per token",
    "training": "Training and fine-tuning",
}

#: Each audit verdict in words, as the tables show it.
VERDICT_WORDS: dict[str, str] = {
    "ok": "holds",
    "wrong": "wrong",
    "misleading": "misleading",
    "unverifiable": "cannot be checked",
}

#: Claims-file units a reader would not understand as written; every other unit is shown as is.
UNIT_WORDS: dict[str, str] = {"bool": "yes or no", "us": "µs"}

#: The overview's last row: the sums over every section.
TOTAL_ROW = "All sections"

#: Cell colours of the verdict column (the text says the same, so colour is never the only cue).
VERDICT_CLASSES: dict[str, str] = {"holds": "gc-good", "misleading": "gc-warn", "wrong": "gc-bad"}

#: The per-claim table's columns: what the article says, both values, unit, verdict and reason.
CLAIM_COLUMNS = [
    "What the article says",
    "Article's value",
    "Recomputed value",
    "Unit",
    "Verdict",
    "Why",
]

# A comment marker: one or more '#' at the start or after a space, followed by a space or the end
# (so "#1" or "C#" stay, while "# weights: 14 GB" and "x = 1  # note" lose their marker).
_COMMENT = re.compile(r"(?:^|(?<=\s))#+(?=\s|$)")
# A list bullet at the start of a line: "- ", "* " or "+ ".
_BULLET = re.compile(r"^[-*+]\s+")
# Inline markup: bold, single-star emphasis (not a spaced-out multiplication "2 * 3"), links.
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def _table_row(line: str) -> str | None:
    """A markdown table row ``| a | b | c |`` as ``"a: b; c"`` (the first cell names the row),
    ``""`` for a header rule ``|---|:--:|``, or None when ``line`` is not a table row."""
    if not (len(line) > 1 and line.startswith("|") and line.endswith("|")):
        return None
    cells = [c.strip() for c in line.strip("|").split("|")]
    cells = [c for c in cells if c.strip("-: ")]
    if len(cells) < 2:
        return " ".join(cells)
    return f"{cells[0]}: {'; '.join(cells[1:])}"


def _uncomment(line: str) -> str:
    """A line without its comment markers: a comment-only line keeps its prose; code followed by a
    comment reads "code — comment", or "code = value" when the comment is the result ("# = $490")."""
    parts = [s.strip() for s in _COMMENT.split(line)]
    if len(parts) == 1:
        return line
    code, comments = parts[0], [s for s in parts[1:] if s]
    if not code:
        return " ".join(comments)
    code = code.rstrip(" ,")  # a dict or list entry's trailing comma ends the code, not the prose
    if not comments:
        return code
    comment = " ".join(comments)
    return f"{code} {comment}" if comment.startswith("=") else f"{code} — {comment}"


def plain_text(markup: str) -> str:
    """The article's words without code or markdown markup, for a reader.

    Per line: a leading list bullet (``- ``) goes; a markdown table row ``| a | b | c |`` reads
    ``a: b; c``; comment markers ``#`` go (a code line followed by a comment reads
    ``code — comment``); then bold ``**x**``, emphasis ``*x*``, links ``[x](url)`` and backticks
    become their text, and all whitespace (newlines included) collapses to single spaces. Why: the
    claims files keep the article's quotes verbatim (code, tables, comments), which a page for
    analysts should show as prose. Numbers, units and punctuation are kept as the article prints
    them, so the text still shows exactly what is being checked.
    """
    lines = []
    for raw in str(markup).splitlines():
        line = _BULLET.sub("", raw.strip())
        row = _table_row(line)
        lines.append(row if row is not None else _uncomment(line))
    text = " ".join(lines)
    text = _LINK.sub(r"\1", text)
    text = _BOLD.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = text.replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def section_name(section: str) -> str:
    """The words for a claims section id; an id without words stops the build, naming the file."""
    if section not in SECTION_NAMES:
        raise InputError(
            f"data/claims/{section}.yaml: section '{section}' has no name on the audit page; "
            f"named sections: {', '.join(SECTION_NAMES)}"
        )
    return SECTION_NAMES[section]


def section_ids() -> list[str]:
    """The audit's section ids in page order (every one must have words, see :func:`section_name`)."""
    present = set(audit.audit_table()["section"])
    for s in sorted(present):
        section_name(s)
    return [s for s in SECTION_NAMES if s in present]


def verdicts_sentence(counts: Mapping[str, int]) -> str:
    """``"3 hold, 1 is wrong and 2 cannot be checked"``: the non-zero verdict counts in the audit's
    order, in words, singular or plural as the number needs ("none" when every count is zero)."""
    forms = {
        "ok": ("holds", "hold"),
        "wrong": ("is wrong", "are wrong"),
        "misleading": ("is misleading", "are misleading"),
        "unverifiable": ("cannot be checked", "cannot be checked"),
    }
    parts = [
        f"{n} {forms[v][0] if n == 1 else forms[v][1]}"
        for v in audit.VERDICTS
        if (n := int(counts.get(v, 0)))
    ]
    if not parts:
        return "none"
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _header(verdict: str) -> str:
    """A verdict as a column header: "Holds", "Cannot be checked"."""
    return VERDICT_WORDS[verdict].capitalize()


def overview_frame() -> pd.DataFrame:
    """Claims per section (rows, in words, page order) and verdict (columns, in words), the total
    per section ("Claims") and a last row :data:`TOTAL_ROW` with the sums."""
    t = audit.audit_table()
    ids = section_ids()
    counts = pd.crosstab(t["section"], t["verdict"]).reindex(
        index=ids, columns=list(audit.VERDICTS), fill_value=0
    )
    frame = pd.DataFrame(
        {_header(v): [int(n) for n in counts[v]] for v in audit.VERDICTS},
        index=pd.Index([SECTION_NAMES[s] for s in ids], name="Section"),
    )
    frame["Claims"] = frame.sum(axis=1)
    frame.loc[TOTAL_ROW] = frame.sum()
    return frame


def _overview_caption(frame: pd.DataFrame) -> str:
    """The totals in words, then the section(s) with the most wrong claims (from the table)."""
    total = frame.loc[TOTAL_ROW]
    counts = {v: int(total[_header(v)]) for v in audit.VERDICTS}
    first = f"Of the article's {int(total['Claims'])} numeric claims, {verdicts_sentence(counts)}."
    sections = frame.drop(index=TOTAL_ROW)
    wrong = sections[_header("wrong")]
    if wrong.max() == 0:
        return first + " No section has a wrong claim."
    most = int(wrong.max())
    worst = [s for s in sections.index if wrong[s] == most]
    if len(worst) == 1:
        s = worst[0]
        return (
            f"{first} The section with the most wrong claims is {s}: "
            f"{most} of its {int(sections.loc[s, 'Claims'])}."
        )
    return f"{first} The sections with the most wrong claims, {most} each, are: {'; '.join(worst)}."


def overview() -> display.Table:
    """The audit in one table: per section, how many of its claims hold, are wrong, are misleading
    or cannot be checked, with a caption that states the totals and where most wrong claims are."""
    frame = overview_frame()
    return display.table(frame, "audit_overview", _overview_caption(frame))


def _unit(unit: str) -> str:
    return UNIT_WORDS.get(unit, unit)


def claims_frame(section: str) -> pd.DataFrame:
    """One section's claims (index: claim id, unnamed so the page hides it and the CSV keeps it),
    in the claims file's order, with the columns of :data:`CLAIM_COLUMNS`. Values are the article's
    and the library's, unrounded; a value that cannot be recomputed is None (shown as "—")."""
    section_name(section)
    t = audit.audit_table(section)
    frame = pd.DataFrame(
        {
            "What the article says": [plain_text(q) for q in t["claim"]],
            "Article's value": t["seed_value"].tolist(),
            "Recomputed value": t["computed_value"].tolist(),
            "Unit": [_unit(u) for u in t["unit"]],
            "Verdict": [VERDICT_WORDS[v] for v in t["verdict"]],
            "Why": [plain_text(e) for e in t["explanation"]],
        },
        index=pd.Index(t.index.tolist()),
    )
    return display.nones(frame)


def _verdict_class(value: object) -> str:
    return VERDICT_CLASSES.get(value, "") if isinstance(value, str) else ""


def claims(section: str) -> display.Table:
    """One section's claims, as the table ``audit_claims_<section>``: the article's words, its value,
    the recomputed value, unit, verdict and why; the caption counts the verdicts."""
    frame = claims_frame(section)
    inverse = {w: v for v, w in VERDICT_WORDS.items()}
    counts = frame["Verdict"].map(inverse).value_counts().to_dict()
    n = len(frame)
    # The section's name is the heading above the table; the caption only counts.
    caption = f"{n} claim{'s' if n != 1 else ''}: {verdicts_sentence(counts)}."
    return display.table(frame, f"audit_claims_{section}", caption, cell_class=_verdict_class)


def sources() -> display.Table:
    """The claims files: per section, its number of claims and the file holding its quotes and checks."""
    t = audit.audit_table()
    ids = section_ids()
    counts = t.groupby("section").size()
    frame = pd.DataFrame(
        {
            "Claims": [int(counts[s]) for s in ids],
            "Claims file": [f"data/claims/{s}.yaml" for s in ids],
        },
        index=pd.Index([SECTION_NAMES[s] for s in ids], name="Section"),
    )
    return display.table(frame, "audit_sources")
