"""Every shipped scenario builds: for each ``params/scenarios/*.yaml`` the checks that
``gpucompare report --params FILE`` makes before any kernel starts (parameters resolved over the
defaults, then the preflight against the data: :func:`gpucompare.report.preflight.resolve`), then
each section notebook's own code on the scenario's values, its ``assert`` cells included.

The notebooks' code runs in this process, the way ``tests/test_valid_params.py`` runs it for random
parameters (no kernel, tables rendered, figures drawn small), so a scenario that would stop the
build in a notebook (the RTX 5090 vs H200 scenario did, in the specs section's check of the per-SM
derivation) fails here in a few seconds. A new file in ``params/scenarios/`` is covered without
editing this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpucompare.data import catalog
from gpucompare.model import specs as specs_model
from gpucompare.report import execute, preflight
from tests.test_valid_params import DECLARED, _constants_cached, _run_notebook

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "params" / "scenarios").glob("*.yaml"))


def build_scenario(path: Path, only: list[str] | None = None) -> None:
    """What ``gpucompare report --params PATH`` checks and runs, without kernels or pages
    (``only``: these notebooks, by stem)."""
    p, _ = preflight.resolve([path], [])
    values = p.model_dump(mode="json")  # the JSON values papermill injects
    with _constants_cached():
        for name in only or DECLARED:
            _run_notebook(name, values)


def test_there_are_scenarios_and_every_section_is_run():
    assert len(SCENARIOS) >= 3
    # The sections run here are the build's sections.
    assert sorted(DECLARED) == sorted(s.stem for s in execute.discover())


@pytest.mark.parametrize("path", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_scenario_builds_every_section(path):
    build_scenario(path)


def test_a_gpu_without_a_peak_clock_fails_the_h200_scenario(monkeypatch):
    """The check is live: with the H200's peak clock removed (the derivation falls back to the
    1980 MHz boost clock, 8% above the datasheet), the specs section's assert stops the scenario,
    as it stopped the build before the catalog had the clock."""
    path = ROOT / "params" / "scenarios" / "rtx5090-vs-h200.yaml"
    real = specs_model.peak_clock_mhz

    def without_h200_peak_clock(gpu: catalog.Gpu) -> float:
        if gpu.id == "h200-sxm":
            return gpu.spec("boost_clock_mhz")
        return real(gpu)

    monkeypatch.setattr(specs_model, "peak_clock_mhz", without_h200_peak_clock)
    with pytest.raises(AssertionError, match="per-SM derivation"):
        build_scenario(path, ["01_specs"])
