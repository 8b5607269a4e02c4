"""Incremental builds: every kind of input changes the affected sections' keys, and nothing else."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from gpucompare import params
from gpucompare.core import filecache, paths
from gpucompare.core.errors import InputError
from gpucompare.report import cache, store

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


# --- the section store: several entries per section, least recently used evicted first ----------

K = [hashlib.sha256(f"key {i}".encode()).hexdigest() for i in range(8)]


def _notebook(tmp_path, text: str = "{}", size_bytes: int | None = None) -> Path:
    nb = tmp_path / f"x{len(list(tmp_path.glob('x*.ipynb')))}.ipynb"
    nb.write_text(text if size_bytes is None else "x" * size_bytes)
    return nb


def _kept(root: Path) -> set[tuple[str, str]]:
    return {(e.group, e.marker.stem) for e in cache.Store(root).entries()}


def test_store_keeps_several_entries_per_section(tmp_path):
    store = cache.Store(tmp_path / "c")
    for i, k in enumerate(K[:3]):
        store.put("01_specs", k, _notebook(tmp_path, f'{{"n": {i}}}'))
    assert [store.get("01_specs", k).read_text() for k in K[:3]] == [
        '{"n": 0}',
        '{"n": 1}',
        '{"n": 2}',
    ]
    # Each entry: the notebook and its marker, nothing else.
    assert sorted(p.name for p in (tmp_path / "c" / "01_specs").iterdir()) == sorted(
        [f"{k}.ipynb" for k in K[:3]] + [f"{k}.json" for k in K[:3]]
    )


def test_the_default_store_keeps_at_least_eight_scenarios():
    assert store.SECTION_ENTRIES >= 8 and store.REPORT_ENTRIES >= 8


def test_eviction_drops_the_least_recently_used_entry_of_the_section(tmp_path):
    store = cache.Store(tmp_path / "c", max_entries=3)
    nb = _notebook(tmp_path)
    for k in K[:3]:  # stored in the order 0, 1, 2
        store.put("01_specs", k, nb)
    store.put("02_memory", K[7], nb)  # another section: counted apart
    assert store.get("01_specs", K[0]) is not None  # used: the order of use is now 1, 2, 0
    store.put("01_specs", K[3], nb)  # four in the section: the least recent, 1, goes
    assert _kept(tmp_path / "c") == {
        ("01_specs", K[2]),
        ("01_specs", K[0]),
        ("01_specs", K[3]),
        ("02_memory", K[7]),
    }
    store.put("01_specs", K[4], nb)  # then 2
    assert {k for s, k in _kept(tmp_path / "c") if s == "01_specs"} == {K[0], K[3], K[4]}
    # A new Store on the same folder (another process) sees the same order on disk.
    again = cache.Store(tmp_path / "c", max_entries=3)
    again.put("01_specs", K[5], nb)  # the least recent is now 0 (used before 3 and 4 were stored)
    assert {k for s, k in _kept(tmp_path / "c") if s == "01_specs"} == {K[3], K[4], K[5]}


def test_the_size_bound_counts_every_section_and_spares_the_new_entry(tmp_path):
    # Three notebooks of 1000 bytes against a bound of 2500 bytes: 2 fit, the oldest goes.
    store = cache.Store(tmp_path / "c", max_entries=16, max_bytes=2500)
    store.put("01_specs", K[0], _notebook(tmp_path, size_bytes=1000))
    store.put("02_memory", K[1], _notebook(tmp_path, size_bytes=1000))
    assert _kept(tmp_path / "c") == {("01_specs", K[0]), ("02_memory", K[1])}
    store.put("03_gemm", K[2], _notebook(tmp_path, size_bytes=1000))
    assert _kept(tmp_path / "c") == {("02_memory", K[1]), ("03_gemm", K[2])}
    # One entry larger than the bound: it is kept (just stored), every other one goes.
    store.put("04_interconnect", K[3], _notebook(tmp_path, size_bytes=3000))
    assert _kept(tmp_path / "c") == {("04_interconnect", K[3])}


def test_a_store_within_its_bounds_reads_no_marker_to_store_an_entry(tmp_path, monkeypatch):
    # A preview's price edit stores 18 entries into stores holding hundreds: reading every
    # marker at each put (to find what to evict) cost ~0.25 s an edit.
    store = cache.Store(tmp_path / "c", max_entries=3, max_bytes=10**6)
    nb = _notebook(tmp_path)
    for k in K[:3]:
        store.put("01_specs", k, nb)
    reads = []
    real = filecache.read_marked
    monkeypatch.setattr(filecache, "read_marked", lambda *a: reads.append(a) or real(*a))
    cache.Store(tmp_path / "c", max_entries=3, max_bytes=10**6).put("02_memory", K[3], nb)
    assert reads == []
    # Over a bound, the markers are read and the least recent entry goes, as before.
    cache.Store(tmp_path / "c", max_entries=3, max_bytes=10**6).put("01_specs", K[4], nb)
    assert reads and _kept(tmp_path / "c") == {
        ("01_specs", K[1]),
        ("01_specs", K[2]),
        ("01_specs", K[4]),
        ("02_memory", K[3]),
    }


def test_eviction_order_is_deterministic_when_uses_tie():
    # Same last use (a file system with coarse times): by section, then by name.
    def entry(group, name, used=5, size=10):
        return store.Entry(Path(f"/c/{group}/{name}.json"), Path("/x"), group, size, used)

    entries = [entry("b", "k2"), entry("a", "k3"), entry("b", "k1"), entry("a", "k4", used=9)]
    # One per section: a keeps k4 (used last), b keeps k2 (k1 sorts first among equals).
    drop = store.evictions(entries, max_entries=1, max_bytes=10**9, keep=Path("/none"))
    assert [(e.group, e.marker.stem) for e in drop] == [("a", "k3"), ("b", "k1")]
    # 40 bytes against 25: the two first in (use, section, name) order go.
    drop = store.evictions(entries, max_entries=10, max_bytes=25, keep=Path("/none"))
    assert [(e.group, e.marker.stem) for e in drop] == [("a", "k3"), ("b", "k1")]
    # The entry just stored is spared: the next two go instead.
    keep = entries[1].marker
    drop = store.evictions(entries, max_entries=10, max_bytes=25, keep=keep)
    assert [(e.group, e.marker.stem) for e in drop] == [("b", "k1"), ("b", "k2")]


def test_files_the_program_did_not_write_are_never_deleted(tmp_path):
    folder = tmp_path / "c" / "01_specs"
    folder.mkdir(parents=True)
    foreign = {
        "notes.txt": "mine",
        f"{K[6]}.ipynb": "{}",  # no marker beside it
        f"{K[7]}.ipynb": "{}",
        f"{K[7]}.json": json.dumps({"generator": "someone", "kind": "section", "key": K[7]}),
        f"{K[5]}.sha256": "not the hash of anything",
        f"{K[5]}.ipynb": "{}",
    }
    for name, text in foreign.items():
        (folder / name).write_text(text)
    store = cache.Store(tmp_path / "c", max_entries=1, max_bytes=1)
    for k in K[:3]:
        store.put("01_specs", k, _notebook(tmp_path))
    for name, text in foreign.items():
        assert (folder / name).read_text() == text, name
    assert store.get("01_specs", K[6]) is None and store.get("01_specs", K[7]) is None
    assert _kept(tmp_path / "c") == {("01_specs", K[2])}


def test_entries_of_the_one_entry_store_are_removed(tmp_path):
    # The earlier store: <key>.ipynb with <key>.sha256 holding its SHA-256.
    folder = tmp_path / "c" / "01_specs"
    folder.mkdir(parents=True)
    (folder / f"{K[4]}.ipynb").write_text('{"old": 1}')
    (folder / f"{K[4]}.sha256").write_text(hashlib.sha256(b'{"old": 1}').hexdigest())
    cache.Store(tmp_path / "c").put("01_specs", K[0], _notebook(tmp_path))
    assert sorted(p.name for p in folder.iterdir()) == [f"{K[0]}.ipynb", f"{K[0]}.json"]


def test_a_truncated_entry_is_removed_and_reported(tmp_path):
    store = cache.Store(tmp_path / "c")
    store.put("01_specs", K[1], _notebook(tmp_path, '{"cells": [], "metadata": {}}'))
    entry = store.path("01_specs", K[1])
    entry.write_bytes(entry.read_bytes()[:10])  # a disk that filled up, a killed copy
    assert store.get("01_specs", K[1]) is None
    assert store.discarded == ["01_specs"]
    assert list((tmp_path / "c" / "01_specs").iterdir()) == []


def test_an_entry_without_its_marker_is_not_trusted_nor_removed(tmp_path):
    store = cache.Store(tmp_path / "c")
    store.put("01_specs", K[1], _notebook(tmp_path))
    (tmp_path / "c" / "01_specs" / f"{K[1]}.json").unlink()
    assert store.get("01_specs", K[1]) is None
    assert store.discarded == []
    assert store.path("01_specs", K[1]).is_file()
    # Storing the section again makes it an entry again.
    store.put("01_specs", K[1], _notebook(tmp_path, '{"again": 1}'))
    assert store.get("01_specs", K[1]).read_text() == '{"again": 1}'


def test_keys_and_sections_cannot_name_other_paths(tmp_path):
    store = cache.Store(tmp_path / "c")
    for stem, key in (("01_specs", "k1"), ("01_specs", "../" + K[0]), ("../x", K[0])):
        with pytest.raises(ValueError):
            store.put(stem, key, _notebook(tmp_path))


# --- the report store ------------------------------------------------------------------------


def _report(root: Path, text: str) -> Path:
    (root / "tables").mkdir(parents=True)
    (root / "index.html").write_text(f"<p>{text}</p>")
    (root / "tables" / "t.csv").write_text("a,b\n1,2\n")
    (root / "manifest.json").write_text(json.dumps({"generator": "gpucompare", "text": text}))
    return root


def test_report_store_copies_verified_reports_and_evicts_the_least_recent(tmp_path):
    reports = cache.ReportStore(tmp_path / "r", max_entries=2)
    for i in range(2):
        assert reports.put(K[i], _report(tmp_path / f"rep{i}", f"report {i}"))
    target = tmp_path / "t0"
    target.mkdir()
    assert reports.copy_into(K[0], target)["text"] == "report 0"  # used: 1 is now the oldest
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "index.html",
        "manifest.json",
        "tables",
        "tables/t.csv",
    ]
    assert reports.put(K[2], _report(tmp_path / "rep2", "report 2"))
    assert [reports.has(k) for k in K[:3]] == [True, False, True]
    assert not (tmp_path / "r" / K[1]).exists()


def test_report_store_bound_in_bytes(tmp_path):
    one = _report(tmp_path / "one", "x")
    size = sum(p.stat().st_size for p in one.rglob("*") if p.is_file())
    reports = cache.ReportStore(tmp_path / "r", max_entries=8, max_bytes=2 * size)
    for k in K[:3]:
        assert reports.put(k, one)
    assert [reports.has(k) for k in K[:3]] == [False, True, True]


def test_a_corrupt_stored_report_is_removed_not_restored(tmp_path):
    reports = cache.ReportStore(tmp_path / "r")
    reports.put(K[0], _report(tmp_path / "rep", "fine"))
    (tmp_path / "r" / K[0] / "index.html").write_text("<p>edited</p>")
    target = tmp_path / "t"
    target.mkdir()
    assert reports.copy_into(K[0], target) is None
    assert not reports.has(K[0]) and not (tmp_path / "r" / K[0]).exists()


def test_report_store_leaves_folders_it_did_not_write(tmp_path):
    foreign = tmp_path / "r" / K[1]
    foreign.mkdir(parents=True)
    (foreign / "index.html").write_text("someone's")
    extra = tmp_path / "r" / "notes"
    extra.mkdir()
    reports = cache.ReportStore(tmp_path / "r", max_entries=1, max_bytes=1)
    assert not reports.put(K[1], _report(tmp_path / "rep", "mine"))  # the name is taken
    for k in (K[2], K[3]):
        assert reports.put(k, _report(tmp_path / f"rep-{k[:4]}", "mine"))
    assert (foreign / "index.html").read_text() == "someone's" and extra.is_dir()
    # A file someone put inside an entry survives its eviction (only listed files are removed).
    (tmp_path / "r" / K[3] / "notes.txt").write_text("keep")
    reports.put(K[4], _report(tmp_path / "rep4", "mine"))
    assert not reports.has(K[3])
    assert (tmp_path / "r" / K[3] / "notes.txt").read_text() == "keep"


# --- the preflight, remembered -----------------------------------------------------------------


def test_checked_runs_the_preflight_once_per_inputs_and_never_remembers_a_failure(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    calls = []
    cache.checked(params.make(), calls.append)
    cache.checked(params.make(), calls.append)
    assert len(calls) == 1
    cache.checked(params.make(years=4), calls.append)
    assert len(calls) == 2

    def fails(p):
        calls.append(p)
        raise InputError("bad")

    for _ in range(2):
        with pytest.raises(InputError):
            cache.checked(params.make(years=5), fails)
    assert len(calls) == 4


def test_checked_runs_again_after_a_data_change(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    data = tmp_path / "data"
    shutil.copytree(paths.repo_root() / "data", data)
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(data))
    calls = []
    p = params.make()
    cache.checked(p, calls.append)
    (data / "models.yaml").write_text((data / "models.yaml").read_text() + "\n# comment\n")
    cache.checked(p, calls.append)
    assert len(calls) == 2


def test_data_checked_runs_the_data_checks_once_per_data_and_never_remembers_problems(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    data = tmp_path / "data"
    shutil.copytree(paths.repo_root() / "data", data)
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(data))
    calls = []

    def clean():
        calls.append("clean")
        return []

    assert cache.data_checked(clean) == [] and cache.data_checked(clean) == []
    assert calls == ["clean"]
    (data / "models.yaml").write_text((data / "models.yaml").read_text() + "\n# comment\n")
    assert cache.data_checked(clean) == [] and calls == ["clean", "clean"]
    (data / "models.yaml").write_text((data / "models.yaml").read_text() + "# another\n")
    for _ in range(2):  # a problem is found again, not remembered as passed
        assert cache.data_checked(lambda: ["gpus.yaml: bad"]) == ["gpus.yaml: bad"]


def test_build_key_depends_on_pdf_and_title():
    keys = {"01_specs": "a"}
    assert cache.build_key(keys, False, "t") != cache.build_key(keys, True, "t")
    assert cache.build_key(keys, False, "t") != cache.build_key(keys, False, "u")


def test_report_store_clears_only_its_own_stale_temporary_folders(tmp_path):
    from gpucompare.report import publish

    root = tmp_path / "r"
    stale, fresh, foreign = (root / f".{K[0]}.tmp-{n}" for n in ("old", "new", "theirs"))
    for d in (stale, fresh, foreign):
        d.mkdir(parents=True)
    publish.mark_owned(stale, "cache")
    publish.mark_owned(fresh, "cache")  # a build storing right now
    old = 1_000_000_000  # 2001: older than STALE_TEMP_S
    os.utime(stale, (old, old))
    os.utime(foreign, (old, old))
    assert cache.ReportStore(root).put(K[1], _report(tmp_path / "rep", "x"))
    assert not stale.exists() and fresh.is_dir() and foreign.is_dir()
