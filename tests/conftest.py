"""Shared fixtures: the repository root and a runner for the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Builds made by the tests (in-process and in subprocesses) keep their cache in a folder of
    the test session, never in the project's ``reports/.gpucompare-cache/``."""
    if "GPUCOMPARE_CACHE_DIR" not in os.environ:
        os.environ["GPUCOMPARE_CACHE_DIR"] = tempfile.mkdtemp(prefix="gpucompare-test-cache-")


@pytest.fixture
def run_cli():
    """Run ``python -m gpucompare ARGS`` and return the CompletedProcess (text mode)."""

    def _run(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gpucompare", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run


@pytest.fixture
def round_params():
    """Cost parameters in round numbers, so that the hand calculations of the cost tests are easy
    to follow (tests/model/test_tco.py, test_cost.py, tests/sections/test_tco.py)."""
    from gpucompare import params

    return params.make(
        gpus=["h100-sxm", "rtx-4090"],
        price_usd={"h100-sxm": 30000, "rtx-4090": 1800},
        electricity_usd_per_kwh=0.10,
        pue=1.5,
        utilization=0.5,
        years=3,
        host_usd_per_gpu={"datacenter": 8000, "workstation": 2000, "consumer": 1000},
        server_host_usd_per_gpu={"datacenter": 8000, "workstation": 4000, "consumer": 4000},
        desktop_host_max_gpus=2,
        busy_power_fraction=0.9,
        idle_power_fraction=0.1,
        resale_fraction=0.2,
        cloud_usd_per_gpu_hour={"h100-sxm": 2.5, "rtx-4090": 0.5},
    )
