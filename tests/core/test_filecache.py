"""The on-disk cache helpers: entries marked as gpucompare's, least-recently-used eviction in a
deterministic order, nothing deleted or overwritten that the program did not write."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from gpucompare.core import filecache

KEYS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(6)]


def test_digest_separates_its_parts():
    assert filecache.digest("ab", "c") != filecache.digest("a", "bc")
    assert filecache.digest("x") == hashlib.sha256(b"1:x").hexdigest()


def test_hash_tree_sees_names_and_bytes(tmp_path):
    (tmp_path / "a.txt").write_text("1")
    before = filecache.hash_tree(tmp_path, ("**/*",))
    (tmp_path / "a.txt").write_text("2")
    assert filecache.hash_tree(tmp_path, ("**/*",)) != before
    (tmp_path / "a.txt").write_text("1")
    assert filecache.hash_tree(tmp_path, ("**/*",)) == before
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    assert filecache.hash_tree(tmp_path, ("**/*",)) != before


def _age(folder, seconds=60):
    """Set every file's modification time ``seconds`` back: settled files, as the data usually is."""
    for f in folder.rglob("*"):
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def test_hash_tree_reads_a_settled_tree_once_and_again_after_any_change(tmp_path, monkeypatch):
    # Clock times, so that the test does not depend on this machine's speed: the ctime of a file
    # (set by the kernel on every change, never by utime's arguments) is the one thing aging
    # cannot move back, so the settle window is measured from a clock we control.
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.txt").write_text("two")
    _age(tmp_path)
    monkeypatch.setattr(filecache.time, "time_ns", lambda: 10**9 * 4_000_000_000)  # far future
    first = filecache.hash_tree(tmp_path, ("**/*",))
    reads = []
    real = type(tmp_path).read_bytes
    monkeypatch.setattr(type(tmp_path), "read_bytes", lambda p: reads.append(p.name) or real(p))
    assert filecache.hash_tree(tmp_path, ("**/*",)) == first and reads == []  # remembered
    (tmp_path / "a.txt").write_text("ONE")  # same size: only the times and the bytes differ
    changed = filecache.hash_tree(tmp_path, ("**/*",))
    assert changed != first and sorted(reads) == ["a.txt", "b.txt"]
    (tmp_path / "c.txt").write_text("")
    assert filecache.hash_tree(tmp_path, ("**/*",)) not in (first, changed)


def test_hash_tree_never_remembers_a_tree_modified_within_the_settle_window(tmp_path, monkeypatch):
    # A write within one tick of the file system's clock can leave every stat field unchanged
    # ("racy" files): a tree with a file that new is read every time.
    (tmp_path / "a.txt").write_text("one")
    newest = (tmp_path / "a.txt").stat()
    now = max(newest.st_mtime_ns, newest.st_ctime_ns) + int(filecache.SETTLED_S * 1e9) // 2
    monkeypatch.setattr(filecache.time, "time_ns", lambda: now)
    filecache.hash_tree(tmp_path, ("**/*",))
    reads = []
    real = type(tmp_path).read_bytes
    monkeypatch.setattr(type(tmp_path), "read_bytes", lambda p: reads.append(p.name) or real(p))
    filecache.hash_tree(tmp_path, ("**/*",))
    assert reads == ["a.txt"]


def test_a_kept_tree_hash_spares_the_next_process_the_reading(tmp_path, monkeypatch):
    tree, keep = tmp_path / "tree", tmp_path / "keep"
    tree.mkdir()
    (tree / "a.txt").write_text("one")
    (tree / "b.txt").write_text("two")
    _age(tree)
    monkeypatch.setattr(filecache.time, "time_ns", lambda: 10**9 * 4_000_000_000)  # far future
    monkeypatch.setattr(filecache, "_trees_pending", {})
    first = filecache.hash_tree(tree, ("**/*",), keep)
    assert not keep.exists()  # nothing written before the flush (bad input writes nothing)
    assert filecache.flush_trees() == 1 and filecache.flush_trees() == 0
    # A new process: nothing remembered in memory; the hash comes from the folder, no file read.
    monkeypatch.setattr(filecache, "_TREES", {})
    reads = []
    real = type(tree).read_bytes

    def read_bytes(path):
        if tree in path.parents:  # the tree's files (the kept hash is read from the folder)
            reads.append(path.name)
        return real(path)

    monkeypatch.setattr(type(tree), "read_bytes", read_bytes)
    assert filecache.hash_tree(tree, ("**/*",), keep) == first and reads == []
    # A changed file changes its stat signature: read again, and the hash of the new bytes.
    monkeypatch.setattr(filecache, "_TREES", {})
    (tree / "a.txt").write_text("ONE")
    changed = filecache.hash_tree(tree, ("**/*",), keep)
    assert sorted(reads) == ["a.txt", "b.txt"] and changed != first
    monkeypatch.setattr(filecache, "_TREES", {})
    assert changed == filecache.hash_tree(tree, ("**/*",))  # the same as without the folder


def test_an_unsettled_tree_is_not_kept(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("one")  # just written: within the settle window
    monkeypatch.setattr(filecache, "_trees_pending", {})
    filecache.hash_tree(tmp_path, ("**/*.txt",), tmp_path / "keep")
    assert filecache.flush_trees() == 0 and not (tmp_path / "keep").exists()


def test_touch_orders_uses_even_within_one_clock_tick(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    future = 4_000_000_000 * 10**9  # year 2096: later than any clock reading now
    assert filecache.touch(a, future) == future + 1
    assert filecache.touch(b, filecache.recency(a)) == future + 2
    assert filecache.recency(b) > filecache.recency(a)


def test_json_cache_round_trip_and_least_recently_used_eviction(tmp_path):
    cache = filecache.JsonCache(tmp_path, "thing", max_entries=2)
    assert cache.get(KEYS[0]) is None
    assert cache.put(KEYS[0], {"x": [1.5, 0.1]})
    assert cache.put(KEYS[1], 2)
    assert cache.get(KEYS[0]) == {"x": [1.5, 0.1]}  # used: now the most recent
    assert cache.put(KEYS[2], 3)  # three entries, two kept: KEYS[1] is the least recent
    assert cache.get(KEYS[1]) is None
    assert cache.get(KEYS[0]) == {"x": [1.5, 0.1]} and cache.get(KEYS[2]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{k}.json" for k in (KEYS[0], KEYS[2])
    )


def test_json_cache_leaves_files_it_did_not_write(tmp_path):
    foreign = tmp_path / f"{KEYS[3]}.json"
    foreign.write_text(json.dumps({"generator": "someone-else", "kind": "thing", "key": KEYS[3]}))
    other_kind = tmp_path / f"{KEYS[4]}.json"
    other_kind.write_text(
        json.dumps({"generator": "gpucompare", "kind": "other", "key": KEYS[4], "payload": 1})
    )
    notes = tmp_path / "notes.json"
    notes.write_text("{}")
    cache = filecache.JsonCache(tmp_path, "thing", max_entries=1)
    for k in KEYS[:3]:
        assert cache.put(k, 1)
    # Not overwritten either: the name stays the foreign file's, and nothing is cached under it.
    assert not cache.put(KEYS[3], 1)
    assert cache.get(KEYS[3]) is None and cache.get(KEYS[4]) is None
    assert foreign.is_file() and other_kind.is_file() and notes.is_file()
    assert json.loads(foreign.read_text())["generator"] == "someone-else"
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(
        [foreign.name, other_kind.name, notes.name, f"{KEYS[2]}.json"]
    )


def test_json_cache_refuses_non_json_and_bad_keys(tmp_path):
    cache = filecache.JsonCache(tmp_path, "thing", max_entries=2)
    assert not cache.put(KEYS[0], float("nan"))
    assert not cache.put(KEYS[0], object())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        cache.put("../escape", 1)


def test_json_cache_unwritable_folder_is_a_miss(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = filecache.JsonCache(blocker / "sub", "thing", max_entries=2)
    assert not cache.put(KEYS[0], 1)
    assert cache.get(KEYS[0]) is None


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "f.bin"
    filecache.write_atomic(target, b"abc")
    filecache.write_atomic(target, b"de")
    assert target.read_bytes() == b"de"
    assert os.listdir(tmp_path) == ["f.bin"]
