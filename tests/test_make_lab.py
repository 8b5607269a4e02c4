"""``make lab``: extra arguments through ``LAB_ARGS``, and ``--allow-root`` added when make runs as
root (JupyterLab refuses to start as root without it). Dry runs (``make -n``) only: nothing starts.
``-o .venv/.installed`` keeps the environment's rule out of the dry run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _lab_command(*make_args: str, env: dict[str, str] | None = None) -> list[str]:
    """The words of the ``jupyter lab`` command line ``make -n lab`` would run."""
    if env is None:  # the caller's own LAB_ARGS must not leak in
        env = {k: v for k, v in os.environ.items() if k != "LAB_ARGS"}
    res = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "lab", *make_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = [x for x in res.stdout.splitlines() if "jupyter lab" in x]
    assert len(lines) == 1, res.stdout
    return lines[0].split()


def _as_uid(tmp_path: Path, uid: int) -> dict[str, str]:
    """An environment whose ``id -u`` answers ``uid`` (a stand-in ``id`` first on PATH)."""
    fake = tmp_path / "id"
    fake.write_text(f"#!/bin/sh\necho {uid}\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "LAB_ARGS"}
    return {**env, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


def test_lab_as_the_current_user():
    words = _lab_command()
    assert words[:3] == [".venv/bin/jupyter", "lab", "notebooks"]
    assert ("--allow-root" in words) == (os.getuid() == 0)
    assert "--no-browser" not in words


def test_lab_args_are_passed_to_jupyter_lab():
    words = _lab_command("LAB_ARGS=--no-browser --port 8899")
    assert words[:3] == [".venv/bin/jupyter", "lab", "notebooks"]
    assert words[-3:] == ["--no-browser", "--port", "8899"]
    assert ("--allow-root" in words) == (os.getuid() == 0)
    env = {**os.environ, "LAB_ARGS": "--no-browser"}  # from the environment too (make's ?=)
    assert _lab_command(env=env)[-1] == "--no-browser"


def test_allow_root_only_as_root(tmp_path):
    assert "--allow-root" in _lab_command(env=_as_uid(tmp_path, 0))
    assert "--allow-root" not in _lab_command(env=_as_uid(tmp_path, 1000))
    words = _lab_command("LAB_ARGS=--no-browser", env=_as_uid(tmp_path, 1000))
    assert words == [".venv/bin/jupyter", "lab", "notebooks", "--no-browser"]
