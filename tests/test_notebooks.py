"""Notebook conventions: one parameters cell whose defaults are params/default.yaml, one title,
thin cells (no def/class), clean metadata, and every notebook present in the report's contents."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.report import execute

NOTEBOOKS = sorted(paths.notebooks_dir().glob("*.ipynb"))


def test_there_are_section_notebooks():
    assert [p.name for p in NOTEBOOKS if p.name.startswith("01_")] == ["01_specs.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_defaults_match_default_yaml(path: Path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    tree = ast.parse(cells[0].source)
    defaults = params.defaults_dict()
    # A section that reads no parameter keeps the cell (the build injects after it) and says so.
    assert tree.body or cells[0].source.lstrip().startswith("#"), "empty parameters cell"
    for stmt in tree.body:
        assert isinstance(stmt, ast.AnnAssign), "parameters are type-annotated assignments"
        name = stmt.target.id
        assert name in defaults, f"{name} is not in params/default.yaml"
        value = ast.literal_eval(stmt.value)
        # None stands for the default file's value (lists live once, in params/default.yaml).
        assert value is None or value == defaults[name], name
    # A unit or meaning comment on every parameter (anywhere in its, possibly wrapped, lines).
    lines = cells[0].source.splitlines()
    for stmt in tree.body:
        text = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno])
        assert "#" in text, f"parameter without a comment: {text!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outline_and_thin_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    titles = [
        ln
        for c in nb.cells
        if c.cell_type == "markdown"
        for ln in c.source.splitlines()
        if ln.startswith("# ")
    ]
    assert len(titles) == 1
    headings = [
        ln
        for c in nb.cells
        if c.cell_type == "markdown"
        for ln in c.source.splitlines()
        if ln.startswith("## ")
    ]
    assert headings[:2] == ["## Parameters", "## Setup"]
    assert headings[-1] == "## Sources"
    for cell in nb.cells:
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)
            assert not any(
                isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)
            ), cell.source
            assert "../data" not in cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_metadata_is_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert "papermill" not in nb.metadata
    for cell in nb.cells:
        assert "papermill" not in cell.metadata and "execution" not in cell.metadata
        if cell.cell_type == "code":
            assert (
                cell.outputs
                or "parameters" in cell.metadata.get("tags", [])
                or cell.source.startswith(("from ", "import ", "p = ", "assert"))
            ), f"committed without outputs: {cell.source[:60]!r}"


def test_every_notebook_is_a_report_section():
    sections = execute.discover()
    assert [s.path for s in sections] == [p for p in NOTEBOOKS if p.name[:2].isdigit()]
    assert all(s.title for s in sections)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_carry_no_image_bytes(path: Path):
    """Figures are checked by the build and the browser tests; the committed outputs keep text and
    tables only (a figure change must not add megabytes to the history)."""
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"data:image/png;base64,(?!PNG\b)[A-Za-z0-9+/=]{8}", text)
    assert '"image/png"' not in text
    assert path.stat().st_size < 400_000, f"{path.name}: {path.stat().st_size} bytes"


def test_notebooks_stay_thin():
    """At most half of the 802 lines of notebook code the project had before its layers (issue 16),
    and no list literal in a parameters cell: lists live once, in params/default.yaml."""
    total = 0
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            total += len(cell.source.splitlines())
            if "parameters" in cell.metadata.get("tags", []):
                lists = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.List)]
                assert not lists, f"{path.name}: a list literal in the parameters cell"
    assert total <= 401, total
