"""Where the project's inputs live, and the one YAML reader that turns their errors into InputError.

Notebooks find data through these functions, never through relative paths: papermill's
working directory is not the notebook's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from gpucompare.errors import InputError

#: PyYAML's safe loader, in C (libyaml) where available: about ten times faster than the Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Environment variable that points the library at another data folder (tests use it).
DATA_DIR_ENV = "GPUCOMPARE_DATA_DIR"


def repo_root() -> Path:
    """The checkout's root: ``lib/gpucompare/paths.py`` -> two levels up from ``lib``."""
    return Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The folder of sourced input data (``data/``), or ``$GPUCOMPARE_DATA_DIR``."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else repo_root() / "data"


def params_dir() -> Path:
    """The folder of parameter files (``params/``)."""
    return repo_root() / "params"


def notebooks_dir() -> Path:
    """The folder of section notebooks (``notebooks/``)."""
    return repo_root() / "notebooks"


def load_yaml(path: Path) -> Any:
    """Read a YAML file; a missing or malformed file raises one InputError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}:{where}: malformed YAML: {problem}") from None
