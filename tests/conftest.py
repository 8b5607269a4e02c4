"""Shared fixtures: the repository root and a runner for the CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
