"""Returning to a scenario built before (issue 21): A -> B -> A runs no section the second time,
a report built before is restored rather than rendered again, and ``--compare A B`` reuses what
``report`` built. Two small section notebooks keep the builds short: ``01_alpha`` reads ``years``
(it differs between the scenarios), ``02_beta`` reads ``pue`` (the same in both)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpucompare.core import paths
from gpucompare.report import build, cache, compare
from tests.tiny_sections import write_section

ROOT = paths.repo_root()


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _ran(manifest: dict) -> list[str]:
    return sorted(s["notebook"] for s in manifest["sections"] if not s["cached"])


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    """Scenario A built, then B into the same folder; copies of both reports as first built."""
    root = tmp_path_factory.mktemp("scenarios")
    nbs = root / "nbs"
    nbs.mkdir()
    write_section(nbs, "01_alpha.ipynb", "Alpha", "years: float = 3")
    write_section(nbs, "02_beta.ipynb", "Beta", "pue: float = 1.3")
    (root / "a.yaml").write_text("years: 3\n")
    (root / "b.yaml").write_text("years: 5\n")
    with pytest.MonkeyPatch.context() as mp:
        # A cache of this module's own, also seen by the command-line runs (subprocesses).
        mp.setenv(paths.CACHE_DIR_ENV, str(root / "cache"))
        out = root / "out"
        first_a = build.build(out, [root / "a.yaml"], nb_dir=nbs, jobs=2)
        shutil.copytree(out, root / "a-as-built")
        first_b = build.build(out, [root / "b.yaml"], nb_dir=nbs, jobs=2)
        shutil.copytree(out, root / "b-as-built")
        yield {"root": root, "nbs": nbs, "out": out, "a": first_a, "b": first_b}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gpucompare", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_switching_a_b_a_runs_no_section_the_second_time(scenarios):
    s = scenarios
    assert _ran(s["a"]) == ["01_alpha.ipynb", "02_beta.ipynb"]  # a cold cache
    assert _ran(s["b"]) == ["01_alpha.ipynb"]  # only the section that reads years
    # Back to A in another folder (nothing to restore there): every section from the store,
    # although B's alpha was stored after A's (the one-entry store re-ran alpha here).
    again = build.build(s["root"] / "again", [s["root"] / "a.yaml"], nb_dir=s["nbs"], jobs=2)
    assert _ran(again) == []
    assert (s["root"] / "again" / "notebooks" / "01_alpha.ipynb").read_bytes() == (
        s["root"] / "a-as-built" / "notebooks" / "01_alpha.ipynb"
    ).read_bytes()


def test_returning_to_a_scenario_restores_its_report(scenarios):
    s = scenarios
    res = _cli(
        "report", "--out", str(s["out"]), "--notebooks", str(s["nbs"]), "--params",
        str(s["root"] / "a.yaml"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "report restored from the cache" in res.stdout
    # The very report built first for A (built_at included), B's report replaced.
    assert _files(s["out"]) == _files(s["root"] / "a-as-built")
    # The same command again: the report at --out is up to date.
    res = _cli(
        "report", "--out", str(s["out"]), "--notebooks", str(s["nbs"]), "--params",
        str(s["root"] / "a.yaml"),
    )  # fmt: skip
    assert "report up to date" in res.stdout


def test_compare_reuses_the_reports_built_by_report(scenarios, monkeypatch):
    s = scenarios
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(s["root"] / "cache"))

    def never(*args, **kwargs):
        raise AssertionError("a section ran or a page was rendered although both were built")

    monkeypatch.setattr(build, "execute", never)
    monkeypatch.setattr(build, "export_html", never)
    cmp = s["root"] / "cmp"
    page = compare.build_compare(
        cmp, [s["root"] / "a.yaml", s["root"] / "b.yaml"], nb_dir=s["nbs"], jobs=2
    )
    assert page == cmp / "index.html" and page.is_file()
    assert _files(cmp / "a") == _files(s["root"] / "a-as-built")
    assert _files(cmp / "b") == _files(s["root"] / "b-as-built")
    doc = json.loads((cmp / "compare.json").read_text())
    assert doc["scenarios"] == ["a", "b"] and set(doc["reports"]) == {"a", "b"}
    # The same comparison again, from the command line: up to date, nothing loaded to build it.
    res = _cli(
        "report", "--out", str(cmp), "--notebooks", str(s["nbs"]), "--compare",
        str(s["root"] / "a.yaml"), str(s["root"] / "b.yaml"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "comparison up to date" in res.stdout


def test_a_changed_parameter_is_not_up_to_date(scenarios):
    """Every parameter value is part of a report's identity, not only those a section reads:
    the front and parameters pages show them all."""
    s = scenarios
    manifest = json.loads((s["root"] / "a-as-built" / "manifest.json").read_text())
    values = manifest["parameters"]
    title = manifest["title"]
    assert cache.up_to_date(s["root"] / "a-as-built", values, title, False, s["nbs"]) is not None
    # Read by no section of this report: its build key (sections' keys) does not change.
    changed = {**values, "electricity_usd_per_kwh": values["electricity_usd_per_kwh"] * 2}
    assert cache.keys_of(changed, title, False, s["nbs"])[0] == manifest["build_key"]
    assert cache.up_to_date(s["root"] / "a-as-built", changed, title, False, s["nbs"]) is None
