"""Failures during a build: a killed build and a failing write leave the previous report intact,
complete, and no temporary folder behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from gpucompare import build, paths
from gpucompare.errors import BuildError

ROOT = paths.repo_root()


def _previous_report(out: Path) -> None:
    out.mkdir(parents=True)
    (out / "index.html").write_text("previous report")


def _small_notebooks(folder: Path, slow_s: float = 0) -> Path:
    """The specs section, plus (with ``slow_s``) a section that sleeps, to be interrupted."""
    folder.mkdir()
    shutil.copy(paths.notebooks_dir() / "01_specs.ipynb", folder)
    if slow_s:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        }
        nb.cells = [
            nbformat.v4.new_markdown_cell("# Slow\n\nA section that takes its time."),
            nbformat.v4.new_code_cell(
                "gpus: list[str] = ['h100-sxm']  # ids", metadata={"tags": ["parameters"]}
            ),
            nbformat.v4.new_code_cell(f"import time\ntime.sleep({slow_s})"),
        ]
        nbformat.write(nb, folder / "09_slow.ipynb")
    return folder


def _leftovers(parent: Path) -> list[str]:
    return sorted(
        p.name for p in parent.iterdir() if ".tmp-" in p.name or p.name.endswith(".failed")
    )


def test_a_failing_write_keeps_the_previous_report(tmp_path, monkeypatch):
    out = tmp_path / "reports" / "latest"
    _previous_report(out)
    nbs = _small_notebooks(tmp_path / "nbs")
    real_write = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == "manifest.json":
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(BuildError, match=r"writing the report failed: No space left on device"):
        build.build(out, nb_dir=nbs, jobs=1)
    assert (out / "index.html").read_text() == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    assert _leftovers(out.parent) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_build_keeps_the_previous_report(tmp_path, sig):
    out = tmp_path / "reports" / "latest"
    _previous_report(out)
    nbs = _small_notebooks(tmp_path / "nbs", slow_s=5)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpucompare",
            "report",
            "--out",
            str(out),
            "--notebooks",
            str(nbs),
            "--jobs",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(".tmp-" in p.name for p in out.parent.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.1)
    time.sleep(2)  # the notebooks are running now
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert (out / "index.html").read_text() == "previous report"
    assert _leftovers(out.parent) == []
