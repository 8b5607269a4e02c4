"""The one figure style of the report.

Figures are built on :class:`matplotlib.figure.Figure` directly, not pyplot, so nothing
global changes and a notebook shows a figure only through :func:`gpucompare.sections.display.figure`.
"""

from __future__ import annotations

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Colour-blind-safe palette (Okabe & Ito, 2008), one colour per GPU in list order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

STYLE = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "svg.hashsalt": "gpucompare",
}


def new(
    title: str, xlabel: str, ylabel: str, size_in: tuple[float, float] = (7.0, 4.2)
) -> tuple[Figure, Axes]:
    """A new figure with one axes, the report's style, a title and unit-bearing axis labels."""
    if not (title and xlabel and ylabel):
        raise ValueError("every figure needs a title and axis labels with units")
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=size_in, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    return fig, ax


def new_row(
    title: str,
    panel_titles: list[str],
    xlabel: str,
    ylabel: str,
    panel_in: float = 4.2,
    sharey: bool = True,
) -> tuple[Figure, list[Axes]]:
    """A figure with one row of panels (sharing the y axis unless ``sharey`` is False), each with its own title."""
    if not (title and xlabel and ylabel):
        raise ValueError("every figure needs a title and axis labels with units")
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(panel_in * len(panel_titles), 4.4), layout="constrained")
        axes = list(fig.subplots(1, len(panel_titles), sharey=sharey, squeeze=False)[0])
        fig.suptitle(title, fontweight="bold")
        for ax, panel in zip(axes, panel_titles, strict=True):
            ax.set_title(panel, fontsize=10)
            ax.set_xlabel(xlabel)
        axes[0].set_ylabel(ylabel)
    return fig, axes


def colour(i: int) -> str:
    """The palette colour for the i-th series."""
    return PALETTE[i % len(PALETTE)]
