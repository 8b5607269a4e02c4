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
