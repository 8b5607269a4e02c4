"""Incremental builds: every kind of input changes the affected sections' keys, and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from gpucompare import params
from gpucompare.core import paths
from gpucompare.report import cache

NB = paths.notebooks_dir()


def _values(**changes):
    return params.make(**changes).model_dump(mode="json")


def test_a_parameter_changes_only_the_sections_that_declare_it():
    base = cache.section_keys(sorted(NB.glob("[0-9][0-9]_*.ipynb")), _values())
    changed = cache.section_keys(
        sorted(NB.glob("[0-9][0-9]_*.ipynb")), _values(price_usd={"h100-sxm": 20000})
    )
    declares = {
        nb.stem for nb in NB.glob("[0-9][0-9]_*.ipynb") if "price_usd" in cache.parameter_names(nb)
    }
    assert declares, "some section must read prices"
    assert {s for s in base if base[s] != changed[s]} == declares
    # The memory section does not read prices, so a price change cannot re-run it.
    assert "02_memory" not in declares


def test_the_notebook_itself_changes_its_key(tmp_path):
    src = NB / "01_specs.ipynb"
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    fp = cache.inputs_fingerprint()
    before = cache.section_key(copy, {}, fp)
    copy.write_text(copy.read_text().replace("Specifications", "Specs", 1))
    assert cache.section_key(copy, {}, fp) != before


def test_a_data_file_changes_every_key(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(paths.repo_root() / "data", data)
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(data))
    before = cache.inputs_fingerprint()
    models = data / "models.yaml"
    models.write_text(models.read_text() + "\n# an analyst's comment\n")
    assert cache.inputs_fingerprint() != before


def test_a_library_file_changes_every_key(tmp_path, monkeypatch):
    lib = tmp_path / "gpucompare"
    package = Path(cache.__file__).parents[1]
    shutil.copytree(package, lib, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "__file__", str(lib / "report" / "cache.py"))
    before = cache.inputs_fingerprint()
    schema = lib / "params" / "schema.py"
    schema.write_text(schema.read_text() + "\n# changed\n")
    assert cache.inputs_fingerprint() != before
    (lib / "templates" / "report.css").write_text("/* changed */")
    assert cache.inputs_fingerprint() != before


def test_store_replaces_older_entries_atomically(tmp_path):
    store = cache.Store(tmp_path / "c")
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    store.put("01_specs", "k1", nb)
    store.put("01_specs", "k2", nb)
    assert store.get("01_specs", "k1") is None
    assert store.get("01_specs", "k2").read_text() == "{}"
    assert sorted(p.name for p in (tmp_path / "c" / "01_specs").iterdir()) == [
        "k2.ipynb",
        "k2.sha256",
    ]


def test_a_truncated_entry_is_removed_and_reported(tmp_path):
    store = cache.Store(tmp_path / "c")
    nb = tmp_path / "x.ipynb"
    nb.write_text('{"cells": [], "metadata": {}}')
    store.put("01_specs", "k1", nb)
    entry = store.path("01_specs", "k1")
    entry.write_bytes(entry.read_bytes()[:10])  # a disk that filled up, a killed copy
    assert store.get("01_specs", "k1") is None
    assert store.discarded == ["01_specs"]
    assert list((tmp_path / "c" / "01_specs").iterdir()) == []


def test_an_entry_without_its_hash_is_not_trusted(tmp_path):
    store = cache.Store(tmp_path / "c")
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    store.put("01_specs", "k1", nb)
    (tmp_path / "c" / "01_specs" / "k1.sha256").unlink()
    assert store.get("01_specs", "k1") is None
    assert store.discarded == ["01_specs"]


def test_build_key_depends_on_pdf_and_title():
    keys = {"01_specs": "a"}
    assert cache.build_key(keys, False, "t") != cache.build_key(keys, True, "t")
    assert cache.build_key(keys, False, "t") != cache.build_key(keys, False, "u")
