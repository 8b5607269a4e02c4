"""Provenance of a build: package version, git commit, data-file hashes and build time."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from gpucompare import __version__
from gpucompare.core import paths


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=paths.repo_root(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=paths.repo_root(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def provenance(built_at: str) -> dict[str, Any]:
    """Package version, git commit, data-file hashes and build time."""
    data = paths.data_dir()
    files = sorted(
        p for p in data.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".csv"}
    )
    return {
        "version": __version__,
        "git_commit": _git_commit(),
        "built_at": built_at,
        "data_files": [{"name": str(p.relative_to(data)), "sha256": _sha256(p)} for p in files],
    }
