"""Two versions of a report table, cell by cell: the table's key columns, values compared
(numbers within a tolerance, text exactly), rows matched on every key column, and the cells of
verdict columns that changed. Used by the scenario comparison (:mod:`gpucompare.report.compare`).

Key columns are the leading CSV columns that were the table's index, which the build records in
each report's ``manifest.json`` (``table_index``, from the output metadata of
:class:`gpucompare.sections.display.Table`). Without that record (a report built before it
existed) the key is the shortest run of leading columns that is unique in both tables.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpucompare.sections import display, labels

#: Two numbers closer than this, relative to the larger, are the same value.
REL_TOL = 1e-9
#: ... and so are two numbers closer than this (zero against float noise).
ABS_TOL = 1e-12


# --- reading a report's tables -----------------------------------------------------------------


@dataclass
class Grid:
    """A report table as its CSV strings; ``keys`` leading columns identify a row (None: unknown)."""

    columns: list[str]
    rows: list[list[str]]
    keys: int | None = None


def manifest(report: Path) -> dict[str, Any]:
    """A report's ``manifest.json`` ({} when it has none or cannot be read)."""
    try:
        doc = json.loads((Path(report) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_table(report: Path, name: str) -> Grid | None:
    """A report table as strings, with its key columns from the manifest (None if the report has
    no such table)."""
    path = Path(report) / "tables" / f"{name}.csv"
    if not path.is_file():
        return None
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    if not rows:
        return Grid([], [])
    columns, body = rows[0], [r + [""] * (len(rows[0]) - len(r)) for r in rows[1:]]
    recorded = manifest(report).get("table_index")
    index = recorded.get(name) if isinstance(recorded, dict) else None
    keys = None
    # The record must describe this CSV (its first columns are the index's names).
    if (
        isinstance(index, list)
        and 0 < len(index) <= len(columns)
        and [str(n) for n in index] == columns[: len(index)]
    ):
        keys = len(index)
    return Grid(columns, body, keys)


def key_columns(a: Grid, b: Grid) -> int:
    """How many leading columns identify a row in both tables: the recorded index when both agree,
    else the fewest leading columns unique in each table (1 when none is)."""
    if a.keys is not None and a.keys == b.keys and a.columns[: a.keys] == b.columns[: b.keys]:
        return a.keys
    width = min(len(a.columns), len(b.columns))
    for k in range(1, width):
        if a.columns[:k] != b.columns[:k]:
            break
        if all(len({tuple(r[:k]) for r in g.rows}) == len(g.rows) for g in (a, b)):
            return k
    return 1


# --- comparing values --------------------------------------------------------------------------


def _missing(value: str | None) -> bool:
    return value is None or value.strip() == ""


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def same(a: str | None, b: str | None) -> bool:
    """Whether two CSV cells hold the same value: numbers within :data:`REL_TOL`, text exactly,
    missing (empty, or no such row or column) only equal to missing."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return a == b
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def show(value: str | None, digits: int | None = None, percent: bool = False) -> str:
    """A CSV cell as the report's tables show it (:func:`gpucompare.sections.display.format_value`:
    three significant figures, or ``digits`` decimals; a fraction column as a percentage), yes/no,
    and "—" for a missing value."""
    if _missing(value):
        return display.NA_TEXT
    if value in ("True", "False"):
        return "yes" if value == "True" else "no"
    number = _number(value)
    if number is None or math.isnan(number):
        return value
    if percent and digits is None:
        return display.format_percent(number)
    return display.format_value(number, digits)


def show_pair(a: str | None, b: str | None, percent: bool = False) -> tuple[str, str]:
    """Two different values as shown, with more decimals where rounding would make them look equal."""
    for digits in (None, *range(2, 13)):
        pair = show(a, digits, percent), show(b, digits, percent)
        if pair[0] != pair[1]:
            return pair
    return (a or display.NA_TEXT), (b or display.NA_TEXT)


# --- the differences of one table --------------------------------------------------------------


@dataclass
class Cell:
    """A's and B's value of one cell (None: A or B has no such row or column)."""

    a: str | None
    b: str | None
    changed: bool = False

    @property
    def value(self) -> str | None:
        """The value the page shows: B's, else A's (a row only in A)."""
        return self.b if self.b is not None else self.a


@dataclass
class Row:
    key: tuple[str, ...]
    #: ``same``, ``changed``, ``added`` (only in B) or ``removed`` (only in A).
    status: str
    cells: list[Cell]


@dataclass
class Flip:
    """A verdict cell that differs: the table's title, the row's key, the column, both values."""

    table: str
    row: str
    verdict: str
    a: str
    b: str


@dataclass
class TableDiff:
    name: str
    title: str
    columns: list[str]
    keys: int
    rows: list[Row]
    flips: list[Flip]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def changed_cells(self) -> int:
        return sum(c.changed for r in self.rows for c in r.cells)


def _key_part(value: str) -> tuple[str, object]:
    number = _number(value)
    return ("n", number) if number is not None and not math.isnan(number) else ("s", value)


def _match(a: Grid, b: Grid, keys: int) -> list[tuple[int | None, int | None]]:
    """Pairs ``(row of A, row of B)`` matched on the key columns (a repeated key: in order), B's
    order kept, each row only in A placed before the first matched row that follows it in A."""
    free: dict[tuple, list[int]] = {}
    for i, row in enumerate(a.rows):
        free.setdefault(tuple(_key_part(v) for v in row[:keys]), []).append(i)
    matched_a: dict[int, int] = {}
    for j, row in enumerate(b.rows):
        left = free.get(tuple(_key_part(v) for v in row[:keys]))
        if left:
            matched_a[j] = left.pop(0)
    taken = set(matched_a.values())
    pairs: list[tuple[int | None, int | None]] = []
    emitted = 0  # rows of A before this one are placed
    for j in range(len(b.rows)):
        i = matched_a.get(j)
        if i is not None:
            pairs += [(k, None) for k in range(emitted, i) if k not in taken]
            emitted = max(emitted, i + 1)
        pairs.append((i, j))
    pairs += [(k, None) for k in range(emitted, len(a.rows)) if k not in taken]
    return pairs


def diff(name: str, a: Grid, b: Grid, title: str = "", verdicts: tuple[str, ...] = ()) -> TableDiff:
    """Every row of both tables matched on its key columns, each cell compared (:func:`same`);
    a changed cell of a ``verdicts`` column is a :class:`Flip`."""
    title = title or name
    keys = key_columns(a, b)
    columns = a.columns + [c for c in b.columns if c not in a.columns]
    a_at = {c: k for k, c in enumerate(a.columns)}
    b_at = {c: k for k, c in enumerate(b.columns)}
    rows, flips = [], []
    for i, j in _match(a, b, keys):
        ra = a.rows[i] if i is not None else None
        rb = b.rows[j] if j is not None else None
        cells = [
            Cell(
                ra[a_at[c]] if ra is not None and c in a_at else None,
                rb[b_at[c]] if rb is not None and c in b_at else None,
            )
            for c in columns
        ]
        key = tuple(c.value or "" for c in cells[:keys])
        if ra is None or rb is None:
            rows.append(Row(key, "removed" if rb is None else "added", cells))
            continue
        for c, cell in zip(columns[keys:], cells[keys:], strict=True):
            cell.changed = not same(cell.a, cell.b)
            if cell.changed and c in verdicts:
                was, now = show_pair(cell.a, cell.b)
                row = " · ".join(v for v in key if v)
                flips.append(Flip(title, row, labels.header(c), was, now))
        status = "changed" if any(cell.changed for cell in cells) else "same"
        rows.append(Row(key, status, cells))
    return TableDiff(name, title, columns, keys, rows, flips)
