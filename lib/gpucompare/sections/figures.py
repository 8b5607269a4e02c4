"""The one figure style of the report.

Figures are built on :class:`matplotlib.figure.Figure` directly, not pyplot, so nothing
global changes and a notebook shows a figure only through :func:`gpucompare.sections.display.figure`.

Print size: a page shows a figure at its size in inches (``report/render.py``, ``png_css_width``)
and never wider than the printed text column (:data:`PRINT_WIDTH_IN`, the 184 mm of
``templates/report-print.css``). Every figure here is made :data:`FIG_WIDTH_IN` wide, inside that
column, so the font sizes below are the sizes on paper: legends :data:`LEGEND_PT`, no text under
:data:`MIN_TEXT_PT`.

Series: the i-th series of a figure gets the i-th colour of a colour-blind-safe palette
(Okabe-Ito), the i-th marker and the i-th line style together (:func:`series`), so two lines that
lie on each other stay apart; :func:`overlaps` finds such lines, for the caption to name them.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path

#: Colour-blind-safe palette (Okabe & Ito, 2008), one colour per GPU in list order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
#: One marker per series, in series order (filled shapes; odd series are drawn hollow).
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
#: One line style per series, in series order.
LINESTYLES = ["-", "--", "-.", ":"]
#: At most this many markers on one line: a longer line gets every n-th point marked, shifted per
#: series so that the markers of two coincident lines do not cover each other.
MAX_MARKERS = 10
#: The printed text column (A4, 184 mm: ``templates/report-print.css``), inches.
PRINT_WIDTH_IN = 184 / 25.4
#: Width of every figure, inches (inside :data:`PRINT_WIDTH_IN`, so it prints at full size).
FIG_WIDTH_IN = 7.0
#: Legend text, points at print size.
LEGEND_PT = 8.0
#: Smallest text of a figure (tick labels), points at print size.
MIN_TEXT_PT = 8.0
#: Two lines closer than this share of their panel's height lie on each other for a reader
#: (1.2% of a 2.7-inch panel is under 3 points, about two line widths).
OVERLAP_TOL = 0.012
#: Characters of a title per inch of its width (bold at the title sizes): longer titles wrap.
TITLE_CHARS_PER_IN = 9.5
#: Panels per row of :func:`new_row`; more panels wrap onto further rows.
MAX_PANELS_PER_ROW = 3

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": LEGEND_PT,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "svg.hashsalt": "gpucompare",
}


def _check_labels(title: str, xlabel: str, ylabel: str) -> None:
    if not (title and xlabel and ylabel):
        raise ValueError("every figure needs a title and axis labels with units")


def _wrap(title: str, width_in: float) -> str:
    """``title`` broken into lines that fit ``width_in`` (a workload name can be any length)."""
    return textwrap.fill(title, max(12, int(width_in * TITLE_CHARS_PER_IN)), break_long_words=False)


def _fresh_shared_paths() -> None:
    """Put back the interpolation steps of matplotlib's unit rectangle, which every rectangle and
    square marker of the process shares and ``ax.bar`` (100) or ``axvspan`` (180) change for all:
    each figure then starts from the same state, whatever was drawn before it in the process (a
    warm kernel runs many sections), and describes itself the same way to the figure cache. The
    steps only matter under a non-affine transform, where straight axis-aligned edges stay
    straight."""
    Path.unit_rectangle()._interpolation_steps = 1


def _style_axes(ax: Axes) -> None:
    """Tick label sizes that hold for ticks made later, outside the style's rc context."""
    ax.tick_params(labelsize=STYLE["xtick.labelsize"])


def new(title: str, xlabel: str, ylabel: str, height_in: float = 4.2) -> tuple[Figure, Axes]:
    """A new figure with one axes, the report's style, a title and unit-bearing axis labels,
    :data:`FIG_WIDTH_IN` wide."""
    _check_labels(title, xlabel, ylabel)
    _fresh_shared_paths()
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(FIG_WIDTH_IN, height_in), layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(_wrap(title, FIG_WIDTH_IN))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _style_axes(ax)
    return fig, ax


def new_row(
    title: str,
    panel_titles: list[str],
    xlabel: str,
    ylabel: str,
    panel_height_in: float = 3.4,
    sharey: bool = True,
) -> tuple[Figure, list[Axes]]:
    """A figure of panels, each with its own title, :data:`FIG_WIDTH_IN` wide: up to
    :data:`MAX_PANELS_PER_ROW` per row (more wrap onto further rows), sharing the y axis unless
    ``sharey`` is False. Returns the used panels in order."""
    _check_labels(title, xlabel, ylabel)
    n = len(panel_titles)
    cols = min(max(n, 1), MAX_PANELS_PER_ROW)
    rows = max(1, math.ceil(n / cols))
    _fresh_shared_paths()
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(FIG_WIDTH_IN, panel_height_in * rows + 0.6), layout="constrained")
        grid = fig.subplots(rows, cols, sharey=sharey, squeeze=False)
        fig.suptitle(
            _wrap(title, FIG_WIDTH_IN), fontweight="bold", fontsize=STYLE["axes.titlesize"]
        )
        axes = [ax for row in grid for ax in row]
        for ax in axes[n:]:
            ax.remove()
        axes = axes[:n]
        for k, (ax, panel) in enumerate(zip(axes, panel_titles, strict=True)):
            ax.set_title(_wrap(panel, FIG_WIDTH_IN / cols * 1.15), fontsize=STYLE["axes.labelsize"])
            ax.set_xlabel(xlabel)
            if k % cols == 0 or not sharey:
                ax.set_ylabel(ylabel)
            _style_axes(ax)
    return fig, axes


def colour(i: int) -> str:
    """The palette colour for the i-th series."""
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> dict:
    """Marker of the i-th series (colour, shape; odd series hollow), for points without lines."""
    face = colour(i) if i % 2 == 0 else "none"
    return {"color": colour(i), "marker": MARKERS[i % len(MARKERS)], "facecolors": face}


def series(i: int, points: int = 0, markers: bool = True) -> dict:
    """Line keywords of the i-th series: its colour, marker and line style (all three change
    with i) for ``ax.plot``; a line of more than :data:`MAX_MARKERS` ``points`` marks every n-th
    point, shifted per series. ``markers=False`` for a model's continuous curve that no other
    line can cover (a marker reads as a data point): colour and line style still change with i."""
    kw: dict = {
        "color": colour(i),
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
        "linewidth": 1.5,
    }
    if not markers:
        return kw
    kw |= {"marker": MARKERS[i % len(MARKERS)], "markersize": 4.5}
    if i % 2:
        kw["markerfacecolor"] = "white"
    if points > MAX_MARKERS:
        step = math.ceil(points / MAX_MARKERS)
        kw["markevery"] = ((i * max(1, step // 3)) % step, step)
    return kw


def legend(ax: Axes, **kw):
    """The axes' legend at :data:`LEGEND_PT`."""
    return ax.legend(fontsize=LEGEND_PT, **kw)


def row_legend(fig: Figure, axes: list[Axes], labels: dict[str, str] | None = None, ncols: int = 2):
    """One legend for all panels, below them, at :data:`LEGEND_PT`: one entry per line label (the
    first panel's line with that label stands for all), shown as ``labels[label]`` when given."""
    handles: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    if not handles:
        return None
    names = [(labels or {}).get(lab, lab) for lab in handles]
    return fig.legend(
        list(handles.values()),
        names,
        loc="outside lower center",
        ncols=min(ncols, len(names)),
        fontsize=LEGEND_PT,
    )


@dataclass(frozen=True)
class Overlap:
    """Two labelled lines of one panel that lie on each other (within a relative tolerance)."""

    panel: str
    first: str
    second: str
    #: The first and last x where they lie on each other.
    x_from: float
    x_to: float
    #: True when they agree at every x the two lines share.
    whole: bool


def _line_points(ax: Axes, line: Line2D) -> dict[float, float]:
    """The line's finite points as x (data) -> y (fraction of the axes' height, log scales included)."""
    x = np.asarray(line.get_xdata(), dtype=float)
    y = np.asarray(line.get_ydata(), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.isfinite(x) & np.isfinite(y) & ((ax.get_yscale() != "log") | (y > 0))
    if not keep.any():
        return {}
    ax.get_xlim(), ax.get_ylim()  # settle the autoscaled limits before transforming
    shown = ax.transAxes.inverted().transform(ax.transData.transform(np.c_[x[keep], y[keep]]))
    return dict(zip(x[keep].tolist(), shown[:, 1].tolist(), strict=True))


def overlaps(fig: Figure, tol: float = OVERLAP_TOL, min_points: int = 2) -> list[Overlap]:
    """Pairs of labelled lines of one panel that come within ``tol`` of the panel's height of each
    other at ``min_points`` or more of the x values they share: what a reader cannot tell apart by
    position alone."""
    out = []
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if not str(ln.get_label()).startswith("_")]
        points = [_line_points(ax, ln) for ln in lines]
        for a in range(len(lines)):
            for b in range(a + 1, len(lines)):
                shared = sorted(set(points[a]) & set(points[b]))
                close = [x for x in shared if abs(points[a][x] - points[b][x]) <= tol]
                if len(close) < min_points:
                    continue
                out.append(
                    Overlap(
                        " ".join(ax.get_title().split()),
                        str(lines[a].get_label()),
                        str(lines[b].get_label()),
                        close[0],
                        close[-1],
                        len(close) == len(shared) == len(points[a]) == len(points[b]),
                    )
                )
    return out
