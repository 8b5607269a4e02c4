"""The audit page (``sections/audit.py``, ``notebooks/09_audit.ipynb``): claims as plain text, counts
that equal the audit's rows, every claim shown once, captions that agree with their tables, and
headers in words."""

from __future__ import annotations

import ast
import re
from collections import Counter

import nbformat
import pandas as pd
import pytest

from gpucompare import audit as audit_runner
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.sections import audit

# The verdict phrases of the captions, as the reader sees them, and the audit verdict each counts.
PHRASES = {
    "holds": "ok",
    "hold": "ok",
    "is wrong": "wrong",
    "are wrong": "wrong",
    "is misleading": "misleading",
    "are misleading": "misleading",
    "cannot be checked": "unverifiable",
}
_COUNT = re.compile(r"(\d+) (" + "|".join(sorted(PHRASES, key=len, reverse=True)) + r")\b")


def _caption_counts(text: str) -> dict[str, int]:
    """Verdict -> number, read from a caption's words ("3 hold, 1 is wrong ...")."""
    found: dict[str, int] = {}
    for n, phrase in _COUNT.findall(text):
        found[PHRASES[phrase]] = found.get(PHRASES[phrase], 0) + int(n)
    return found


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return audit_runner.run()


# --- plain text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("# weights: 14 GB, kv: 1.0 GB", "weights: 14 GB, kv: 1.0 GB"),
        ("## A heading", "A heading"),
        (
            "h100_power_cost = 700 * 8760 * 0.08 / 1000  # = $490/year",
            "h100_power_cost = 700 * 8760 * 0.08 / 1000 = $490/year",
        ),
        (
            "(1, 4096, 4096): (0.8, 0.35),  # GEMV (decode): H100 2.3x",
            "(1, 4096, 4096): (0.8, 0.35) — GEMV (decode): H100 2.3x",
        ),
        ("x = 1  #", "x = 1"),
        ("# But for BS=32: # H100: 2,800 tok/s", "But for BS=32: H100: 2,800 tok/s"),
        ("| CUDA Cores | 16,896 | 16,384 | 1.03x |", "CUDA Cores: 16,896; 16,384; 1.03x"),
        ("| only one cell |", "only one cell"),
        ("| Spec | H100 |\n|---|:--:|\n| TDP | 700W |", "Spec: H100 TDP: 700W"),
        ("a | b", "a | b"),
        ("- PCIe: 8 KB / 16 GB/s = 0.5 us", "PCIe: 8 KB / 16 GB/s = 0.5 us"),
        ("* a bullet", "a bullet"),
        ("**Bold**, `code` and [a link](https://example.org)", "Bold, code and a link"),
        ("Net: 2x * 1.03 * 0.73 = 1.50x, *really*", "Net: 2x * 1.03 * 0.73 = 1.50x, really"),
        ("line one\n   line   two\t end", "line one line two end"),
        ("C# and issue #1 stay", "C# and issue #1 stay"),
        ("The RTX 4090 costs 30,000—16x more.", "The RTX 4090 costs 30,000—16x more."),
    ],
)
def test_plain_text_strips_code_and_markdown_markup(markup, expected):
    assert audit.plain_text(markup) == expected


def test_every_shown_claim_reads_as_text(rows):
    """No quote of the claims files keeps markup on the page: no backtick, bold, comment marker,
    bullet, table pipe, or doubled or line-breaking whitespace."""
    shown = pd.concat(audit.claims_frame(s) for s in audit.section_ids())
    for text in [*shown["What the article says"], *shown["Why"]]:
        assert "`" not in text and "**" not in text, text
        assert not text.startswith(("#", "-", "|", "*")), text
        assert not re.search(r"(^|\s)#(\s|$)", text), text
        assert not re.search(r"\s{2,}|\n", text), text
    assert len(shown) == len(rows)


# --- words ---------------------------------------------------------------------------------------


def test_verdicts_sentence_in_words():
    assert audit.verdicts_sentence({"ok": 1, "wrong": 2}) == "1 holds and 2 are wrong"
    assert (
        audit.verdicts_sentence({"ok": 3, "wrong": 1, "misleading": 2, "unverifiable": 1})
        == "3 hold, 1 is wrong, 2 are misleading and 1 cannot be checked"
    )
    assert audit.verdicts_sentence({"unverifiable": 4}) == "4 cannot be checked"
    assert audit.verdicts_sentence({}) == "none"


def test_every_section_and_verdict_has_words(rows):
    assert set(audit.VERDICT_WORDS) == set(audit_runner.VERDICTS)
    assert {r["section"] for r in rows} <= set(audit.SECTION_NAMES)
    assert audit.section_ids() == [
        s for s in audit.SECTION_NAMES if s in {r["section"] for r in rows}
    ]


def test_a_section_without_words_stops_naming_its_file():
    with pytest.raises(InputError, match=r"data/claims/power\.yaml.*no name"):
        audit.section_name("power")


def _tables():
    return [audit.overview(), audit.sources(), *(audit.claims(s) for s in audit.section_ids())]


def test_headers_are_words_and_names_are_unique():
    tables = _tables()
    names = [t.name for t in tables]
    assert len(set(names)) == len(names)
    assert all(n.startswith("audit_") for n in names)
    for t in tables:
        labels = [*map(str, t.frame.columns), *(n for n in t.frame.index.names if n is not None)]
        for label in labels:
            assert "_" not in label and label[:1].isupper(), (t.name, label)


def test_verdict_and_unit_cells_are_words(rows):
    shown = pd.concat(audit.claims_frame(s) for s in audit.section_ids())
    assert set(shown["Verdict"]) <= {"holds", "wrong", "misleading", "cannot be checked"}
    assert "bool" not in set(shown["Unit"]) and "us" not in set(shown["Unit"])
    in_us = {r["id"] for r in rows if r["unit"] == "us"}
    assert in_us and set(shown.loc[sorted(in_us), "Unit"]) == {"µs"}


def test_verdict_cells_are_coloured_in_the_page():
    html = audit.claims("memory")._repr_mimebundle_()[0]["text/html"]
    assert re.search(r'<td class="[^"]*gc-bad[^"]*">wrong</td>', html)
    assert re.search(r'<td class="[^"]*gc-good[^"]*">holds</td>', html)


# --- numbers agree with the audit ----------------------------------------------------------------


def test_overview_counts_equal_the_audit_rows(rows):
    frame = audit.overview_frame()
    by_section = Counter((r["section"], r["verdict"]) for r in rows)
    headers = {"ok": "Holds", "wrong": "Wrong", "misleading": "Misleading"}
    headers["unverifiable"] = "Cannot be checked"
    for section in {r["section"] for r in rows}:
        name = audit.SECTION_NAMES[section]
        for verdict, header in headers.items():
            assert frame.loc[name, header] == by_section[(section, verdict)], (name, header)
        assert frame.loc[name, "Claims"] == sum(r["section"] == section for r in rows)
    total = Counter(r["verdict"] for r in rows)
    for verdict, header in headers.items():
        assert frame.loc["All sections", header] == total[verdict]
    assert frame.loc["All sections", "Claims"] == len(rows)
    assert list(frame.index)[-1] == "All sections"


def test_overview_caption_agrees_with_the_audit(rows):
    caption = audit.overview().caption
    head, _, tail = caption.partition(". ")
    assert head.startswith(f"Of the article's {len(rows)} numeric claims, ")
    total = Counter(r["verdict"] for r in rows)
    assert _caption_counts(head) == {v: n for v, n in total.items() if n}
    wrong = Counter(r["section"] for r in rows if r["verdict"] == "wrong")
    most = max(wrong.values())
    worst = [audit.SECTION_NAMES[s] for s, n in wrong.items() if n == most]
    assert len(worst) == 1, "this test reads the one-section wording"
    claims_there = sum(audit.SECTION_NAMES[r["section"]] == worst[0] for r in rows)
    assert (
        tail
        == f"The section with the most wrong claims is {worst[0]}: {most} of its {claims_there}."
    )


def test_every_claim_is_shown_once_with_its_values(rows):
    shown = pd.concat(audit.claims_frame(s) for s in audit.section_ids())
    ids = [r["id"] for r in rows]
    assert sorted(shown.index) == sorted(ids)
    assert not shown.index.duplicated().any()
    for r in rows:
        line = shown.loc[r["id"]]
        assert line["Article's value"] == r["seed_value"]
        assert line["Recomputed value"] == r["computed_value"]
        assert line["Verdict"] == audit.VERDICT_WORDS[r["verdict"]]


@pytest.mark.parametrize("section", audit.section_ids())
def test_section_caption_counts_its_table(section, rows):
    t = audit.claims(section)
    mine = [r for r in rows if r["section"] == section]
    assert len(t.frame) == len(mine)
    assert t.caption.startswith(f"{len(mine)} claim")
    assert _caption_counts(t.caption) == dict(Counter(r["verdict"] for r in mine))


def test_sources_list_each_claims_file_with_its_count(rows):
    frame = audit.sources().frame
    assert len(frame) == len({r["section"] for r in rows})
    for section in {r["section"] for r in rows}:
        name = audit.SECTION_NAMES[section]
        assert frame.loc[name, "Claims"] == sum(r["section"] == section for r in rows)
        path = paths.data_dir() / "claims" / f"{section}.yaml"
        assert path.is_file() and frame.loc[name, "Claims file"] == f"data/claims/{section}.yaml"


def test_the_page_shows_every_section():
    """The notebook calls ``audit.claims`` once for each section, in page order."""
    nb = nbformat.read(paths.notebooks_dir() / "09_audit.ipynb", as_version=4)
    called = [
        node.args[0].value
        for cell in nb.cells
        if cell.cell_type == "code"
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "claims"
    ]
    assert called == audit.section_ids()
