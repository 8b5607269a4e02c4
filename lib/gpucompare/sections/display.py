"""How notebooks show results: tables and figures as rich outputs the build can harvest.

A :class:`Table` renders as HTML in Jupyter and in the published report, as text for
nbval, and carries its full-precision CSV (``text/csv``) plus its name in the output
metadata, from which the build writes ``tables/<name>.csv``. A :class:`Figure` renders as
an HTML ``<figure>`` with an embedded high-DPI PNG, alt text and a caption.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure as MplFigure

from gpucompare.core.errors import InputError

#: Output-metadata key under which the build finds tables.
META_KEY = "gpucompare"
#: What a missing value (not applicable, does not fit) shows as.
NA_TEXT = "—"


def format_value(value: object, digits: int = 2) -> str:
    """Human formatting: thousands separators, ``digits`` decimals for non-integral numbers, — for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA_TEXT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if v.is_integer():
            return f"{v:,.0f}"
        if abs(v) < 10 ** (1 - digits):
            # Small figures (e.g. the article's $0.0035 per million tokens) keep 3 significant digits.
            return f"{v:.3g}"
        return f"{v:,.{digits}f}"
    return str(value)


@dataclass
class Table:
    """A named result table with a caption sentence; see the module docstring."""

    frame: pd.DataFrame
    name: str
    caption: str = ""
    digits: int = 2
    formats: dict[str, int] = field(default_factory=dict)
    #: Optional CSS class per data cell value (e.g. colour a fit matrix); index columns stay plain.
    cell_class: Callable[[object], str] | None = None
    #: Optional winners: ``{column: "max" | "min"}`` marks that column's best cell(s) with the
    #: CSS class ``gc-best`` (HTML only; the text and CSV outputs do not change).
    highlight: dict[str, str] = field(default_factory=dict)

    def _best_classes(self) -> pd.DataFrame:
        """``gc-best`` where a data cell holds its column's best value per :attr:`highlight`."""
        classes = pd.DataFrame("", index=self.frame.index, columns=self.frame.columns)
        for col, direction in self.highlight.items():
            if col not in self.frame.columns:
                allowed = ", ".join(map(str, self.frame.columns))
                raise InputError(f"highlight: unknown column {col!r}; allowed: {allowed}")
            if direction not in ("max", "min"):
                raise InputError(f"highlight[{col!r}]: {direction!r}; allowed: max, min")
            values = pd.to_numeric(self.frame[col], errors="coerce")
            best = values.max() if direction == "max" else values.min()
            if pd.notna(best):
                classes[col] = ["gc-best" if v == best else "" for v in values]
        return classes

    def _styled_html(self) -> str:
        shown = self.frame.copy()
        raw = self.frame
        for col in shown.columns:
            d = self.formats.get(str(col), self.digits)
            shown[col] = [format_value(v, d) for v in shown[col]]
        # The index becomes ordinary leading column(s): one header row, not pandas' two.
        n_index = 0
        if any(name is not None for name in shown.index.names):
            n_index = shown.index.nlevels
            shown = shown.reset_index()
        # Every cell, index label and column header is text from data or parameters: escaped on
        # both paths (to_html escapes cells and headers; the Styler needs escape="html").
        name = html.escape(self.name)
        if self.cell_class is None and not self.highlight:
            body = shown.to_html(
                escape=True,
                border=0,
                index=False,
                classes=["gc-table"],
                table_id=f"table-{name}",
            )
        else:
            classes = pd.DataFrame("", index=shown.index, columns=shown.columns)
            best = self._best_classes()
            for j, col in enumerate(raw.columns):
                own = [self.cell_class(v) for v in raw[col]] if self.cell_class else [""] * len(raw)
                classes.iloc[:, n_index + j] = [
                    html.escape(" ".join(c for c in pair if c))
                    for pair in zip(own, best[col], strict=True)
                ]
            styler = (
                shown.style.format(escape="html")
                .format_index(escape="html", axis=0)
                .format_index(escape="html", axis=1)
                .hide(axis="index")
                .set_td_classes(classes)
            )
            styler = styler.set_uuid(name).set_table_attributes(
                f'class="gc-table" id="table-{name}"'
            )
            body = styler.to_html()
        cap = f'<p class="gc-caption">{html.escape(self.caption)}</p>' if self.caption else ""
        return f'<div class="gc-table-wrap" data-table="{name}">{body}{cap}</div>'

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = self.frame.to_string()
        if self.caption:
            text += "\n\n" + self.caption
        data = {
            "text/plain": text,
            "text/html": self._styled_html(),
            "text/csv": self.frame.to_csv(lineterminator="\n"),
        }
        return data, {META_KEY: {"table": self.name}}


def table(
    frame: pd.DataFrame,
    name: str,
    caption: str = "",
    digits: int = 2,
    cell_class: Callable[[object], str] | None = None,
    highlight: dict[str, str] | None = None,
    **formats: int,
) -> Table:
    """Show ``frame`` as the report table ``name`` (``tables/<name>.csv``) with a caption sentence;
    ``formats`` sets decimals per column, ``cell_class`` a CSS class per data cell, ``highlight``
    the columns whose best value is marked (``{"price_usd": "min", "bf16_tensor_tflops": "max"}``)."""
    return Table(frame, name, caption, digits, formats, cell_class, dict(highlight or {}))


def gpus_needed_class(value: object) -> str:
    """Fit-matrix colours: one GPU (gc-good), several (gc-warn), none within a node (gc-bad)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "gc-bad"
    return "gc-good" if value == 1 else "gc-warn"


@dataclass
class Figure:
    """A finished matplotlib figure with its name, caption sentence and alt text."""

    figure: MplFigure
    name: str
    caption: str
    alt: str
    #: 200 dpi: the report shows figures at their size in inches (96 CSS px each), so
    #: about 2 device pixels per CSS pixel, sharp on high-DPI screens and in print.
    dpi: int = 200

    def png_bytes(self) -> bytes:
        """The figure as PNG; no timestamp or software metadata, so the bytes are reproducible."""
        buf = io.BytesIO()
        self.figure.savefig(
            buf, format="png", dpi=self.dpi, bbox_inches="tight", metadata={"Software": None}
        )
        return buf.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None):
        png = base64.b64encode(self.png_bytes()).decode("ascii")
        fig_html = (
            f'<figure class="gc-figure" id="figure-{html.escape(self.name)}">'
            f'<img src="data:image/png;base64,{png}" alt="{html.escape(self.alt)}" '
            f'style="max-width:100%;height:auto">'
            f"<figcaption>{html.escape(self.caption)}</figcaption></figure>"
        )
        data = {
            "text/plain": f"[figure {self.name}] {self.caption}",
            "text/html": fig_html,
            "image/png": png,
        }
        return data, {META_KEY: {"figure": self.name}, "image/png": {"alt": self.alt}}


def figure(fig: MplFigure, name: str, caption: str, alt: str | None = None) -> Figure:
    """Show a figure made with :mod:`gpucompare.sections.figures` with its caption and alt text."""
    return Figure(fig, name, caption, alt or caption)
