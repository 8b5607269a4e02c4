"""The build's kernels talk to it over Unix sockets, not TCP: ipykernel then prints no "Kernel is
running over TCP without encryption" warning on each start, and parallel kernels have no ports to
race for. One small notebook is executed three times at once through
:func:`gpucompare.report.execute.execute`, as the build runs its sections."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from gpucompare.report import execute

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix sockets: POSIX only")


def _section(tmp_path: Path) -> execute.Section:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Transport\nWhich socket?"),
        nbformat.v4.new_code_cell("x: int = 1  # a number", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json, os\n"
            "from ipykernel.kernelapp import IPKernelApp\n"
            "app = IPKernelApp.instance()\n"
            "print(json.dumps([app.transport, os.path.dirname(app.ip), x]))"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "01_transport.ipynb"
    nbformat.write(nb, path)
    return execute.Section(path, "Transport", "Which socket?", ["x"])


def test_kernels_use_unix_sockets_and_print_no_tcp_warning(tmp_path, capfd):
    section = _section(tmp_path)

    def run(i: int) -> str:
        out = tmp_path / f"out{i}.ipynb"
        nb = execute.execute(section, {"x": i}, out, timeout_s=60)
        return nb.cells[-1].outputs[0]["text"]

    with ThreadPoolExecutor(3) as pool:
        results = [json.loads(t) for t in pool.map(run, range(3))]
    assert [r[0] for r in results] == ["ipc"] * 3
    assert [r[2] for r in results] == [0, 1, 2]  # each kernel ran its own notebook
    folders = {r[1] for r in results}
    assert len(folders) == 3  # one socket folder per kernel
    assert not any(Path(f).exists() for f in folders)  # removed afterwards
    err = capfd.readouterr().err
    assert "without encryption" not in err
    assert "Invalid Signature" not in err
