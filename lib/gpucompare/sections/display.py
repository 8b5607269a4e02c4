"""How notebooks show results: tables and figures as rich outputs the build can harvest.

A :class:`Table` renders as HTML in Jupyter and in the published report, as text for
nbval, and carries its full-precision CSV (``text/csv``) plus its name in the output
metadata, from which the build writes ``tables/<name>.csv``. A :class:`Figure` renders as
an HTML ``<figure>`` with an embedded high-DPI PNG, alt text and a caption.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import numbers
import pickle
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pandas as pd

from gpucompare.core.errors import InputError
from gpucompare.data import names as data_names
from gpucompare.sections import META_KEY, labels

if TYPE_CHECKING:  # annotations only: the comparison page uses this module's tables, no figure
    from matplotlib.figure import Figure as MplFigure

#: What a missing value (not applicable, does not fit) shows as.
NA_TEXT = "—"
#: A cell that reads as a number (thousands separators, decimals, exponent, %, x).
_NUMBER = re.compile(r"^[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*[%x×]?$")
_MISSING = {"", "—", "–", "-", "nan", "NaN", "None", "n/a", "NA"}
#: Text columns whose longest cell is at most this many characters do not wrap.
NOWRAP_CHARS = 16
#: Text columns with a cell this long are prose (explanations): they wrap at a readable width.
PROSE_CHARS = 60
#: Tables with this many columns or more print in a smaller font (class ``gc-wide``).
WIDE_COLUMNS = 8
#: Tables with this many columns or more show in a smaller font still (class ``gc-wider``).
WIDER_COLUMNS = 11
#: Tables with more rows than this are searchable and sortable on the page (class
#: ``gc-interactive``: DataTables from the itables package, embedded offline by the build).
INTERACTIVE_ROWS = 20
#: Tables with at most this many rows are not split across printed pages (class ``gc-short``).
SHORT_ROWS = 12


def column_kind(cells: list[str], missing: tuple[str, ...] = ()) -> str:
    """``gc-num`` for a column of mostly numbers (a spec column may hold a few names), else
    ``gc-text``, with ``gc-nowrap`` when its longest cell is short. Cells in ``missing`` (a number
    that cannot exist: "does not fit") count as missing values."""
    present = [c for c in cells if c not in _MISSING and c not in missing]
    if present and sum(bool(_NUMBER.match(c)) for c in present) * 2 >= len(present):
        return "gc-num"
    longest = max(map(len, cells), default=0)
    if longest <= NOWRAP_CHARS:
        return "gc-text gc-nowrap"
    # Prose: long sentences throughout (explanations), not one long cell among short ones (units).
    mean = sum(map(len, cells)) / len(cells)
    return "gc-text gc-prose" if longest >= PROSE_CHARS and mean >= PROSE_CHARS / 2 else "gc-text"


#: Columns that show ids as ids (a source's id is what the data files cite).
ID_COLUMNS = ("id", "source", "source_id", "url")


def shows_ids(column: object) -> bool:
    """Whether ``column`` shows ids as ids (:data:`ID_COLUMNS`, ``*_id``) rather than names."""
    return str(column) in ID_COLUMNS or str(column).endswith("_id")


#: Significant figures of a number shown without a column format.
SIGNIFICANT = 3


def _significant(v: float) -> str:
    """``v`` to :data:`SIGNIFICANT` significant figures, with thousands separators: 175.99 -> "176",
    40,367.57 -> "40,400", 0.14286 -> "0.143", 4.25 -> "4.25"."""
    if v == 0:
        return "0"
    exponent = math.floor(math.log10(abs(v)))
    if exponent >= SIGNIFICANT - 1:
        return f"{round(v, SIGNIFICANT - 1 - exponent):,.0f}"
    return f"{v:.{SIGNIFICANT}g}"


def format_value(value: object, digits: int | None = None) -> str:
    """Human formatting: thousands separators, — for missing; integers exact; other numbers to
    ``digits`` decimals when given, else to three significant figures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA_TEXT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v.is_integer():
            return f"{v:,.0f}"
        if digits is None:
            return _significant(v)
        if abs(v) < 10.0**-digits:
            # Figures that would round to 0 (the article's $0.0035 per million tokens at two
            # decimals) keep 3 significant digits.
            return f"{v:.3g}"
        return f"{v:,.{digits}f}"
    return str(value)


def is_percent_column(name: object, values: pd.Series) -> bool:
    """A probability, fraction or share (by its name) whose values all lie in [0, 1]: shown as %."""
    text = str(name)
    named = (
        text.startswith(("probability", "p_"))
        or text.endswith(("_fraction", "_share"))
        or text in ("fraction", "utilization")
    )
    if not named:  # the name decides first: converting every column costs ~0.3 ms
        return False
    numeric = pd.to_numeric(values, errors="coerce").dropna()
    return len(numeric) > 0 and bool(((numeric >= 0) & (numeric <= 1)).all())


def format_percent(value: object) -> str:
    """A fraction as a percentage to three significant figures (0.7 -> "70%"); — for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA_TEXT
    return f"{_significant(100 * float(value))}%"


#: Page HTML of the tables shown last (:meth:`Table._page_html`), by a hash of everything the HTML
#: depends on: a warm kernel shows the same tables again at every price edit of the preview, and
#: the styled HTML costs 3-10 ms a table (pickling and hashing one, ~0.1 ms).
_PAGE_HTML: OrderedDict[bytes, str] = OrderedDict()
#: Tables kept (a report shows about 130).
PAGE_HTML_KEPT = 512


@dataclass
class Table:
    """A named result table with a caption sentence; see the module docstring."""

    frame: pd.DataFrame
    name: str
    caption: str = ""
    #: Decimals of numbers without a column format; None: three significant figures.
    digits: int | None = None
    formats: dict[str, int] = field(default_factory=dict)
    #: Optional CSS class per data cell value (e.g. colour a fit matrix); index columns stay plain.
    cell_class: Callable[[object], str] | None = None
    #: Optional winners: ``{column: "max" | "min"}`` marks that column's best cell(s) with the
    #: CSS class ``gc-best`` (HTML only; the text and CSV outputs do not change).
    highlight: dict[str, str] = field(default_factory=dict)
    #: Columns kept in the CSV and the text output but not shown on the page (numbers a sentence
    #: column already says in words).
    hidden: tuple[str, ...] = ()
    #: What a 0 means in the page's number cells when it is not a quantity (e.g. "does not fit"
    #: for a maximum batch of 0); the CSV keeps 0.
    zero_means: str | None = None

    @property
    def page_frame(self) -> pd.DataFrame:
        """The columns the page shows (the frame itself when none is hidden: do not change it)."""
        hidden = [c for c in self.hidden if c in self.frame.columns]
        return self.frame.drop(columns=hidden) if hidden else self.frame

    def _best_classes(self, frame: pd.DataFrame) -> dict[object, list[str]]:
        """``gc-best`` where a data cell of ``frame`` (:attr:`page_frame`) holds its column's best
        value per :attr:`highlight`, by column (columns without a best value are left out)."""
        classes: dict[object, list[str]] = {}
        for col, direction in self.highlight.items():
            if col not in frame.columns:
                allowed = ", ".join(map(str, frame.columns))
                raise InputError(f"highlight: unknown column {col!r}; allowed: {allowed}")
            if direction not in ("max", "min"):
                raise InputError(f"highlight[{col!r}]: {direction!r}; allowed: max, min")
            values = pd.to_numeric(frame[col], errors="coerce")
            best = values.max() if direction == "max" else values.min()
            if pd.notna(best):
                classes[col] = ["gc-best" if v == best else "" for v in values]
        return classes

    def _cell_classes(self, raw: pd.DataFrame, width: int, n_index: int) -> list[list[str]]:
        """Per data cell of ``raw`` (:attr:`page_frame`), in rows of ``width`` cells whose first
        ``n_index`` are the index: its own class (:attr:`cell_class`) and ``gc-best``
        (:attr:`highlight`)."""
        best = self._best_classes(raw)
        rows = [[""] * width for _ in range(len(raw))]
        none = [""] * len(raw)
        for j, col in enumerate(raw.columns):
            values = raw[col] if self.cell_class or self.zero_means else ()
            own = [self.cell_class(v) for v in values] if self.cell_class else none
            # A sentence in a number column ("does not fit") may wrap; numbers do not.
            wrap = (
                ["gc-wrap" if self._means_zero(v) else "" for v in values]
                if self.zero_means
                else none
            )
            for i, parts in enumerate(zip(own, best.get(col, none), wrap, strict=True)):
                if any(parts):
                    rows[i][n_index + j] = " ".join(c for c in parts if c)
        return rows

    def _means_zero(self, value: object) -> bool:
        """A 0 that the page shows as :attr:`zero_means`."""
        return bool(
            self.zero_means
            and isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and value == 0
        )

    def _styled_html(self) -> str:
        """The table as HTML for the page: every cell, label and header escaped; each column marked
        ``gc-num`` (right-aligned) or ``gc-text`` (``gc-nowrap`` when short) from its cells, and the
        table ``gc-wide`` / ``gc-short`` for the print rules (no post-processing of the HTML)."""
        raw = self.page_frame
        shown = raw.copy()
        for col in shown.columns:
            if str(col) not in self.formats and is_percent_column(col, shown[col]):
                shown[col] = [format_percent(v) for v in shown[col]]
                continue
            d = self.formats.get(str(col), self.digits)
            shown[col] = [
                self.zero_means if self._means_zero(v) else format_value(v, d) for v in shown[col]
            ]
        # The index becomes ordinary leading column(s): one header row, not pandas' two.
        n_index = 0
        if any(name is not None for name in shown.index.names):
            n_index = shown.index.nlevels
            shown = shown.reset_index()
        # Row labels and cells in words: catalog ids read as the names the catalog gives them.
        names = data_names.display_names()
        as_words = [not shows_ids(c) for c in shown.columns]
        cells = [
            [
                labels.words(str(v), names) if w else str(v)
                for v, w in zip(row, as_words, strict=True)
            ]
            for row in shown.itertuples(index=False)
        ]
        links = [str(c) == "url" for c in shown.columns]
        kinds = [
            "gc-text gc-nowrap"
            if link
            else column_kind(
                [row[k] for row in cells], (self.zero_means,) if self.zero_means else ()
            )
            for k, link in enumerate(links)
        ]
        extra = self._cell_classes(raw, shown.shape[1], n_index)
        marks = [
            c
            for c, yes in (
                ("gc-wide", len(kinds) >= WIDE_COLUMNS),
                ("gc-wider", len(kinds) >= WIDER_COLUMNS),
                ("gc-short", len(cells) <= SHORT_ROWS),
            )
            if yes
        ]
        if len(cells) > INTERACTIVE_ROWS:
            marks.append("gc-interactive")
        name = html.escape(self.name)

        def cls(*parts: str) -> str:
            joined = " ".join(p for p in parts if p)
            return f' class="{html.escape(joined)}"' if joined else ""

        # Headers in words with units (the CSV keeps the machine names).
        head = "".join(
            f"<th{cls(kind)}>{html.escape(labels.header(c, names))}</th>"
            for c, kind in zip(shown.columns, kinds, strict=True)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{cls(kind, more)}>{_link(text) if link else html.escape(text)}</td>"
                for text, kind, more, link in zip(row, kinds, more_row, links, strict=True)
            )
            + "</tr>"
            for row, more_row in zip(cells, extra, strict=True)
        )
        table = (
            f'<table{cls("gc-table", *marks)} id="table-{name}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        caption = labels.words(self.caption, names)
        cap = f'<p class="gc-caption">{html.escape(caption)}</p>' if caption else ""
        return f'<div class="gc-table-wrap" data-table="{name}">{table}{cap}</div>'

    def _page_html(self) -> str:
        """:meth:`_styled_html`, remembered by what it depends on (:data:`_PAGE_HTML`)."""
        if self.cell_class is not None:  # a function: not part of a key
            return self._styled_html()
        try:
            # Pickles are equal only for equal contents and types; unequal pickles of equal
            # contents (another memory layout) merely miss.
            shown = (self.frame, self.name, self.caption, self.digits, self.formats)
            shown += (self.highlight, self.hidden, self.zero_means, data_names.display_names())
            key = hashlib.sha256(pickle.dumps(shown, protocol=5)).digest()
        except (pickle.PicklingError, TypeError, AttributeError):
            return self._styled_html()
        if key in _PAGE_HTML:
            _PAGE_HTML.move_to_end(key)
            return _PAGE_HTML[key]
        _PAGE_HTML[key] = page = self._styled_html()
        while len(_PAGE_HTML) > PAGE_HTML_KEPT:
            _PAGE_HTML.popitem(last=False)
        return page

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = self.frame.to_string()
        if self.caption:
            text += "\n\n" + self.caption
        data = {
            "text/plain": text,
            "text/html": self._page_html(),
            "text/csv": self.frame.to_csv(lineterminator="\n"),
        }
        return data, {META_KEY: {"table": self.name, "index": index_names(self.frame)}}


def _link(url: str) -> str:
    """An address as a link that reads as its site ("techpowerup.com"): the full address is long
    and does not wrap; the CSV keeps it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return html.escape(url)
    site = parts.netloc.removeprefix("www.")
    return f'<a href="{html.escape(url)}" rel="noopener noreferrer">{html.escape(site)}</a>'


def index_names(frame: pd.DataFrame) -> list[str]:
    """The names of ``frame``'s index levels ("" for an unnamed level): the CSV's first
    ``len(...)`` columns, which identify a row (the scenario comparison matches rows on them)."""
    return ["" if n is None else str(n) for n in frame.index.names]


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
        names = data_names.display_names()
        items = "".join(f"<li>{html.escape(labels.words(s, names))}</li>" for s in self.items)
        data = {
            "text/plain": "\n".join(f"- {s}" for s in self.items),
            "text/html": f'<ul class="gc-bullets" data-table="{html.escape(self.name)}">{items}</ul>',
            "text/csv": self.frame.to_csv(lineterminator="\n"),
        }
        return data, {META_KEY: {"table": self.name, "index": index_names(self.frame)}}


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
    digits: int | None = None,
    cell_class: Callable[[object], str] | None = None,
    highlight: dict[str, str] | None = None,
    hidden: tuple[str, ...] = (),
    zero_means: str | None = None,
    **formats: int,
) -> Table:
    """Show ``frame`` as the report table ``name`` (``tables/<name>.csv``) with a caption sentence;
    ``formats`` sets decimals per column, ``cell_class`` a CSS class per data cell, ``highlight``
    the columns whose best value is marked (``{"price_usd": "min", "bf16_tensor_tflops": "max"}``)."""
    return Table(
        frame,
        name,
        caption,
        digits,
        formats,
        cell_class,
        dict(highlight or {}),
        tuple(hidden),
        zero_means,
    )


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
        return base64.b64decode(self.png_base64())

    def png_base64(self) -> str:
        """The PNG in base64, drawn or, when this very figure was drawn before, read back
        (:mod:`gpucompare.sections.figcache`)."""
        from gpucompare.sections import figcache  # matplotlib: only where a figure is shown

        return figcache.png_base64(self.figure, self.dpi)

    def _repr_mimebundle_(self, include=None, exclude=None):
        png = self.png_base64()
        names = data_names.display_names()
        caption, alt = labels.words(self.caption, names), labels.words(self.alt, names)
        fig_html = (
            f'<figure class="gc-figure" id="figure-{html.escape(self.name)}">'
            f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt)}" '
            f'style="max-width:100%;height:auto">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        data = {
            "text/plain": f"[figure {self.name}] {self.caption}",
            "text/html": fig_html,
            "image/png": png,
        }
        return data, {META_KEY: {"figure": self.name}, "image/png": {"alt": alt}}


def figure(fig: MplFigure, name: str, caption: str, alt: str | None = None) -> Figure:
    """Show a figure made with :mod:`gpucompare.sections.figures` with its caption and alt text."""
    return Figure(fig, name, caption, alt or caption)
