"""Where the inputs live (issue 21: the folders are built once, the default parameters parsed once
per text): the answers follow the environment and the files exactly as when they were rebuilt on
every call. (The default-parameter tests would sit in tests/test_params.py; they are here because
they test the reading, by ``paths``, of ``params/default.yaml``.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError

ROOT = Path(paths.__file__).resolve().parents[3]


def test_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(paths.CACHE_DIR_ENV, raising=False)
    assert paths.data_dir() == ROOT / "data"
    assert paths.cache_dir() == ROOT / "reports" / ".gpucompare-cache"
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "d1"))
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "c1"))
    assert paths.data_dir() == tmp_path / "d1"
    assert paths.cache_dir() == tmp_path / "c1"
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "d2"))
    assert paths.data_dir() == tmp_path / "d2"
    monkeypatch.setenv(paths.DATA_DIR_ENV, "")  # empty: as if unset
    assert paths.data_dir() == ROOT / "data"
    monkeypatch.setenv(paths.DATA_DIR_ENV, "relative/data")  # left relative, as given
    assert paths.data_dir() == Path("relative/data") and not paths.data_dir().is_absolute()
    assert paths.params_dir() == ROOT / "params"
    assert paths.notebooks_dir() == ROOT / "notebooks"


@pytest.fixture
def default_file(tmp_path, monkeypatch):
    path = tmp_path / "default.yaml"
    monkeypatch.setattr(params, "default_file", lambda: path)
    return path


def test_defaults_are_parsed_again_only_when_the_text_changes(default_file, monkeypatch):
    parses = []
    parse = paths.parse_yaml
    monkeypatch.setattr(paths, "parse_yaml", lambda *a: parses.append(a) or parse(*a))
    default_file.write_text("pue: 1.5\ngpus: [h100-sxm, rtx-4090]\n")
    first = params.defaults_dict()
    assert first == {"pue": 1.5, "gpus": ["h100-sxm", "rtx-4090"]}
    assert params.defaults_dict() == first
    assert len(parses) == 1

    # Same size, same modification time: only the text tells the edit apart.
    stat = default_file.stat()
    default_file.write_text("pue: 1.2\ngpus: [h100-sxm, rtx-4090]\n")
    os.utime(default_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert params.defaults_dict() == {"pue": 1.2, "gpus": ["h100-sxm", "rtx-4090"]}
    assert len(parses) == 2


def test_a_caller_cannot_change_the_defaults_of_the_next(default_file):
    default_file.write_text("price_usd: {h100-sxm: 25000}\ngpus: [h100-sxm]\n")
    mine = params.defaults_dict()
    mine["price_usd"]["h100-sxm"] = 1
    mine["gpus"].append("rtx-4090")
    assert params.defaults_dict() == {"price_usd": {"h100-sxm": 25000}, "gpus": ["h100-sxm"]}


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "file not found"),
        ("", "the parameters file is empty"),
        ("- a list\n", "expected a mapping of parameter: value, got list"),
        ("pue: [1,\n", "malformed YAML"),
    ],
)
def test_a_bad_default_file_fails_every_time(default_file, text, message):
    default_file.write_text("pue: 1.5\n")
    assert params.defaults_dict() == {"pue": 1.5}  # a good parse is remembered ...
    if text is None:
        default_file.unlink()
    else:
        default_file.write_text(text)
    for _ in range(2):  # ... but never stands in for a file that now fails
        with pytest.raises(InputError, match=message):
            params.defaults_dict()
