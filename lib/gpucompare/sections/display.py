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
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure as MplFigure

from gpucompare.core.errors import InputError

#: Output-metadata key under which the build finds tables.
META_KEY = "gpucompare"
#: What a missing value (not applicable, does not fit) shows as.
NA_TEXT = "—"
#: A cell that reads as a number (thousands separators, decimals, exponent, %, x).
_NUMBER = re.compile(r"^[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*[%x×]?$")
_MISSING = {"", "—", "–", "-", "nan", "NaN", "None", "n/a", "NA"}
#: Text columns whose longest cell is at most this many characters do not wrap.
NOWRAP_CHARS = 28
#: Tables with this many columns or more print in a smaller font (class ``gc-wide``).
WIDE_COLUMNS = 8
#: Tables with at most this many rows are not split across printed pages (class ``gc-short``).
SHORT_ROWS = 12


def column_kind(cells: list[str]) -> str:
    """``gc-num`` for a column of mostly numbers (a spec column may hold a few names), else
    ``gc-text``, with ``gc-nowrap`` when its longest cell is short."""
    present = [c for c in cells if c not in _MISSING]
    if present and sum(bool(_NUMBER.match(c)) for c in present) * 2 >= len(present):
        return "gc-num"
    if max(map(len, cells), default=0) <= NOWRAP_CHARS:
        return "gc-text gc-nowrap"
    return "gc-text"


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

    def _cell_classes(self, shown: pd.DataFrame, n_index: int) -> list[list[str]]:
        """Per data cell: its own class (:attr:`cell_class`) and ``gc-best`` (:attr:`highlight`)."""
        raw, best = self.frame, self._best_classes()
        rows = [[""] * shown.shape[1] for _ in range(len(shown))]
        for j, col in enumerate(raw.columns):
            own = [self.cell_class(v) for v in raw[col]] if self.cell_class else [""] * len(raw)
            for i, pair in enumerate(zip(own, best[col], strict=True)):
                rows[i][n_index + j] = " ".join(c for c in pair if c)
        return rows

    def _styled_html(self) -> str:
        """The table as HTML for the page: every cell, label and header escaped; each column marked
        ``gc-num`` (right-aligned) or ``gc-text`` (``gc-nowrap`` when short) from its cells, and the
        table ``gc-wide`` / ``gc-short`` for the print rules (no post-processing of the HTML)."""
        shown = self.frame.copy()
        for col in shown.columns:
            d = self.formats.get(str(col), self.digits)
            shown[col] = [format_value(v, d) for v in shown[col]]
        # The index becomes ordinary leading column(s): one header row, not pandas' two.
        n_index = 0
        if any(name is not None for name in shown.index.names):
            n_index = shown.index.nlevels
            shown = shown.reset_index()
        cells = [[str(v) for v in row] for row in shown.itertuples(index=False)]
        kinds = [column_kind([row[k] for row in cells]) for k in range(shown.shape[1])]
        extra = self._cell_classes(shown, n_index)
        marks = [
            c
            for c, yes in (
                ("gc-wide", len(kinds) >= WIDE_COLUMNS),
                ("gc-short", len(cells) <= SHORT_ROWS),
            )
            if yes
        ]
        name = html.escape(self.name)

        def cls(*parts: str) -> str:
            joined = " ".join(p for p in parts if p)
            return f' class="{html.escape(joined)}"' if joined else ""

        # Long snake_case headers may break after underscores.
        head = "".join(
            f"<th{cls(kind)}>{html.escape(str(c)).replace('_', '_<wbr>')}</th>"
            for c, kind in zip(shown.columns, kinds, strict=True)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{cls(kind, more)}>{html.escape(text)}</td>"
                for text, kind, more in zip(row, kinds, more_row, strict=True)
            )
            + "</tr>"
            for row, more_row in zip(cells, extra, strict=True)
        )
        table = (
            f'<table{cls("gc-table", *marks)} id="table-{name}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        cap = f'<p class="gc-caption">{html.escape(self.caption)}</p>' if self.caption else ""
        return f'<div class="gc-table-wrap" data-table="{name}">{table}{cap}</div>'

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


@dataclass
class Bullets:
    """A named list of sentences (findings, verdicts): a bulleted list on the page, ``- sentence``
    lines for nbval, and a one-column CSV (``tables/<name>.csv``) like a table."""

    items: list[str]
    name: str

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"sentence": self.items}, index=pd.RangeIndex(1, len(self.items) + 1, name="#")
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        items = "".join(f"<li>{html.escape(s)}</li>" for s in self.items)
        data = {
            "text/plain": "\n".join(f"- {s}" for s in self.items),
            "text/html": f'<ul class="gc-bullets" data-table="{html.escape(self.name)}">{items}</ul>',
            "text/csv": self.frame.to_csv(lineterminator="\n"),
        }
        return data, {META_KEY: {"table": self.name}}


def bullets(items: list[str], name: str) -> Bullets:
    """Show sentences as the bulleted list ``name`` (harvested as ``tables/<name>.csv``)."""
    return Bullets(list(items), name)


def nones(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None (shown as "—") where a value is missing: a table's cells say "no
    number", never NaN."""
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


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
