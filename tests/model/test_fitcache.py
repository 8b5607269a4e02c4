"""Tables kept in the fit cache (issue 21): a table read back is the table stored, bit for bit, with
its dtypes, index and column order; a table that would not read back so is not stored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gpucompare.core import filecache, paths
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
