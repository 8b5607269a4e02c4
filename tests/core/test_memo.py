"""In-process memos of functions of the input files (``core/memo.py``): one computation per
arguments and contents of the inputs, a new answer after any input changes, a copy per caller,
nothing kept from a call that raised."""

from __future__ import annotations

import os
import shutil

import pytest

from gpucompare.core import memo, paths


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A copy of data/ that the library reads instead (settled: its files are a minute old)."""
    folder = tmp_path / "data"
    shutil.copytree(paths.data_dir(), folder)
    for f in folder.rglob("*"):
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 60 * 10**9))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(folder))
    return folder


def _counting(copy=memo.copy_dict):
    calls = []

    @memo.of_inputs(copy)
    def answer(x=0):
        calls.append(x)
        return {"x": x, "calls": len(calls)}

    return answer, calls


def test_one_computation_per_arguments_and_inputs(data):
    answer, calls = _counting()
    assert answer(1) == answer(1) == {"x": 1, "calls": 1}
    assert answer(2)["calls"] == 2 and answer(x=2)["calls"] == 3  # another key: keyword form
    assert calls == [1, 2, 2]


def test_a_changed_data_file_or_default_parameter_gives_a_new_answer(data, tmp_path, monkeypatch):
    answer, _ = _counting()
    answer()
    gpus = data / "gpus.yaml"
    gpus.write_text(gpus.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert answer()["calls"] == 2
    assert answer()["calls"] == 2  # the same edited content: remembered again
    (data / "new.csv").write_text("a\n1\n", encoding="utf-8")  # a new file counts too
    assert answer()["calls"] == 3
    # params/default.yaml is part of the inputs: a signature that differs in it is another key.
    other_params = tmp_path / "params"
    other_params.mkdir()
    (other_params / "default.yaml").write_text("years: 3\n", encoding="utf-8")
    monkeypatch.setattr(paths, "params_dir", lambda: other_params)
    assert answer()["calls"] == 4


def test_a_folder_argument_is_hashed_with_the_inputs(data, tmp_path):
    folder = tmp_path / "measurements"
    folder.mkdir()
    (folder / "a.csv").write_text("1\n", encoding="utf-8")
    seen = []

    @memo.of_inputs(memo.copy_rows)
    def rows(where):
        seen.append(where)
        return [{"n": len(list(where.iterdir()))}]

    assert rows(folder) == [{"n": 1}]
    (folder / "b.csv").write_text("2\n", encoding="utf-8")
    assert rows(folder) == [{"n": 2}]
    assert len(seen) == 2


def test_each_caller_gets_its_own_copy(data):
    import pandas as pd

    @memo.of_inputs(memo.copy_frame)
    def frame():
        return pd.DataFrame({"a": [1, 2]})

    first = frame()
    first.loc[0, "a"] = 99
    first["b"] = 0
    assert frame().to_dict("list") == {"a": [1, 2]}

    @memo.of_inputs(memo.copy_rows)
    def rows():
        return [{"a": 1}]

    got = rows()
    got[0]["a"] = 2
    got.append({"a": 3})
    assert rows() == [{"a": 1}]


def test_a_call_that_raises_keeps_nothing(data):
    outcomes = [ValueError("first"), {"ok": True}]

    @memo.of_inputs(memo.copy_dict)
    def flaky():
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    with pytest.raises(ValueError, match="first"):
        flaky()
    assert flaky() == {"ok": True}
    assert flaky() == {"ok": True} and outcomes == []  # the second answer is remembered


def test_answers_are_bounded_least_recent_first(data, monkeypatch):
    monkeypatch.setattr(memo, "MAX_ENTRIES", 2)
    answer, calls = _counting()
    answer(1), answer(2), answer(1), answer(3)  # 2 is now the least recently used: gone
    answer(1), answer(3)
    assert calls == [1, 2, 3]
    answer(2)
    assert calls == [1, 2, 3, 2]


def test_the_kernel_measurements_follow_an_edited_file(data):
    # The loaders read their CSV files at every call; memoised, they must still see an edit.
    from gpucompare.data import measurements

    def h100_gemm_tflops(frame):
        rows = frame[(frame["gpu_id"] == "h100-sxm") & (frame["benchmark"] == "gemm")]
        return sorted(rows["tflops"])

    before = measurements.load_kernel_measurements()
    assert 798 in h100_gemm_tflops(before)
    path = data / "measurements" / "kernels.csv"
    text = path.read_text(encoding="utf-8")
    assert text.count(",798,") == 1
    path.write_text(text.replace(",798,", ",797,"), encoding="utf-8")
    after = measurements.load_kernel_measurements()
    assert 797 in h100_gemm_tflops(after) and 798 not in h100_gemm_tflops(after)


def test_a_call_with_an_unhashable_argument_is_computed_not_kept(data):
    answer, calls = _counting()
    assert calls == []
    assert answer(["a"]) == {"x": ["a"], "calls": 1}
    assert answer(["a"])["calls"] == 2 and calls == [["a"], ["a"]]


def _kept_counting(tmp_path, monkeypatch, answer):
    """A function kept between processes (``keep``) that counts its computations."""
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(memo, "_pending", {})
    calls = []

    @memo.of_inputs(memo.copy_rows, keep="test-rows")
    def rows():
        calls.append(1)
        return answer()

    return rows, calls


def test_a_kept_answer_is_read_by_the_next_process_and_written_only_at_the_flush(
    data, tmp_path, monkeypatch
):
    rows, calls = _kept_counting(tmp_path, monkeypatch, lambda: [{"id": "a", "value": 0.1}])
    assert rows() == [{"id": "a", "value": 0.1}] and len(calls) == 1
    assert not (tmp_path / "cache" / "memo").exists()  # nothing written before the flush
    assert memo.flush() == 1 and memo.flush() == 0
    rows.cache_clear()  # a new process: nothing in memory
    assert rows() == [{"id": "a", "value": 0.1}] and len(calls) == 1  # read, not computed
    # Other code or versions: another entry, computed again.
    monkeypatch.setattr(memo, "code_and_versions", lambda: "other code")
    rows.cache_clear()
    assert rows() == [{"id": "a", "value": 0.1}] and len(calls) == 2


@pytest.mark.parametrize(
    "answer",
    [
        [{"value": float("nan")}],
        [{"pair": (1, 2)}],
        [{"when": __import__("datetime").date.today()}],
    ],
    ids=["nan", "tuple", "date"],
)
def test_an_answer_json_does_not_hold_exactly_is_not_kept(data, tmp_path, monkeypatch, answer):
    rows, calls = _kept_counting(tmp_path, monkeypatch, lambda: answer)
    rows()
    assert calls == [1] and memo.flush() == 0 and not (tmp_path / "cache" / "memo").exists()


def test_the_audit_is_kept_between_processes(data, tmp_path, monkeypatch):
    from gpucompare.audit import runner

    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(memo, "_pending", {})
    first = runner.run("memory")
    assert memo.flush() == 1
    runner.run.cache_clear()
    monkeypatch.setattr(runner, "checks", lambda: pytest.fail("the audit ran again"))
    assert runner.run("memory") == first
