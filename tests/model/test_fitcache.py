"""Tables kept in the fit cache (issue 21): a table read back is the table stored, bit for bit, with
its dtypes, index and column order; a table that would not read back so is not stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gpucompare.core import filecache, memo, paths
from gpucompare.model import fitcache

KIND = "test-table"
#: Floats that a decimal round trip with too few digits, or a float32 on the way, would change:
#: 0.1, 1/3, -0.0 (sign bit), the smallest subnormal, the largest double, a value with 17
#: significant digits.
FLOATS = [0.1, 1 / 3, -0.0, 5e-324, 1.7976931348623157e308, 0.30000000000000004]


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))


def _table(index=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gpu_id": ["h100-sxm", "", "rtx-4090", "ünïcode", "a,b", 'quote"d'],
            "rows": [1, -2, 2**62, 0, 7, 3],
            "ratio": FLOATS,
            "kept": [True, False, True, True, False, True],
        },
        index=index,
    )


def _entry(tmp_path, digest: str):
    return tmp_path / "fits" / f"{digest}.json"


def test_a_table_reads_back_bit_for_bit(tmp_path):
    table = _table()
    digest = fitcache.key(KIND)
    assert fitcache.save_frame(KIND, digest, table)
    back = fitcache.load_frame(KIND, digest)
    pd.testing.assert_frame_equal(
        back, table, check_exact=True, check_index_type=True, check_column_type=True
    )
    assert list(back.columns) == ["gpu_id", "rows", "ratio", "kept"]
    assert list(back.dtypes) == list(table.dtypes)
    # Bits, not just ==: -0.0 == 0.0, but a sign lost would show here.
    assert back["ratio"].to_numpy().tobytes() == np.array(FLOATS).tobytes()
    doc = json.loads(_entry(tmp_path, digest).read_text())
    assert doc["generator"] == "gpucompare" and doc["kind"] == KIND and doc["key"] == digest


def test_a_range_index_other_than_the_default_reads_back():
    table = _table(pd.RangeIndex(2, 20, 3))
    digest = fitcache.key(KIND)
    assert fitcache.save_frame(KIND, digest, table)
    back = fitcache.load_frame(KIND, digest)
    assert list(back.index) == [2, 5, 8, 11, 14, 17]
    pd.testing.assert_frame_equal(back, table, check_exact=True, check_index_type=True)


@pytest.mark.parametrize(
    "table",
    [
        _table().assign(ratio=[0.1, float("nan"), 1.0, 2.0, 3.0, 4.0]),  # JSON has no NaN
        _table(pd.Index([5, 4, 3, 2, 1, 0])),  # not a range: its order would not be kept
        _table().set_axis(["a", "a", "b", "c"], axis=1),  # one name for two columns
        _table().rename_axis("row"),  # a named index
    ],
    ids=["nan", "index", "repeated-column", "named-index"],
)
def test_a_table_that_would_not_read_back_exactly_is_not_stored(tmp_path, table):
    digest = fitcache.key(KIND)
    assert not fitcache.save_frame(KIND, digest, table)
    assert not _entry(tmp_path, digest).exists()
    assert fitcache.load_frame(KIND, digest) is None


def test_an_entry_that_is_not_a_table_is_a_miss(tmp_path):
    digest = fitcache.key(KIND)
    store = filecache.JsonCache(tmp_path / "fits", KIND, fitcache.MAX_ENTRIES)
    for payload in (
        {"columns": ["a"]},
        [1, 2],
        {"index": [0, 1, 1], "columns": ["a"], "dtypes": ["no-such-dtype"], "data": [[1]]},
    ):
        assert store.put(digest, payload)
        assert fitcache.load_frame(KIND, digest) is None


def test_cached_frame_computes_once_then_reads(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _table()

    first = fitcache.cached_frame(KIND, None, compute)
    second = fitcache.cached_frame(KIND, None, compute)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(second, first, check_exact=True)


def test_cached_frame_recomputes_a_corrupt_entry_and_leaves_the_file_alone(tmp_path):
    """A file under the entry's name that does not read back (a truncated write by something else)
    is a miss; it carries no marker, so it is not overwritten or removed."""
    entry = _entry(tmp_path, fitcache.key(KIND))
    entry.parent.mkdir(parents=True)
    entry.write_text('{"generator": "gpucompare", "kind": "test-ta')
    calls = []

    def compute():
        calls.append(1)
        return _table()

    for _ in range(2):
        pd.testing.assert_frame_equal(fitcache.cached_frame(KIND, None, compute), _table())
    assert len(calls) == 2
    assert entry.read_text() == '{"generator": "gpucompare", "kind": "test-ta'


# --- a fit's rows as plain columns (fitcache.Table) ------------------------------------------


def _payload(table: pd.DataFrame) -> dict:
    """The JSON data a fit entry holds for ``table``, as read back from disk."""
    digest = fitcache.key(KIND)
    assert fitcache.save_frame(KIND, digest, table)
    return filecache.JsonCache(paths.cache_dir() / "fits", KIND, 8).get(digest)


def test_a_table_of_plain_columns_gives_the_values_and_the_frame():
    table = _table()
    rows = fitcache.Table.read(_payload(table))
    assert len(rows) == 6
    assert rows.column("gpu_id") == ["h100-sxm", "", "rtx-4090", "ünïcode", "a,b", 'quote"d']
    assert rows.column("rows") == [1, -2, 2**62, 0, 7, 3]
    assert np.array(rows.column("ratio")).tobytes() == np.array(FLOATS).tobytes()
    with pytest.raises(KeyError):
        rows.column("no-such-column")
    pd.testing.assert_frame_equal(rows.frame(), table, check_exact=True, check_index_type=True)
    assert rows.frame() is rows.frame()  # built once
    part = rows.select(["kept", "gpu_id"])
    pd.testing.assert_frame_equal(
        part.frame(), table[["kept", "gpu_id"]].reset_index(drop=True), check_exact=True
    )


def test_a_table_selected_from_a_shifted_range_starts_at_zero():
    table = _table(pd.RangeIndex(2, 20, 3))
    part = fitcache.Table.read(_payload(table)).select(["rows"])
    assert len(part) == 6
    expected = table[["rows"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.frame(), expected, check_index_type=True)
    # The same, from a frame already built (a fit computed in this process).
    from_frame = fitcache.Table(frame=table).select(["rows"])
    assert from_frame.column("rows") == [1, -2, 2**62, 0, 7, 3]
    pd.testing.assert_frame_equal(from_frame.frame(), expected, check_index_type=True)


@pytest.mark.parametrize(
    "change",
    [
        {"index": [0, 6]},  # not a range
        {"index": [0, 6, 0]},  # step 0
        {"index": [0.0, 6, 1]},  # not integers
        {"columns": ["gpu_id", "rows", "ratio", "ratio"]},  # repeated name
        {"dtypes": ["str", "int64", "float64"]},  # a dtype missing
        {"data": [[1]] * 4},  # columns of another length than the range
        {"data": "not a list"},
    ],
    ids=["two", "step-0", "float", "repeated", "dtypes", "length", "data"],
)
def test_a_fit_entry_whose_rows_are_not_a_table_is_a_miss(tmp_path, change):
    rows = _payload(_table())
    with pytest.raises((ValueError, TypeError)):
        fitcache.Table.read({**rows, **change})
    digest = fitcache.key("test-fit")
    entry = {"x": [0.5], "keys": {"engine": ["vllm"]}, "frame": {**rows, **change}}
    assert filecache.JsonCache(tmp_path / "fits", "test-fit", 8).put(digest, entry)
    assert fitcache.load("test-fit", digest) is None


def test_installed_versions_are_the_metadata_versions():
    from importlib import metadata

    for name in ("pandas", "scipy", "numpy"):
        assert memo.installed_version(name) == metadata.version(name)
    assert memo.installed_version("numpy") == np.__version__
    assert memo.installed_version("pandas") == pd.__version__


def test_an_installed_version_is_read_from_the_headers_only(monkeypatch):
    """A ``Version:`` line in the description (after the blank line ending the headers) is not the
    version; without one in the headers the metadata's own parser decides."""

    class Dist:
        def __init__(self, text):
            self.text, self.version = text, "from-the-parser"

        def read_text(self, name):
            return self.text if name == "METADATA" else None

    texts = {
        "a": "Metadata-Version: 2.1\nName: a\nVersion: 1.2.3\nSummary: x\n\nVersion: 9\n",
        "b": "Metadata-Version: 2.1\nName: b\nSummary: x\n\nVersion: 9\n",
    }
    monkeypatch.setattr(memo.metadata, "distribution", lambda name: Dist(texts[name]))
    assert memo.installed_version("a") == "1.2.3"
    assert memo.installed_version("b") == "from-the-parser"


_COMPUTE_ONCE = """
import sys, time
import pandas as pd
from gpucompare.model import fitcache

def compute():
    with open(sys.argv[1], "a") as log:
        log.write("computed\\n")
    time.sleep(1.0)  # long enough for the other process to ask meanwhile
    return pd.DataFrame({"a": [1.0, 2.0]})

print(fitcache.cached_frame("lock-test", None, compute)["a"].sum())
"""


def test_two_processes_asking_at_once_compute_the_entry_once(tmp_path):
    # The kernels of a cold build ask for the same fit at the same moment: one computes, the
    # other waits for it and reads what it stored.
    log = tmp_path / "log.txt"
    env = {**os.environ, "GPUCOMPARE_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _COMPUTE_ONCE, str(log)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == ["3.0", "3.0"]
    assert log.read_text().splitlines() == ["computed"]
