"""Tables and figures as rich outputs: formatting, CSV payload and metadata the build harvests."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from gpucompare.core.errors import InputError
from gpucompare.sections import display, figures


def test_format_value():
    assert display.format_value(16896) == "16,896"
    # Three significant figures unless a column asks for decimals: the noisy cases.
    assert display.format_value(989.4) == "989"
    assert display.format_value(175.99) == "176"
    assert display.format_value(40367.57) == "40,400"
    assert display.format_value(10944.17) == "10,900"
    assert display.format_value(41.88) == "41.9"
    assert display.format_value(4.25) == "4.25"
    assert display.format_value(0.14286) == "0.143"
    assert display.format_value(math.inf) == "∞" and display.format_value(-math.inf) == "-∞"
    assert display.format_value(989.4, 2) == "989.40"
    assert display.format_value(3350.0) == "3,350"
    assert display.format_value(0.12345, 3) == "0.123"
    assert display.format_value(None) == display.NA_TEXT
    assert display.format_value(math.nan) == display.NA_TEXT
    assert display.format_value(True) == "yes"
    assert display.format_value("HBM3") == "HBM3"
    # Small figures keep three significant digits instead of rounding to 0.00.
    assert display.format_value(0.0035) == "0.0035"
    assert display.format_value(0.00012345) == "0.000123"
    assert display.format_value(0.25) == "0.25"


def test_table_bundle_carries_csv_and_name():
    frame = pd.DataFrame({"memory_gib": [80.0, 24.0]}, index=pd.Index(["a", "b"], name="gpu"))
    data, meta = display.table(frame, "t1", "Caption.")._repr_mimebundle_()
    assert meta["gpucompare"]["table"] == "t1"
    assert data["text/csv"] == "gpu,memory_gib\na,80.0\nb,24.0\n"
    assert 'id="table-t1"' in data["text/html"] and "Caption." in data["text/html"]
    assert ">GPU</th>" in data["text/html"]  # the index is a plain leading column, in words
    assert ">Memory (GiB)</th>" in data["text/html"]  # the CSV above keeps memory_gib


def test_probabilities_show_as_percentages_and_long_tables_are_interactive():
    frame = pd.DataFrame(
        {"probability_cheapest": [0.0, 0.25, 1.0], "tokens_per_s": [0.0, 0.25, 1.0]}
    )
    html = display.table(frame, "t2")._repr_mimebundle_()[0]["text/html"]
    assert ">0%<" in html and ">25%<" in html and ">100%<" in html
    assert ">0.25<" in html  # not a probability: a number
    assert "gc-interactive" not in html
    long = pd.DataFrame({"x": range(display.INTERACTIVE_ROWS + 1)})
    assert "gc-interactive" in display.table(long, "t3")._repr_mimebundle_()[0]["text/html"]


def test_figure_bundle_is_reproducible_and_described():
    fig, ax = figures.new("Title", "x (unit)", "y (unit)")
    ax.plot([1, 2], [3, 4])
    shown = display.figure(fig, "f1", "What it shows.", alt="Line rising from 3 to 4")
    data, meta = shown._repr_mimebundle_()
    assert shown.png_bytes() == shown.png_bytes()
    assert (
        'alt="Line rising from 3 to 4"' in data["text/html"]
        and "<figcaption>What it shows.</figcaption>" in data["text/html"]
    )
    assert meta["gpucompare"] == {"figure": "f1"}


def test_highlight_marks_the_best_cell_in_html_only():
    frame = pd.DataFrame(
        {"price_usd": [30000.0, 1999.0, 1999.0], "memory_gib": [80.0, 24.0, 32.0]},
        index=pd.Index(["h100", "4090", "5090"], name="gpu"),
    )
    plain, _ = display.table(frame, "t2", "Caption.")._repr_mimebundle_()
    marked, _ = display.table(
        frame, "t2", "Caption.", highlight={"price_usd": "min", "memory_gib": "max"}
    )._repr_mimebundle_()
    # Text and CSV (what nbval compares) are unchanged.
    assert marked["text/plain"] == plain["text/plain"]
    assert marked["text/csv"] == plain["text/csv"]
    html = marked["text/html"]
    best = re.findall(r'<td[^>]*class="[^"]*\bgc-best\b[^"]*"[^>]*>([^<]*)</td>', html)
    # Cheapest: both 1,999 cells (a tie marks both); most memory: 80.
    assert sorted(best) == ["1,999", "1,999", "80"]
    assert 'id="table-t2"' in html


def test_highlight_rejects_unknown_columns_and_directions():
    frame = pd.DataFrame({"price_usd": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"highlight: unknown column 'cost'.*allowed: price_usd"):
        display.table(frame, "t3", highlight={"cost": "min"})._repr_mimebundle_()
    with pytest.raises(InputError, match=r"allowed: max, min"):
        display.table(frame, "t3", highlight={"price_usd": "lowest"})._repr_mimebundle_()


def test_tables_mark_their_columns_without_post_processing():
    """Numbers right-aligned (gc-num, missing values too), short text unwrapped, long text free to
    wrap, headers in words, short tables kept on one printed page."""
    frame = pd.DataFrame(
        {
            "memory_bandwidth_gb_s": [3350.0, float("nan")],
            "note": ["HBM3", "long text " * 5],
        },
        index=pd.Index(["h100-sxm", "rtx-4090"], name="gpu"),
    )
    page = display.table(frame, "t")._styled_html()
    assert '<th class="gc-text gc-nowrap">GPU</th>' in page
    assert '<td class="gc-num">3,350</td>' in page and '<td class="gc-num">—</td>' in page
    assert '<td class="gc-text">long text' in page
    assert ">Memory bandwidth (GB/s)</th>" in page  # headers in words, units in brackets
    assert '<table class="gc-table gc-short" id="table-t">' in page


def test_cell_classes_and_highlights_join_the_column_class():
    frame = pd.DataFrame({"gpus_needed": [1, 2]}, index=pd.Index(["a", "b"], name="model"))
    page = display.table(
        frame, "fit", cell_class=display.gpus_needed_class, highlight={"gpus_needed": "min"}
    )._styled_html()
    assert '<td class="gc-num gc-good gc-best">1</td>' in page
    assert '<td class="gc-num gc-warn">2</td>' in page


def test_zero_can_mean_does_not_fit_on_the_page_only():
    frame = pd.DataFrame({"4,096 tokens": [0, 12]}, index=pd.Index(["a", "b"], name="model"))
    data, _ = display.table(frame, "t4", zero_means="does not fit")._repr_mimebundle_()
    assert ">does not fit<" in data["text/html"] and ">12<" in data["text/html"]
    assert "a,0\n" in data["text/csv"]  # analysts still get the number


def test_rows_are_labelled_by_catalog_names_on_the_page_only():
    """The page shows the catalog's names ("H100 SXM", as NVIDIA names the product; "Llama 2 7B",
    as Meta names the model); the CSV and the text output keep the ids analysts script against."""
    frame = pd.DataFrame(
        {"gpus": ["2 x h100-sxm", "1 x rtx-4090"], "source_id": ["rtx-4090", "h100-sxm"]},
        index=pd.Index(["llama-2-7b", "llama-2-70b"], name="model"),
    )
    bundle, _ = display.table(frame, "t")._repr_mimebundle_()
    page = bundle["text/html"]
    for shown in ("Llama 2 7B", "Llama 2 70B", "2 x H100 SXM", "1 x RTX 4090"):
        assert f">{shown}<" in page
    assert ">rtx-4090<" in page and ">h100-sxm<" in page  # an id column shows ids
    assert "llama-2-7b" in bundle["text/csv"] and "2 x h100-sxm" in bundle["text/csv"]
    assert "Llama 2 7B" not in bundle["text/plain"]


def test_addresses_show_as_links_named_by_their_site():
    frame = pd.DataFrame(
        {"url": ["https://www.techpowerup.com/gpu-specs/geforce-rtx-4090.c3889", "not an address"]},
        index=pd.Index(["a", "b"], name="source"),
    )
    bundle, _ = display.table(frame, "t")._repr_mimebundle_()
    page = bundle["text/html"]
    assert (
        '<a href="https://www.techpowerup.com/gpu-specs/geforce-rtx-4090.c3889" '
        'rel="noopener noreferrer">techpowerup.com</a>'
    ) in page
    assert ">not an address<" in page
    assert "https://www.techpowerup.com/gpu-specs/geforce-rtx-4090.c3889" in bundle["text/csv"]


def test_does_not_fit_may_wrap_in_a_number_column():
    frame = pd.DataFrame({"max_batch": [0, 12]}, index=pd.Index(["x", "y"], name="gpu"))
    page = display.table(frame, "t", zero_means="does not fit")._repr_mimebundle_()[0]["text/html"]
    assert '<td class="gc-num gc-wrap">does not fit</td>' in page
    assert '<td class="gc-num">12</td>' in page


def test_captions_name_catalog_entries_in_words_and_does_not_fit_columns_stay_numeric():
    frame = pd.DataFrame({"max_batch": [0, 0, 12]}, index=pd.Index(["a", "b", "c"], name="gpu"))
    t = display.table(
        frame, "t", "At 4,096 tokens llama-2-7b fits rtx-4090.", zero_means="does not fit"
    )
    page = t._repr_mimebundle_()[0]["text/html"]
    assert "At 4,096 tokens Llama 2 7B fits RTX 4090." in page
    # Two of three cells say "does not fit": still a number column (right-aligned).
    assert '<th class="gc-num">Most sequences that fit</th>' in page


def _renders(monkeypatch) -> list[str]:
    """The names of the tables whose page HTML is made (not taken from the memo) from now on."""
    made = []
    styled = display.Table._styled_html

    def counting(self):
        made.append(self.name)
        return styled(self)

    monkeypatch.setattr(display.Table, "_styled_html", counting)
    monkeypatch.setattr(display, "_PAGE_HTML", type(display._PAGE_HTML)())
    return made


def test_a_table_shown_again_is_rendered_once_and_a_change_renders_it_again(monkeypatch):
    made = _renders(monkeypatch)
    frame = pd.DataFrame({"gpu": ["h100-sxm", "rtx-4090"], "usd": [25000.0, 1599.5]})
    first = display.table(frame, "t", "Prices.")._repr_mimebundle_()
    again = display.table(frame.copy(), "t", "Prices.")._repr_mimebundle_()
    assert again == first and made == ["t"]
    # Anything the page shows makes a new page: a number, its type, the caption, a format.
    changed = frame.copy()
    changed.loc[1, "usd"] = 1999.0
    variants = [
        display.table(changed, "t", "Prices."),
        display.table(frame.astype({"usd": object}), "t", "Prices."),
        display.table(frame, "t", "Other prices."),
        display.table(frame, "t", "Prices.", usd=2),
        display.table(frame, "t", "Prices.", highlight={"usd": "min"}),
    ]
    pages = [v._repr_mimebundle_()[0]["text/html"] for v in variants]
    assert len(made) == 1 + len(variants)
    assert "1,999" in pages[0] and "Other prices." in pages[2] and "1,599.50" in pages[3]
    assert "gc-best" in pages[4] and "gc-best" not in first[0]["text/html"]


def test_tables_with_a_cell_class_are_always_rendered(monkeypatch):
    made = _renders(monkeypatch)
    frame = pd.DataFrame({"fits": [True, False]})
    for _ in range(2):
        display.table(frame, "f", cell_class=lambda v: "gc-yes" if v else "")._repr_mimebundle_()
    assert made == ["f", "f"]
