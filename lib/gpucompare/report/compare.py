"""Scenario comparison: build two scenarios and a page that sets their headline tables side by
side, highlights the cells that differ and lists the verdicts that flip.

``gpucompare report --compare A.yaml B.yaml --out DIR`` writes ``DIR/<A>/`` and ``DIR/<B>/``
(each a complete report, built with the section cache) and ``DIR/index.html``.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path

import pandas as pd

from gpucompare.core.errors import InputError
from gpucompare.report import build, preflight, publish
from gpucompare.sections import display

#: The comparison's manifest, with the marker that lets a later compare replace the folder.
MANIFEST = "compare.json"
#: Tables compared (``tables/<name>.csv``), in page order, with the columns whose changes are verdicts.
HEADLINE_TABLES: dict[str, list[str]] = {
    "answer": ["Best to own", "Best to rent"],
    "cost_winners": ["cheapest_own", "cheapest_rent"],
    "tco": [],
    "cost_per_token": [],
    "memory_workloads": [],
    "verdict_counts": [],
}


def read_table(report: Path, name: str) -> pd.DataFrame | None:
    """A report table as strings (None if the report has no such table)."""
    path = Path(report) / "tables" / f"{name}.csv"
    if not path.is_file():
        return None
    return pd.read_csv(
        io.StringIO(path.read_text(encoding="utf-8")), dtype=str, keep_default_na=False
    )


def _key(frame: pd.DataFrame) -> list[str]:
    """Row labels: the leading text columns (the tables' index columns)."""
    return [str(v) for v in frame.iloc[:, 0]]


def flips(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> list[str]:
    """``"row: column A -> B"`` for every verdict column whose value differs between the scenarios."""
    out = []
    b_rows = dict(zip(_key(b), b.to_dict("records"), strict=True))
    for label, row in zip(_key(a), a.to_dict("records"), strict=True):
        other = b_rows.get(label)
        if other is None:
            continue
        for col in columns:
            if col in row and col in other and row[col] != other[col]:
                out.append(f"{label}: {col} {row[col] or '—'} → {other[col] or '—'}")
    return out


def _show(value: str) -> str:
    """A CSV cell formatted like the report's tables (numbers rounded, thousands separated)."""
    try:
        number = float(value)
    except ValueError:
        return value
    return display.format_value(number)


def _table_html(frame: pd.DataFrame, other: pd.DataFrame | None) -> str:
    other_rows = (
        dict(zip(_key(other), other.to_dict("records"), strict=True)) if other is not None else {}
    )
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for label, row in zip(_key(frame), frame.to_dict("records"), strict=True):
        o = other_rows.get(label, {})
        cells = []
        for col, value in row.items():
            changed = o and col in o and o[col] != value
            cls = ' class="gc-changed"' if changed else ""
            cells.append(f"<td{cls}>{html.escape(_show(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="gc-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render(a_dir: Path, b_dir: Path, a_name: str, b_name: str) -> str:
    """The comparison page (standalone HTML, no network)."""
    css = resources.files("gpucompare").joinpath("templates/report.css").read_text(encoding="utf-8")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Scenario comparison: {html.escape(a_name)} vs {html.escape(b_name)}</title>",
        f"<style>{css}\ntd.gc-changed {{ background: rgba(230, 159, 0, .35); font-weight: bold; }}\n"
        ".gc-compare { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }"
        ".gc-compare > div { overflow-x: auto; }</style>",
        "</head><body><main>",
        f"<h1>Scenario comparison: {html.escape(a_name)} vs {html.escape(b_name)}</h1>",
        f"<p>Full reports: <a href='{html.escape(a_dir.name)}/index.html'>{html.escape(a_name)}</a> · "
        f"<a href='{html.escape(b_dir.name)}/index.html'>{html.escape(b_name)}</a>. "
        "Cells that differ are highlighted in the second scenario's tables.</p>",
    ]
    all_flips = []
    sections = []
    for name, verdict_cols in HEADLINE_TABLES.items():
        ta, tb = read_table(a_dir, name), read_table(b_dir, name)
        if ta is None or tb is None:
            continue
        all_flips += [f"{name} — {f}" for f in flips(ta, tb, verdict_cols)]
        sections.append(
            f"<h2 id='{name}'>{html.escape(name)}</h2><div class='gc-compare'>"
            f"<div><h3>{html.escape(a_name)}</h3>{_table_html(ta, None)}</div>"
            f"<div><h3>{html.escape(b_name)}</h3>{_table_html(tb, ta)}</div></div>"
        )
    parts.append("<h2 id='flips'>Verdicts that flip</h2>")
    if all_flips:
        parts.append("<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in all_flips) + "</ul>")
    else:
        parts.append("<p>No verdict changes between the two scenarios.</p>")
    parts += sections
    parts.append("</main></body></html>")
    return "\n".join(parts)


def build_compare(
    out: Path,
    scenarios: list[Path],
    files: list[Path] = (),
    sets: list[str] = (),
    jobs: int | None = None,
    timeout_s: int = 300,
    force: bool = False,
    show_progress: bool = False,
) -> Path:
    """Build both scenarios under ``out`` and write ``out/index.html`` comparing them."""
    if len(scenarios) != 2:
        raise InputError(f"--compare: expected two scenario files, got {len(scenarios)}")
    names = [folder_name(Path(s).stem) for s in scenarios]
    if names[0] == names[1]:
        raise InputError(
            f"--compare: the two scenarios would share the folder name '{names[0]}'; rename one"
        )
    out = publish.check_out(out, publish.COMPARE)
    for s in scenarios:  # validate both before building either
        preflight.resolve([*files, s], sets)
    out.mkdir(parents=True, exist_ok=True)
    with publish.exclusive(out):
        # Marked first: the folder is ours from now on, even if a scenario's build fails.
        (out / MANIFEST).write_text(
            json.dumps({**publish.marker_fields(publish.COMPARE), "scenarios": names}) + "\n",
            encoding="utf-8",
        )
        dirs = []
        for s, name in zip(scenarios, names, strict=True):
            target = out / name
            build.build(
                target,
                [*files, s],
                sets,
                jobs=jobs,
                timeout_s=timeout_s,
                force=force,
                show_progress=show_progress,
            )
            dirs.append(target)
        page = out / "index.html"
        fd, tmp = tempfile.mkstemp(prefix=".index.html.", suffix=".tmp", dir=out)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render(dirs[0], dirs[1], names[0], names[1]))
        os.replace(tmp, page)
    return page


def folder_name(stem: str) -> str:
    """A scenario's folder name from its file name: letters, digits, ``.``, ``-`` and ``_`` only,
    never starting with a dot (so ``..`` or ``.hidden`` cannot name a folder above or hidden)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).lstrip(".-")
    return name or "scenario"
