"""Scenario comparison: build two scenarios and a page that lists the verdicts that flip, then
shows each headline table once, with every cell that differs highlighted beside the first
scenario's value and the rows of one scenario only marked as added or removed.

``gpucompare report --compare A.yaml B.yaml --out DIR`` writes ``DIR/<A>/`` and ``DIR/<B>/``
(each a complete report, built with the section cache) and ``DIR/index.html``.

Rows are matched on every key column of a table, numbers compared within a tolerance and text
exactly (:mod:`gpucompare.report.tablediff`); a missing value shows as "—", a row of one scenario
only as added or removed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gpucompare import __version__, params
from gpucompare.core.errors import InputError
from gpucompare.data import names as data_names
from gpucompare.report import cache, publish, tablediff
from gpucompare.report import render as pages
from gpucompare.report.tablediff import Cell, Flip, TableDiff
from gpucompare.sections import display, labels

#: The comparison's manifest, with the marker that lets a later compare replace the folder.
MANIFEST = "compare.json"
#: The comparison page's template (autoescaping, like the report's other pages).
TEMPLATE = "report_compare.html.j2"
#: A parameter one scenario does not set (a price from the catalog, for instance).
NOT_SET = "not set (the data's value)"


@dataclass(frozen=True)
class Headline:
    """A table the comparison shows: its heading in words and its verdict columns (a change in one
    is a flipped verdict, listed first on the page)."""

    title: str
    verdicts: tuple[str, ...] = ()


#: Tables compared (``tables/<name>.csv``), in page order.
HEADLINE_TABLES: dict[str, Headline] = {
    "answer": Headline(
        "The answer: the cheapest way to serve each service", ("Best to own", "Best to rent")
    ),
    "recommendation": Headline(
        "Cheapest configuration of the whole catalog, per workload",
        ("best_to_own", "best_to_rent"),
    ),
    "cost_winners": Headline(
        "Cheaper of the compared GPUs, per workload", ("cheapest_own", "cheapest_rent")
    ),
    "tco": Headline("Total cost of ownership, per GPU"),
    "cost_per_token": Headline("Cost per million tokens, per workload and GPU"),
    "memory_workloads": Headline("Memory per workload, and GPUs needed"),
    "audit_overview": Headline("The article's claims: verdicts per section"),
}


# --- the page ----------------------------------------------------------------------------------


def _table_view(t: TableDiff) -> dict[str, Any]:
    """What the template shows of one table: headers in words with their column kinds, the cells
    formatted like the report's (a fraction column as percentages), A's value beside a changed
    cell, the row marks and the counts."""
    # An unnamed index (e.g. claim ids) identifies rows but is hidden, as on the report's pages.
    shown = [k for k, c in enumerate(t.columns) if not (k < t.keys and c == "")]
    percent = [
        k >= t.keys
        and display.is_percent_column(
            c, pd.Series([r.cells[k].value for r in t.rows], dtype=object)
        )
        for k, c in enumerate(t.columns)
    ]

    # Catalog ids read as the catalog's names, as on the report's pages (id columns keep ids).
    names = data_names.display_names()
    as_words = [not display.shows_ids(c) for c in t.columns]

    def named(k: int, text: str | None) -> str | None:
        return labels.words(text, names) if text and as_words[k] else text

    def cell(k: int, c: Cell) -> dict[str, Any]:
        if k < t.keys:
            return {"text": named(k, c.value or ""), "was": None}
        if c.changed:
            was, now = tablediff.show_pair(c.a, c.b, percent[k])
            return {"text": named(k, now), "was": named(k, was)}
        return {"text": named(k, tablediff.show(c.value, percent=percent[k])), "was": None}

    texts = [[cell(k, c) for k, c in enumerate(r.cells)] for r in t.rows]
    kinds = [display.column_kind([row[k]["text"] for row in texts]) for k in range(len(t.columns))]
    return {
        "name": t.name,
        "title": t.title,
        "wide": len(shown) >= display.WIDE_COLUMNS,
        "header": [{"label": labels.header(t.columns[k], names), "kind": kinds[k]} for k in shown],
        "rows": [
            {
                "status": r.status,
                "cells": [
                    {
                        **row[k],
                        "changed": r.cells[k].changed,
                        "column": t.columns[k],
                        "kind": kinds[k] + (" gc-key" if k < t.keys else ""),
                    }
                    for k in shown
                ],
            }
            for r, row in zip(t.rows, texts, strict=True)
        ],
        "changed_cells": t.changed_cells,
        "changed_rows": t.count("changed"),
        "added": t.count("added"),
        "removed": t.count("removed"),
    }


def _named_flip(f: Flip) -> Flip:
    """A flipped verdict with catalog ids read as names ("34 x rtx-5090" -> "34 x RTX 5090")."""
    names = data_names.display_names()
    return dataclasses.replace(
        f, row=labels.words(f.row, names), a=labels.words(f.a, names), b=labels.words(f.b, names)
    )


def _section_link(report: Path, name: str) -> dict[str, str] | None:
    """The section page of a report that shows table ``name`` (href relative to the compare page)."""
    for s in tablediff.manifest(report).get("sections", []):
        if f"tables/{name}.csv" in s.get("tables", []):
            return {"href": f"{report.name}/{s['html']}#table-{name}", "title": s["title"]}
    return None


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Parameters with nested mappings as dotted keys (``price_usd.rtx-4090``)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")  # an empty mapping sets nothing
        else:
            out[f"{prefix}{k}"] = v
    return out


def parameter_changes(a_dir: Path, b_dir: Path) -> list[dict[str, str]] | None:
    """The parameters whose values differ between the two reports (None without both manifests)."""
    pa, pb = (tablediff.manifest(d).get("parameters") for d in (a_dir, b_dir))
    if not isinstance(pa, dict) or not isinstance(pb, dict):
        return None
    fa, fb = _flat(pa), _flat(pb)
    names = list(fa) + [k for k in fb if k not in fa]
    return [
        {
            "name": k,
            "a": pages._show(fa[k]) if k in fa else NOT_SET,
            "b": pages._show(fb[k]) if k in fb else NOT_SET,
        }
        for k in names
        if fa.get(k, ...) != fb.get(k, ...)
    ]


def compare_tables(a_dir: Path, b_dir: Path) -> list[TableDiff]:
    """The differences of every headline table that both reports have, in page order."""
    out = []
    for name, headline in HEADLINE_TABLES.items():
        ta, tb = tablediff.read_table(a_dir, name), tablediff.read_table(b_dir, name)
        if ta is not None and tb is not None:
            out.append(tablediff.diff(name, ta, tb, headline.title, headline.verdicts))
    return out


def render(a_dir: Path, b_dir: Path, a_name: str, b_name: str) -> str:
    """The comparison page: standalone HTML with the report's style and navigation, nothing
    fetched; the flipped verdicts first, then what changed, then each headline table."""
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    tables = compare_tables(a_dir, b_dir)
    views = []
    for t in tables:
        view = _table_view(t)
        view["links"] = [
            {"scenario": n, **link}
            for n, d in ((a_name, a_dir), (b_name, b_dir))
            if (link := _section_link(d, t.name))
        ]
        views.append(view)
    title = f"Scenario comparison: {a_name} vs {b_name}"
    # The navigation bar: this page's tables, then each scenario's full report.
    nav = [{"href": "#flips", "label": "Verdicts that flip", "number": None, "current": False}]
    nav += [
        {"href": f"#{v['name']}", "label": v["title"], "number": i, "current": False}
        for i, v in enumerate(views, start=1)
    ]
    nav += [
        {
            "href": f"{d.name}/index.html",
            "label": f"Full report: {n}",
            "number": None,
            "current": False,
        }
        for n, d in ((a_name, a_dir), (b_name, b_dir))
    ]
    page = (
        pages._jinja_env()
        .get_template(TEMPLATE)
        .render(
            title=title,
            a_name=a_name,
            b_name=b_name,
            a_href=f"{a_dir.name}/index.html",
            b_href=f"{b_dir.name}/index.html",
            css=pages._css(),
            print_css=pages._print_css(),
            nav=nav,
            flips=[_named_flip(f) for t in tables for f in t.flips],
            tables=views,
            parameters=parameter_changes(a_dir, b_dir),
            version=__version__,
            built_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
    )
    return pages.finish_page(page)


def build_compare(
    out: Path,
    scenarios: list[Path],
    files: list[Path] = (),
    sets: list[str] = (),
    jobs: int | None = None,
    timeout_s: int = 300,
    force: bool = False,
    show_progress: bool = False,
    nb_dir: Path | None = None,
) -> Path:
    """Build both scenarios under ``out`` and write ``out/index.html`` comparing them. A scenario
    whose report at ``out/<name>`` is up to date is kept, one built before (by ``report`` or another
    comparison) is restored from the report store, and sections are taken from the section store
    (:mod:`gpucompare.report.cache`, shared with ``gpucompare report``); ``force`` rebuilds both."""
    if len(scenarios) != 2:
        raise InputError(f"--compare: expected two scenario files, got {len(scenarios)}")
    names = [folder_name(Path(s).stem) for s in scenarios]
    if names[0] == names[1]:
        raise InputError(
            f"--compare: the two scenarios would share the folder name '{names[0]}'; rename one"
        )
    out = publish.check_out(out, publish.COMPARE)
    # Validate both before building either (the preflight of each remembered once passed).
    resolved = [_resolve([*files, s], sets) for s in scenarios]
    out.mkdir(parents=True, exist_ok=True)
    with publish.exclusive(out):
        # Marked first: the folder is ours from now on, even if a scenario's build fails.
        _write_manifest(out, names)
        dirs, reports = [], {}
        for s, name, r in zip(scenarios, names, resolved, strict=True):
            target = out / name
            manifest = None if force else _kept_or_restored(target, r[0], nb_dir)
            if manifest is None:
                # The build stack (papermill, nbformat, nbconvert: ~2 s to import) only when a
                # scenario has to run; a comparison of two reports built before never loads it.
                from gpucompare.report import build

                manifest = build.build(
                    target,
                    [*files, s],
                    sets,
                    jobs=jobs,
                    timeout_s=timeout_s,
                    force=force,
                    show_progress=show_progress,
                    nb_dir=nb_dir,
                    resolved=r,
                    reuse=True,
                )
            dirs.append(target)
            reports[name] = cache.report_key(manifest["build_key"], manifest["parameters"])
        page = out / "index.html"
        fd, tmp = tempfile.mkstemp(prefix=".index.html.", suffix=".tmp", dir=out)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render(dirs[0], dirs[1], names[0], names[1]))
        os.replace(tmp, page)
        # Last: the reports this page compares, so that the same comparison is up to date later.
        _write_manifest(out, names, reports)
    return page


def _kept_or_restored(target: Path, p: params.Params, nb_dir: Path | None) -> dict | None:
    """What ``build.build(..., reuse=True)`` does before building: the manifest of the report at
    ``target`` if it is up to date, or of the same inputs' report restored from the report store;
    None when the scenario has to be built. ``target`` is checked first: a folder that is not
    ours is refused, never replaced."""
    target = publish.check_out(target)
    values = p.model_dump(mode="json")
    found = cache.up_to_date(target, values, p.title, False, nb_dir)
    return found or cache.restore(target, values, p.title, False, nb_dir)


def _preflight(p: params.Params) -> None:
    # Imported here: the data checks load the audit and the models, needed only for new inputs.
    from gpucompare.report import preflight

    preflight.preflight(p)


def _resolve(files: list[Path], sets: list[str]) -> tuple[params.Params, dict[str, Any]]:
    """:func:`gpucompare.report.preflight.resolve`, the preflight skipped when the same inputs
    passed it before (:func:`gpucompare.report.cache.checked`)."""
    p, data = params.resolve(files, sets)
    cache.checked(p, _preflight)
    return p, data


def _write_manifest(out: Path, names: list[str], reports: dict[str, str] | None = None) -> None:
    doc = {**publish.marker_fields(publish.COMPARE), "scenarios": names}
    if reports:
        doc["reports"] = reports
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc) + "\n")
    os.replace(tmp, out / MANIFEST)


#: A scenario's folder name from its file name (:func:`gpucompare.report.cache.folder_name`).
folder_name = cache.folder_name
