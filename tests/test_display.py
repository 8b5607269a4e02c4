"""Tables and figures as rich outputs: formatting, CSV payload and metadata the build harvests."""

from __future__ import annotations

import math

import pandas as pd

from gpucompare import display, figures


def test_format_value():
    assert display.format_value(16896) == "16,896"
    assert display.format_value(989.4) == "989.40"
    assert display.format_value(3350.0) == "3,350"
    assert display.format_value(0.12345, 3) == "0.123"
    assert display.format_value(None) == display.NA_TEXT
    assert display.format_value(math.nan) == display.NA_TEXT
    assert display.format_value(True) == "yes"
    assert display.format_value("HBM3") == "HBM3"


def test_table_bundle_carries_csv_and_name():
    frame = pd.DataFrame({"memory_gib": [80.0, 24.0]}, index=pd.Index(["a", "b"], name="gpu"))
    data, meta = display.table(frame, "t1", "Caption.")._repr_mimebundle_()
    assert meta == {"gpucompare": {"table": "t1"}}
    assert data["text/csv"] == "gpu,memory_gib\na,80.0\nb,24.0\n"
    assert 'id="table-t1"' in data["text/html"] and "Caption." in data["text/html"]
    assert "<th>gpu</th>" in data["text/html"]  # the index is a plain leading column


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
