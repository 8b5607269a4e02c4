"""The build starts the longest sections first: by the last run's time, else by the notebook's
``runs_long`` mark (a long section started last would leave the other kernels idle at the end)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from gpucompare.core import paths
from gpucompare.report import build
from tests.tiny_sections import write_section

#: How long each tiny section "runs" in these tests (seconds, chosen here).
SECONDS = {"01_alpha": 1.0, "02_beta": 5.0, "03_gamma": 2.0}


@pytest.fixture
def sections(tmp_path, monkeypatch) -> tuple[Path, list[str]]:
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for i, stem in enumerate(SECONDS):
        write_section(nbs, f"{stem}.ipynb", stem.split("_")[1].title(), f"years: float = {i + 1}")
    gamma = nbformat.read(nbs / "03_gamma.ipynb", as_version=4)
    gamma.metadata["gpucompare"] = {"runs_long": True}
    nbformat.write(gamma, nbs / "03_gamma.ipynb")
    started: list[str] = []

    def fake_execute(section, values, out_path, timeout_s, kernels=None, key=""):
        # What the build asks for, in order; the notebook is "executed" as it is.
        started.append(section.stem)
        section.seconds = SECONDS[section.stem]
        shutil.copy(section.path, out_path)
        return nbformat.read(out_path, as_version=4)

    monkeypatch.setattr(build, "execute", fake_execute)
    return nbs, started


def test_a_section_marked_runs_long_starts_first_then_file_order(sections, tmp_path):
    nbs, started = sections
    build.build(tmp_path / "out", nb_dir=nbs, jobs=1)
    assert started == ["03_gamma", "01_alpha", "02_beta"]


def test_with_timings_the_longest_last_run_starts_first(sections, tmp_path):
    nbs, started = sections
    build.build(tmp_path / "out", nb_dir=nbs, jobs=1)
    started.clear()
    build.build(tmp_path / "out", nb_dir=nbs, jobs=1, force=True)
    # 5 s, 2 s, 1 s (SECONDS): the mark no longer matters once a time is known.
    assert started == ["02_beta", "03_gamma", "01_alpha"]
