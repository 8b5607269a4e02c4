"""Prose for readers: every caption of every section, built with the default parameters in the order
the pages show them (tests/sections/shown.py runs each notebook's own calls), reads as a sentence
for an analyst: no range whose ends are the same number ("25.6 to 25.6 ms"), no caption repeated by
the next one, no issue numbers, repository paths or parameter names. The audit's explanations and
the section notebooks' text follow the same rules; and the helpers of sections/prose.py."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from gpucompare import audit, params
from gpucompare.core import paths
from gpucompare.sections import figures, prose
from tests.sections import shown

#: The same number on both ends of a range: "25.6 to 25.6 ms", "23% (a) to 23% (b)", "35-35%".
DEGENERATE = [
    re.compile(
        r"(?<![\w.,])(\$?\d[\d,]*(?:\.\d+)?[%x]?)(?: [^\s()]+)?(?: \([^)]*\))? to \1(?![\d.,]*\d)"
    ),
    re.compile(r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?)%?-\1%"),
    re.compile(r"between (\S+) and \1(?![\d.,]*\d)"),
]
#: What a reader should not meet in a caption: the project's issues, the seed article's path in
#: this repository, the repository's data and parameter files, code marks.
FORBIDDEN = {
    "an issue number": re.compile(r"\bissue \d", re.IGNORECASE),
    "the seed path": re.compile(r"shared/seed"),
    "a data file path": re.compile(r"\bdata/\S*\.(?:ya?ml|csv)|\bdata/[a-z_]+/"),
    "a parameter file path": re.compile(r"\bparams/\S+"),
    "a code mark": re.compile(r"`"),
}
#: Parameter names a caption could quote (those with an underscore; "engine" or "gpus" are words).
PARAMETER_NAMES = sorted(n for n in params.Params.model_fields if "_" in n)
SECTION_NOTEBOOKS = [f"0{i}" for i in range(1, 8)]


# --- The helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((25.6, 25.61, "ms"), "25.6 ms"),
        ((41.9, 42.0, "GB/s"), "41.9 to 42.0 GB/s"),
        ((0.76, 0.81, "%", ".0%"), "76% to 81%"),
        ((0.76, 0.762, "%", ".0%"), "76%"),
        ((1.6, 1.8, "x"), "1.6x to 1.8x"),
        ((2827.0, 27523.0, "per second", ",.0f"), "2,827 to 27,523 per second"),
        ((3.0, 3.0), "3.0"),
    ],
)
def test_fmt_range_prints_one_number_when_the_ends_round_equal(args, text):
    assert prose.fmt_range(*args) == text


def test_fmt_range_with_a_prefix():
    assert prose.fmt_range(4.88, 10.6, spec=",.2f", prefix="$") == "$4.88 to $10.60"
    assert prose.fmt_range(4.881, 4.879, spec=",.2f", prefix="$") == "$4.88"


def test_fmt_extremes_names_the_ends_or_gives_one_number():
    assert prose.fmt_extremes({"a": 23.2, "b": 72.4, "c": 50}, "%", ".0f") == "23% (a) to 72% (b)"
    assert prose.fmt_extremes({"a": 450.0, "b": 449.9}, "GB/s", ",.0f") == "450 GB/s"
    assert prose.fmt_extremes({"a": 7.0}, "GB/s", ".1f") == "7.0 GB/s (a)"
    assert prose.fmt_extremes({"a": None, "b": float("nan")}) == ""


def test_join_words():
    assert [prose.join_words(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]


def test_overlap_sentence_names_pairs_panels_and_stretches():
    found = [
        figures.Overlap("4 GPUs", "rtx-4090", "rtx-3090", 1e3, 1e9, True),
        figures.Overlap("8 GPUs", "rtx-4090", "rtx-3090", 1e3, 1e9, True),
        figures.Overlap("H100", "llama-3-8b", "mistral-7b", 512, 4096, False),
    ]
    text = prose.overlap_sentence(found, "tokens")
    assert "rtx-4090 and rtx-3090 (4 GPUs; 8 GPUs)" in text
    assert "llama-3-8b and mistral-7b (H100, 512 to 4,096 tokens)" in text
    assert text.startswith("Markers and line styles") and text.endswith(".")
    assert prose.overlap_sentence([]) == ""


# --- Every caption of every section --------------------------------------------------------------


@pytest.fixture(scope="module")
def captions() -> dict[str, list[tuple[str, str]]]:
    return shown.captions()


def test_every_section_is_read(captions):
    assert len(captions) >= 9 and all(captions.values())


def test_no_range_with_the_same_number_at_both_ends(captions):
    bad = [
        (stem, name, m.group(0))
        for stem, items in captions.items()
        for name, caption in items
        for pattern in DEGENERATE
        for m in pattern.finditer(caption)
    ]
    assert not bad, bad


def test_the_degenerate_range_patterns_catch_the_cases_they_name():
    for text in (
        "takes 25.6 to 25.6 ms",
        "keeps 23% (a) to 23% (b)",
        "gives 35-35%",
        "between 0.51 and 0.51 of",
    ):
        assert any(p.search(text) for p in DEGENERATE), text
    for text in (
        "takes 25.6 to 25.61 ms",
        "from 1 to 16 sequences",
        "1.6x (vllm) to 1.8x",
        "28-79%",
    ):
        assert not any(p.search(text) for p in DEGENERATE), text


def test_no_caption_repeats_the_one_before(captions):
    repeated = [
        (stem, a_name, b_name)
        for stem, items in captions.items()
        for (a_name, a), (b_name, b) in itertools.pairwise(items)
        if a and a == b
    ]
    assert not repeated, repeated


def test_no_issue_numbers_repository_paths_or_parameter_names_in_captions(captions):
    bad = []
    for stem, items in captions.items():
        for name, caption in items:
            bad += [(stem, name, what) for what, rx in FORBIDDEN.items() if rx.search(caption)]
            bad += [(stem, name, n) for n in PARAMETER_NAMES if re.search(rf"\b{n}\b", caption)]
    assert not bad, bad


def test_audit_explanations_cite_no_issue_or_repository_path():
    bad = [
        (row["id"], what)
        for row in audit.run()
        for what, rx in FORBIDDEN.items()
        if what != "a code mark" and rx.search(str(row["explanation"]))
    ]
    assert not bad, bad


# --- The section notebooks' text --------------------------------------------------------------------


def _markdown(stem_prefix: str) -> str:
    nb = next(paths.notebooks_dir().glob(f"{stem_prefix}_*.ipynb"))
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("stem", SECTION_NOTEBOOKS)
def test_section_text_has_no_repository_paths_and_names_parameters_in_words(stem):
    text = _markdown(stem)
    for what, rx in FORBIDDEN.items():
        if what != "a code mark":
            assert not rx.search(text), (stem, what)
    # A parameter is named as "(parameter x)", never as code in a sentence.
    quoted = [q for q in re.findall(r"`([^`]+)`", text) if q in params.Params.model_fields]
    assert not quoted, (stem, quoted)
