"""Every figure of the report, drawn with the default parameters, read at its printed size: a title,
axis labels with units, a caption, legends of at least 8 pt, no text under the style's smallest size,
the colour-blind-safe palette only, and lines that lie on each other told apart by marker or line
style (and named in the caption). Plus the figure style itself and the print rule for tables.

The printed size: a page shows a figure at its size in inches (``report.render.png_css_width``, 96
CSS px per inch), scaled down only where it is wider than the printed text column
(``figures.PRINT_WIDTH_IN``); a font size times that scale is its size on paper."""

from __future__ import annotations

import base64
import importlib
import inspect
import itertools
import json
import pkgutil
import re
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.collections import Collection
from matplotlib.figure import Figure as MplFigure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator

import gpucompare.sections
from gpucompare import params
from gpucompare.core import paths
from gpucompare.report import render
from gpucompare.sections import display, figures

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(gpucompare.__file__).parent / "templates"
#: Okabe & Ito (2008), "Color Universal Design": the colour-blind-safe palette, as published.
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


def _figure_functions() -> list[tuple[str, object]]:
    """Every public function of a section module that returns a ``display.Figure``."""
    found = []
    for info in pkgutil.iter_modules(gpucompare.sections.__path__):
        module = importlib.import_module(f"gpucompare.sections.{info.name}")
        for name, func in inspect.getmembers(module, inspect.isfunction):
            returns = str(func.__annotations__.get("return", ""))
            mine = func.__module__ == module.__name__ and not name.startswith("_")
            if mine and returns.endswith("display.Figure"):
                found.append((f"{info.name}.{name}", func))
    return sorted(found, key=lambda x: x[0])


FUNCTIONS = _figure_functions()


def _draw(func) -> display.Figure:
    p = params.make()
    return func(p) if "p" in inspect.signature(func).parameters else func()


@pytest.fixture(scope="module", params=FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def shown(request) -> display.Figure:
    fig = _draw(request.param[1])
    fig.png = fig.png_bytes()  # draws the figure as the report does (layout, ticks, legends)
    return fig


def _print_scale(png: bytes) -> float:
    """How much the printed page scales the figure: 1 unless it is wider than the text column."""
    width_in = render.png_css_width(base64.b64encode(png).decode("ascii")) / 96
    return min(1.0, figures.PRINT_WIDTH_IN / width_in)


def _texts(fig: MplFigure) -> list[Text]:
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None
    ]


def _legend_texts(fig: MplFigure) -> list[Text]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t for lg in legends for t in lg.get_texts()]


def _hex(colour) -> str | None:
    """The colour as #RRGGBB, or None for transparent."""
    rgba = mcolors.to_rgba(colour)
    return None if rgba[3] == 0 else mcolors.to_hex(rgba, keep_alpha=False).upper()


def _is_grey(hex_colour: str) -> bool:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return r == g == b


def _data_colours(fig: MplFigure) -> set[str]:
    """The colours the data are drawn in: lines, markers, bars, points and image colour maps."""
    out = set()
    for ax in fig.axes:
        for line in ax.get_lines():
            out |= {line.get_color(), line.get_markerfacecolor(), line.get_markeredgecolor()}
        for coll in ax.collections:
            if (
                isinstance(coll, Collection)
                and coll.get_label()
                and not coll.get_label().startswith("_")
            ):
                out |= {tuple(c) for c in coll.get_facecolors()}
                out |= {tuple(c) for c in coll.get_edgecolors()}
        for patch in ax.patches:
            if isinstance(patch, Patch):
                out.add(tuple(patch.get_facecolor()))
        for image in ax.get_images():
            if isinstance(image, AxesImage):
                cmap = image.get_cmap()
                out |= {tuple(cmap(i)) for i in range(cmap.N)}
    return {h for h in map(_hex, out) if h is not None}


def _labelled_lines(ax) -> list[Line2D]:
    return [ln for ln in ax.get_lines() if not str(ln.get_label()).startswith("_")]


def _style(line: Line2D) -> tuple:
    return (_hex(line.get_color()), str(line.get_marker()), str(line.get_linestyle()))


# --- The style ---------------------------------------------------------------------------------


def test_the_palette_is_okabe_ito():
    assert {c.upper() for c in figures.PALETTE} == OKABE_ITO
    assert len(figures.PALETTE) == len(set(figures.PALETTE))


def test_series_differ_in_colour_marker_and_line_style():
    styles = [figures.series(i) for i in range(len(figures.LINESTYLES))]
    for key in ("color", "marker", "linestyle"):
        assert len({str(s[key]) for s in styles}) == len(styles), key
    # A long line marks a few points, shifted per series so coincident lines' markers interleave.
    long = [figures.series(i, 81)["markevery"] for i in range(3)]
    assert len({start for start, _ in long}) == 3
    assert all(81 / step <= figures.MAX_MARKERS for _, step in long)


def test_figures_fit_the_printed_column_and_legends_are_legible():
    assert figures.FIG_WIDTH_IN <= figures.PRINT_WIDTH_IN
    assert figures.LEGEND_PT >= 8 and figures.MIN_TEXT_PT >= 7
    css = (TEMPLATES / "report-print.css").read_text(encoding="utf-8")
    assert "184mm" in css
    assert pytest.approx(184 / 25.4) == figures.PRINT_WIDTH_IN


def test_overlaps_find_coincident_lines_and_partial_ones():
    fig, ax = figures.new("t", "x (unit)", "y (unit)")
    x = np.array([1.0, 2.0, 3.0, 4.0])
    ax.plot(x, x, label="a", **figures.series(0))
    ax.plot(x, x, label="b", **figures.series(1))
    ax.plot(x, [1.0, 2.0, 9.0, 12.0], label="c", **figures.series(2))
    ax.plot(x, [20.0, 20.0, 20.0, 20.0], label="d", **figures.series(3))
    found = {(o.first, o.second): o for o in figures.overlaps(fig)}
    assert found["a", "b"].whole
    assert not found["a", "c"].whole and (found["a", "c"].x_from, found["a", "c"].x_to) == (
        1.0,
        2.0,
    )
    assert ("a", "d") not in found and ("c", "d") not in found


# --- Every figure of the report ------------------------------------------------------------------


def test_every_figure_function_is_shown_by_a_notebook():
    code = "\n".join(
        "".join(c["source"])
        for nb in sorted(paths.notebooks_dir().glob("0*.ipynb"))
        for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "code"
    )
    assert len(FUNCTIONS) >= 13
    for name, _ in FUNCTIONS:
        assert re.search(rf"\b{re.escape(name)}\(", code), f"{name} is drawn by no notebook"


def test_title_axis_labels_with_units_and_caption(shown):
    fig = shown.figure
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    assert title or all(ax.get_title() for ax in fig.axes), "a figure needs a title"
    for ax in fig.axes:
        assert ax.get_xlabel(), f"{shown.name}: an x axis without a label"
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            # Named ticks (workloads, GPUs, inputs) need no unit; numbers do.
            categorical = isinstance(axis.get_major_locator(), FixedLocator) and any(
                re.search(r"[A-Za-z]", t.get_text()) for t in axis.get_ticklabels()
            )
            if label and not categorical:
                assert re.search(r"\(.+\)", label), f"{shown.name}: {label!r} has no unit"
    assert any(ax.get_ylabel() for ax in fig.axes), f"{shown.name}: no y label"
    assert shown.caption.endswith(".") and len(shown.caption) > 40, shown.caption
    assert shown.alt, "alt text"


def test_legends_of_at_least_8_pt_and_no_text_under_the_smallest_size_in_print(shown):
    scale = _print_scale(shown.png)
    legend = _legend_texts(shown.figure)
    for t in legend:
        assert t.get_fontsize() * scale >= figures.LEGEND_PT - 1e-9, (
            f"{shown.name}: legend text {t.get_text()!r} prints at {t.get_fontsize() * scale:.1f} pt"
        )
    for t in _texts(shown.figure):
        assert t.get_fontsize() * scale >= figures.MIN_TEXT_PT - 1e-9, (
            f"{shown.name}: {t.get_text()!r} prints at {t.get_fontsize() * scale:.1f} pt"
        )


def test_colour_blind_safe_palette_only(shown):
    colours = _data_colours(shown.figure)
    assert colours, shown.name
    others = {c for c in colours if c not in OKABE_ITO and not _is_grey(c)}
    assert not others, f"{shown.name}: colours outside the palette: {sorted(others)}"


def test_lines_that_lie_on_each_other_are_told_apart_and_named(shown):
    fig = shown.figure
    for ax in fig.axes:
        lines = _labelled_lines(ax)
        # Two lines drawn alike (colour, marker and line style) cannot be told apart at all.
        styles = [_style(ln) for ln in lines]
        assert len(set(styles)) == len(styles), f"{shown.name} / {ax.get_title()}: {styles}"
        # Identical data: the second line hides the first unless marker or line style differ.
        for a, b in itertools.combinations(lines, 2):
            xa, ya = (np.asarray(v, dtype=float) for v in a.get_data())
            xb, yb = (np.asarray(v, dtype=float) for v in b.get_data())
            if xa.shape == xb.shape and np.allclose(xa, xb) and np.allclose(ya, yb, equal_nan=True):
                assert _style(a)[1:] != _style(b)[1:], (
                    f"{shown.name}: {a.get_label()} and {b.get_label()} coincide and differ only "
                    "in colour"
                )
    for o in figures.overlaps(fig):
        # Lines that lie on each other for a stretch (within figures.OVERLAP_TOL of the panel).
        ax = next(ax for ax in fig.axes if " ".join(ax.get_title().split()) == o.panel)
        style = {ln.get_label(): _style(ln) for ln in _labelled_lines(ax)}
        assert style[o.first][1:] != style[o.second][1:], (
            f"{shown.name}: {o.first} and {o.second} overlap and differ only in colour"
        )
        if o.whole:
            assert o.first in shown.caption and o.second in shown.caption, (
                f"{shown.name}: {o.first} and {o.second} coincide; the caption must say so"
            )


# --- Tables in print -----------------------------------------------------------------------------


def test_no_printed_table_rule_under_7_pt():
    """The print style sets no table font under 7 pt, and print.html's script scales a wide table
    no further than that (it reads the same minimum)."""
    css = (TEMPLATES / "report-print.css").read_text(encoding="utf-8")
    sizes = [
        float(v)
        for rule in re.findall(r"[^{}]*table[^{}]*\{[^}]*\}", css)
        for v in re.findall(r"font-size:\s*([\d.]+)pt", rule)
    ]
    assert sizes and min(sizes) >= 7
    assert re.search(r"--gc-min-table-pt:\s*7\b", css)
    script = (TEMPLATES / "report_print.html.j2").read_text(encoding="utf-8")
    assert "--gc-min-table-pt" in script and "minPt / fontPt" in script
    assert "0.5" not in script.split("<script>")[-1], "the old floor of half size"
