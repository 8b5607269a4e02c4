"""End to end: the report builds into a temporary directory with every promised file, offline;
bad input writes nothing; a failing notebook leaves the previous report untouched."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from gpucompare import build, paths
from gpucompare.errors import BuildError


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("rep") / "latest"
    manifest = build.build(out, sets=["price_usd.rtx-4090=1999"], jobs=2)
    return out, manifest


def test_report_files(report):
    out, manifest = report
    assert (out / "index.html").is_file()
    assert (out / "manifest.json").is_file()
    for s in manifest["sections"]:
        assert (out / s["html"]).is_file()
        assert (out / s["executed_notebook"]).is_file()
        for t in s["tables"]:
            assert (out / t).is_file()
    assert any(t.endswith("spec_table.csv") for s in manifest["sections"] for t in s["tables"])
    # Nothing left behind next to the report.
    assert sorted(p.name for p in out.parent.iterdir()) == ["latest"]


def test_index_links_sections_and_marks_non_defaults(report):
    out, manifest = report
    html = (out / "index.html").read_text()
    assert 'href="01_specs.html"' in html
    assert manifest["non_default_parameters"] == ["price_usd"]
    assert re.search(r'<tr class="gc-nondefault"><th><code>price_usd</code>', html)
    prov = manifest["provenance"]
    assert {f["name"] for f in prov["data_files"]} >= {"gpus.yaml", "models.yaml"}
    assert all(len(f["sha256"]) == 64 for f in prov["data_files"])


def test_pages_are_offline_and_codeless(report):
    out, manifest = report
    for s in manifest["sections"]:
        page = (out / s["html"]).read_text()
        assert not re.search(r'<script[^>]+src="https?:', page), s["html"]
        assert not re.search(r'<link[^>]+href="https?:', page), s["html"]
        assert "from gpucompare import" not in page, "code cells must be hidden"
        assert "data:image/png;base64," in page or "figure" not in s["html"]


def test_tables_csv_carry_the_parameter_override(report):
    out, _ = report
    csv = (out / "tables" / "spec_table.csv").read_text()
    price_row = next(line for line in csv.splitlines() if line.startswith("price (USD)"))
    assert "1999" in price_row


def test_rebuild_gives_identical_tables(report, tmp_path):
    out, _ = report
    again = tmp_path / "again"
    build.build(again, sets=["price_usd.rtx-4090=1999"], jobs=2)
    first = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}
    second = {p.name: p.read_bytes() for p in (again / "tables").iterdir()}
    assert first == second


def test_failed_build_keeps_previous_report(report, tmp_path):
    out, _ = report
    before = (out / "index.html").read_text()
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    shutil.copy(paths.notebooks_dir() / "01_specs.ipynb", nb_dir)
    bad = nbformat.v4.new_notebook()
    bad.cells = [
        nbformat.v4.new_markdown_cell("# Broken\n\nA section that raises."),
        nbformat.v4.new_code_cell("gpus = ['h100-sxm']  # ids", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('boom in cell two')"),
    ]
    nbformat.write(bad, nb_dir / "09_broken.ipynb")
    with pytest.raises(
        BuildError,
        match=r"09_broken.ipynb: cell \d+ .*raise RuntimeError.*RuntimeError: boom in cell two",
    ):
        build.build(out, nb_dir=nb_dir, jobs=2)
    assert (out / "index.html").read_text() == before
    kept = out.with_name("latest.failed") / "09_broken.ipynb"
    assert kept.is_file() and "boom in cell two" in kept.read_text()
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    shutil.rmtree(out.with_name("latest.failed"))


def test_cli_bad_input_exits_2_and_writes_nothing(run_cli, tmp_path):
    out = tmp_path / "r"
    res = run_cli("report", "--out", str(out), "--set", "gpus=[h100]")
    assert res.returncode == 2
    assert "gpus: unknown GPU 'h100'" in res.stderr and "allowed:" in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    res = run_cli("report", "--out", str(out), "--bogus")
    assert res.returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("pue: [1.2\n")
    res = run_cli("report", "--out", str(out), "--params", str(bad))
    assert res.returncode == 2 and "malformed YAML" in res.stderr
    assert not out.exists()


def test_cli_lists_catalogs(run_cli):
    res = run_cli("gpus", "--json")
    assert res.returncode == 0
    ids = [row["gpu_id"] for row in json.loads(res.stdout)]
    assert "h100-sxm" in ids and "rtx-4090" in ids
    res = run_cli("models", "--json")
    assert res.returncode == 0
    models = {row["model_id"]: row for row in json.loads(res.stdout)}
    assert models["llama-2-70b"]["num_key_value_heads"] == 8
