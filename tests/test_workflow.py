"""Analyst workflow helpers: scenario comparison and progress lines."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.report import compare, execute, progress, tablediff
from gpucompare.sections import display


def _report(folder: Path, tables: dict[str, str], index: dict[str, list[str]] | None = None):
    """A hand-made report folder: ``tables/<name>.csv`` and, with ``index``, a manifest recording
    each table's index columns as the build does."""
    (folder / "tables").mkdir(parents=True)
    for name, text in tables.items():
        (folder / "tables" / f"{name}.csv").write_text(text)
    if index is not None:
        (folder / "manifest.json").write_text(json.dumps({"table_index": index}))
    return folder


WINNERS_A = "workload,cheapest_own,cheapest_rent\n7B,rtx-4090,rtx-4090\n70B,h100-sxm,h100-sxm\n"
WINNERS_B = "workload,cheapest_own,cheapest_rent\n7B,h100-sxm,rtx-4090\n70B,h100-sxm,h100-sxm\n"
# Two rows per workload (workload, gpu): the h100-sxm row of 7B is the same in both (float noise
# only), its rtx-4090 row really changes; 13B is only in A, 70B only in B; B misses one value.
COSTS_A = (
    "workload,gpu,tokens_per_s,usd_per_mtok_own\n"
    "7B,h100-sxm,175.99,4.25\n"
    "7B,rtx-4090,44.9,1.38\n"
    "13B,h100-sxm,60.5,9.48\n"
)
COSTS_B = (
    "workload,gpu,tokens_per_s,usd_per_mtok_own\n"
    "7B,h100-sxm,175.99,4.2500000000000001\n"
    "7B,rtx-4090,44.9,1.69\n"
    "70B,h100-sxm,,12.01\n"
)
INDEX = {"cost_winners": ["workload"], "cost_per_token": ["workload", "gpu"]}


def _changed(page: str, table: str) -> list[tuple[str, str]]:
    """``(column, cell text)`` of every highlighted cell of one table on the comparison page."""
    start = page.index(f'id="table-{table}"')
    body = page[start : page.index("</table>", start)]
    cells = re.findall(
        r'<td class="[^"]*\bgc-changed\b[^"]*" data-column="([^"]*)"[^>]*>(.*?)</td>', body
    )
    # The cell's new value: without the struck-through old one (names may contain spaces).
    now = (re.sub(r'<span class="gc-was">.*?</span>', "", text) for _, text in cells)
    return [
        (col, re.sub(r"<[^>]+>", "", t).strip()) for (col, _), t in zip(cells, now, strict=True)
    ]


def _rows(page: str, table: str) -> list[str]:
    start = page.index(f'id="table-{table}"')
    body = page[start : page.index("</table>", start)]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, flags=re.S)


@pytest.mark.parametrize("recorded", [True, False], ids=["manifest-index", "inferred-keys"])
def test_compare_matches_rows_on_every_key_column(tmp_path, recorded):
    """Rows are matched on (workload, gpu), not the first column: the identical h100-sxm row is not
    highlighted, only the real change is; a row of one report only is added or removed."""
    index = INDEX if recorded else None
    a = _report(tmp_path / "a", {"cost_winners": WINNERS_A, "cost_per_token": COSTS_A}, index)
    b = _report(tmp_path / "b", {"cost_winners": WINNERS_B, "cost_per_token": COSTS_B}, index)
    ta, tb = tablediff.read_table(a, "cost_per_token"), tablediff.read_table(b, "cost_per_token")
    assert (ta.keys, tb.keys) == ((2, 2) if recorded else (None, None))
    assert tablediff.key_columns(ta, tb) == 2
    d = tablediff.diff("cost_per_token", ta, tb)
    status = {r.key: r.status for r in d.rows}
    assert status == {
        ("7B", "h100-sxm"): "same",
        ("7B", "rtx-4090"): "changed",
        ("13B", "h100-sxm"): "removed",
        ("70B", "h100-sxm"): "added",
    }
    page = compare.render(a, b, "a", "b")
    assert _changed(page, "cost_per_token") == [("usd_per_mtok_own", "1.69")]
    rows = _rows(page, "cost_per_token")
    assert sum('class="gc-added"' in r for r in rows) == 1
    assert sum('class="gc-removed"' in r for r in rows) == 1
    added = next(r for r in rows if 'class="gc-added"' in r)
    assert "only in b" in added and "70B" in added
    assert "—" in added  # B's missing tokens_per_s
    assert "13B" in next(r for r in rows if 'class="gc-removed"' in r)


def test_compare_lists_flipped_verdicts_first(tmp_path):
    a = _report(tmp_path / "a", {"cost_winners": WINNERS_A, "cost_per_token": COSTS_A}, INDEX)
    b = _report(tmp_path / "b", {"cost_winners": WINNERS_B, "cost_per_token": COSTS_B}, INDEX)
    ta, tb = tablediff.read_table(a, "cost_winners"), tablediff.read_table(b, "cost_winners")
    winners = compare.HEADLINE_TABLES["cost_winners"]
    flips = tablediff.diff("cost_winners", ta, tb, winners.title, winners.verdicts).flips
    assert [(f.row, f.verdict, f.a, f.b) for f in flips] == [
        ("7B", "Cheapest to own", "rtx-4090", "h100-sxm")
    ]
    page = compare.render(a, b, "a", "b")
    main = page[page.index("<main") :]
    # The flips come first: before every table, as a table of their own.
    headings = re.findall(r'<h2 id="([^"]+)"', main)
    assert headings[0] == "flips"
    flips_table = main[
        main.index('id="table-flips"') : main.index("</table>", main.index('id="table-flips"'))
    ]
    # On the page, catalog ids read as the catalog's names (data/gpus.yaml short_name), as on the
    # report's own pages; the table diff itself keeps the ids (above).
    assert re.search(
        r"<td>7B</td><td>Cheapest to own</td><td>RTX 4090</td><td class=\"gc-changed\">H100 SXM</td>",
        flips_table,
    )
    assert _changed(page, "cost_winners") == [("cheapest_own", "H100 SXM")]
    assert "rtx-4090" not in main and "h100-sxm" not in main
    # Headings in words, the report's style and navigation, nothing fetched.
    assert '<h2 id="cost_winners">Cheaper of the compared GPUs, per workload</h2>' in page
    assert ">cost_winners<" not in page
    assert "--gc-font" in page and 'class="gc-nav"' in page and 'href="a/index.html"' in page
    assert "http" not in page.split("<body")[0]


def test_compare_treats_numbers_numerically_and_shows_missing_as_a_dash():
    assert tablediff.same("4.25", "4.2500000000001") and tablediff.same("1e3", "1000")
    assert not tablediff.same("4.25", "4.26") and not tablediff.same("", "0")
    assert tablediff.same("", None) and tablediff.same("rtx-4090", "rtx-4090")
    assert not tablediff.same("rtx-4090", "RTX-4090")
    assert tablediff.show("") == tablediff.show(None) == "—"
    assert tablediff.show("1599.0") == "1,599" and tablediff.show("True") == "yes"
    # Rounding never makes two different values look the same.
    assert tablediff.show_pair("1.2341", "1.2349") == ("1.234", "1.235")


def test_compare_headline_tables_have_titles_and_verdict_columns():
    assert next(iter(compare.HEADLINE_TABLES)) == "answer"
    assert "verdict_counts" not in compare.HEADLINE_TABLES
    assert compare.HEADLINE_TABLES["answer"].verdicts == ("Best to own", "Best to rent")
    for name, h in compare.HEADLINE_TABLES.items():
        assert h.title and "_" not in h.title, name


def test_tables_record_their_index_columns_for_the_comparison():
    """A table's output metadata names its index levels; the build harvests them into the manifest."""
    frame = pd.DataFrame(
        {"usd_per_mtok_own": [4.25, 1.38]},
        index=pd.MultiIndex.from_tuples(
            [("7B", "h100-sxm"), ("7B", "rtx-4090")], names=["workload", "gpu"]
        ),
    )
    data, meta = display.table(frame, "cost_per_token")._repr_mimebundle_()
    assert meta["gpucompare"]["index"] == ["workload", "gpu"]
    assert data["text/csv"].startswith("workload,gpu,")
    unnamed = display.table(pd.DataFrame({"x": [1]}, index=pd.Index(["c1"])), "claims")
    assert unnamed._repr_mimebundle_()[1]["gpucompare"]["index"] == [""]
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell()
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=meta)]
    nb.cells.append(cell)
    assert execute.harvest_index(nb) == {"cost_per_token": ["workload", "gpu"]}


def test_scenario_files_are_valid_overrides():
    for f in sorted((paths.repo_root() / "params" / "scenarios").glob("*.yaml")):
        p, _ = params.resolve([f])
        assert params.non_default_keys(p), f"{f.name} changes nothing"


def test_progress_prints_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = progress.Progress(["01_specs", "02_memory"], stream=out)
    bar.update("01_specs", "cached")
    bar.update("02_memory", "running")
    bar.update("02_memory", "done")
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["cached", "01_specs"]
    assert lines[1].split() == ["running", "02_memory"]
    assert lines[2].split()[:2] == ["done", "02_memory"] and lines[2].endswith(" s")
