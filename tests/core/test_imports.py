"""Optional imports kept out of the program's processes (issue 21): with ``rfc3987_syntax`` blocked,
nbformat still reads and validates notebooks, and the report package blocks it before its imports."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

from gpucompare.core import imports, paths


def test_blocking_makes_the_import_fail(monkeypatch):
    monkeypatch.delitem(sys.modules, "rfc3987_syntax", raising=False)
    imports.block_unused_optional_imports()
    imports.block_unused_optional_imports()  # a second call changes nothing
    with pytest.raises(ImportError):
        importlib.import_module("rfc3987_syntax")


def test_a_module_already_imported_is_left_alone(monkeypatch):
    loaded = object()
    monkeypatch.setitem(sys.modules, "rfc3987_syntax", loaded)
    imports.block_unused_optional_imports()
    assert sys.modules["rfc3987_syntax"] is loaded


#: Run in a fresh interpreter: importing the report package blocks the grammars, nbformat then
#: validates every section notebook, and still refuses a broken one.
PROBE = textwrap.dedent(
    """
    import sys
    import gpucompare.report
    import nbformat
    import jsonschema
    assert sys.modules["rfc3987_syntax"] is None, "not blocked"
    assert "iri" not in jsonschema.FormatChecker.checkers, "the IRI checker is registered"
    notebooks = sorted(__import__("pathlib").Path(sys.argv[1]).glob("[0-9]*.ipynb"))
    assert len(notebooks) >= 10, notebooks
    for path in notebooks:
        nbformat.validate(nbformat.read(path, as_version=4))
    broken = nbformat.read(notebooks[0], as_version=4)
    broken.cells[0]["cell_type"] = "no-such-cell-type"
    try:
        nbformat.validate(broken)
    except nbformat.ValidationError:
        print(len(notebooks), "valid, broken refused")
    """
)


def test_nbformat_validates_notebooks_with_the_grammars_blocked():
    res = subprocess.run(
        [sys.executable, "-c", PROBE, str(paths.notebooks_dir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("valid, broken refused"), res.stdout
