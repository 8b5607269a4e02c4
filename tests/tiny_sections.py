"""Tiny section notebooks for build tests: a title, one declared parameter, one printed value, so
that a build takes seconds instead of the report's minute."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_section(folder: Path, name: str, title: str, declares: str) -> None:
    """Write ``folder/name``: a section titled ``title`` whose parameters cell is ``declares``
    (``"years: float = 3"``) and which prints that parameter."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    var = declares.split(":")[0]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat does the scenario set?"),
        nbformat.v4.new_code_cell(declares, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(f"print('{var} =', {var})"),
    ]
    nbformat.write(nb, folder / name)
