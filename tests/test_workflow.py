"""Analyst workflow helpers: scenario comparison and progress lines."""

from __future__ import annotations

import io

from gpucompare import params
from gpucompare.core import paths
from gpucompare.report import compare, progress


def _report(folder, winners_csv: str):
    (folder / "tables").mkdir(parents=True)
    (folder / "tables" / "cost_winners.csv").write_text(winners_csv)
    return folder


def test_compare_lists_flipped_verdicts_and_highlights_changes(tmp_path):
    a = _report(
        tmp_path / "a",
        "workload,cheapest_own,cheapest_rent\n7B,rtx-4090,rtx-4090\n70B,h100-sxm,h100-sxm\n",
    )
    b = _report(
        tmp_path / "b",
        "workload,cheapest_own,cheapest_rent\n7B,h100-sxm,rtx-4090\n70B,h100-sxm,h100-sxm\n",
    )
    ta, tb = compare.read_table(a, "cost_winners"), compare.read_table(b, "cost_winners")
    assert compare.flips(ta, tb, ["cheapest_own", "cheapest_rent"]) == [
        "7B: cheapest_own rtx-4090 → h100-sxm"
    ]
    page = compare.render(a, b, "a", "b")
    assert "7B: cheapest_own rtx-4090 → h100-sxm" in page
    assert page.count('class="gc-changed"') == 1
    assert "http" not in page.split("<main>")[0]  # nothing fetched


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
