"""The reliability data file: lookups and a bad file that names the key."""

from __future__ import annotations

import shutil

import pytest

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import reliability


def test_bad_input():
    with pytest.raises(InputError, match=r"field_study: unknown field study 'titan'"):
        reliability.field_study("titan")


def test_bad_data_file_names_the_key(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(paths.data_dir(), data)
    f = data / "reliability.yaml"
    f.write_text(f.read_text().replace("source: stas00-mamf", "source: no-such-source"))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    with pytest.raises(
        InputError,
        match=r"undefined source ids: sustained_measurements\.h100-sxm-mamf-bf16: source 'no-such-source'",
    ):
        reliability.data()
