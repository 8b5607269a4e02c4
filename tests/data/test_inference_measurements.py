"""``data/measurements/inference_*.csv`` and ``excluded.yaml``: what the committed measurements
cover, and every bad-input case of their loaders."""

from __future__ import annotations

import csv
import re

import pytest

from gpucompare.core.errors import InputError
from gpucompare.data import catalog, engines, measurements

#: Today (the project's date for "not in the future").
TODAY = "2026-11-29"


@pytest.fixture(scope="module")
def real():
    return measurements.load_inference()


def test_real_measurements_cover_engines_gpus_and_batches(real):
    assert len(real) >= 80
    assert real["engine"].nunique() >= 4
    assert set(real["engine"]) <= set(engines.engine_ids())
    gpus = set(real["gpu_id"])
    assert len(gpus) >= 6 and gpus <= set(catalog.gpu_ids())
    assert set(real["model"]) <= set(catalog.model_ids())
    assert real["batch"].min() == 1
    assert real["batch"].max() >= 256
    assert (real["gpus"] > 1).any()
    assert set(real["metric"]) <= set(measurements.METRICS)
    assert (real["measured_tokens_per_s"] > 0).all()
    # Typed: integers and floats, not strings.
    assert real["batch"].map(type).eq(int).all()
    assert real["measured_tokens_per_s"].map(type).eq(float).all()
    assert real["verified"].dtype == bool


def test_real_measurements_are_sorted_unique_and_split_consistently(real):
    assert list(real["id"]) == sorted(real["id"])
    assert real["id"].is_unique
    assert ((real["gpus"] == 1) == (real["split"] == "none")).all()
    assert set(real["file"]) == {
        p.name for p in measurements.measurements_dir().glob("inference_*.csv")
    }


def test_real_measurements_are_verified_and_pinned(real):
    commit = re.compile(r"[0-9a-f]{40}")
    date = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
    for r in real.itertuples():
        assert r.verified, r.id
        assert r.url.startswith("https://"), r.id
        assert date.match(r.date), (r.id, r.date)
        assert r.date <= TODAY, (r.id, r.date)
        # A pinned revision where the document has one; otherwise the date it carries.
        assert commit.search(r.url) or date.match(r.date), r.id
        assert r.source.strip(), r.id


# --- Bad inputs ---------------------------------------------------------------------------

GOOD = {
    "id": "m1",
    "engine": "vllm",
    "engine_version": "0.6.0",
    "gpu_id": "h100-sxm",
    "gpus": "1",
    "split": "none",
    "model": "llama-2-7b",
    "weights": "fp16",
    "kv_cache": "fp16",
    "batch": "8",
    "input_tokens": "128",
    "output_tokens": "128",
    "metric": "decode",
    "measured_tokens_per_s": "1000",
    "date": "2025-01-01",
    "source": "A benchmark",
    "url": "https://example.org/a",
    "verified": "true",
    "note": "a note, with a comma",
}


def write(path, *rows: dict) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=measurements.INFERENCE_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def load_one(tmp_path, **changes):
    write(tmp_path / "inference_a.csv", dict(GOOD, **changes))
    return measurements.load_inference(tmp_path)


def test_a_good_row_loads_typed(tmp_path):
    frame = load_one(tmp_path)
    row = frame.iloc[0]
    assert row["file"] == "inference_a.csv"
    assert (row["gpus"], row["batch"], row["input_tokens"], row["output_tokens"]) == (
        1,
        8,
        128,
        128,
    )
    assert row["measured_tokens_per_s"] == 1000.0 and bool(row["verified"])
    assert not load_one(tmp_path, verified="false").iloc[0]["verified"]
    assert row["note"] == "a note, with a comma"
    # Decode from an empty context: 0 input tokens is allowed; a prefill-only row has 0 output.
    assert load_one(tmp_path, input_tokens="0").iloc[0]["input_tokens"] == 0
    assert load_one(tmp_path, metric="prefill", output_tokens="0").iloc[0]["output_tokens"] == 0


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"metric": "throughput"},
            r"row 2: metric: unknown 'throughput'; allowed: decode, prefill, generation",
        ),
        ({"gpus": "2"}, r"row 2: split: 'none' exactly when gpus is 1 \(gpus 2\)"),
        ({"split": "tensor"}, r"row 2: split: 'none' exactly when gpus is 1 \(gpus 1\)"),
        ({"gpus": "2", "split": "diagonal"}, r"row 2: split: unknown 'diagonal'"),
        (
            {"metric": "prefill", "input_tokens": "0"},
            r"row 2: input_tokens: must be at least 1 \(got 0\)",
        ),
        ({"metric": "generation", "input_tokens": "0"}, r"row 2: input_tokens: must be at least 1"),
        ({"metric": "decode", "output_tokens": "0"}, r"row 2: output_tokens: must be at least 1"),
        ({"input_tokens": "-1"}, r"row 2: input_tokens: must be at least 0 \(got -1\)"),
        ({"batch": "0"}, r"row 2: batch: must be at least 1"),
        ({"batch": "8.5"}, r"row 2: batch: not an integer: '8.5'"),
        ({"gpus": "0"}, r"row 2: gpus: must be at least 1"),
        (
            {"engine": "llama-cpp", "weights": "int4"},
            r"row 2: weights: llama.cpp does not run 'int4' weights; allowed: ",
        ),
        (
            {"engine": "llama-cpp", "kv_cache": "fp8"},
            r"row 2: kv_cache: llama.cpp does not run a 'fp8' KV cache",
        ),
        ({"gpu_id": "h1000"}, r"row 2: gpu_id: unknown"),
        ({"model": "llama-9b"}, r"row 2: model: unknown"),
        ({"weights": "fp6"}, r"row 2: weights: unknown"),
        ({"measured_tokens_per_s": "0"}, r"row 2: measured_tokens_per_s: must be positive"),
        ({"measured_tokens_per_s": "fast"}, r"row 2: measured_tokens_per_s: not a number"),
        ({"measured_tokens_per_s": "nan"}, r"row 2: measured_tokens_per_s: must be positive"),
        ({"measured_tokens_per_s": ""}, r"row 2: measured_tokens_per_s is empty"),
        ({"verified": "yes"}, r"row 2: verified must be true or false"),
        ({"url": " "}, r"row 2: url is empty"),
        ({"date": ""}, r"row 2: date is empty"),
        ({"source": ""}, r"row 2: source is empty"),
        ({"id": ""}, r"row 2: id is empty"),
    ],
)
def test_bad_rows_name_the_column(tmp_path, changes, message):
    with pytest.raises(InputError, match=message) as exc:
        load_one(tmp_path, **changes)
    assert str(exc.value).startswith(str(tmp_path / "inference_a.csv"))


def test_unknown_engine_names_the_allowed_ids(tmp_path):
    with pytest.raises(
        InputError, match=r"engine: unknown engine 'vllmm' \(did you mean 'vllm'\?\)"
    ) as exc:
        load_one(tmp_path, engine="vllmm")
    assert ", ".join(sorted(engines.engine_ids())) in str(exc.value)


def test_unknown_engine_error_names_the_file_and_row(tmp_path):
    with pytest.raises(
        InputError, match=r"inference_a\.csv: row 2: engine: unknown engine 'vllmm'"
    ):
        load_one(tmp_path, engine="vllmm")


def test_duplicate_id_across_two_files(tmp_path):
    write(tmp_path / "inference_a.csv", GOOD)
    write(tmp_path / "inference_b.csv", dict(GOOD, batch="16"))
    with pytest.raises(InputError, match="duplicate ids: m1"):
        measurements.load_inference(tmp_path)
    # Distinct ids load, sorted by id whatever the file order.
    write(tmp_path / "inference_b.csv", dict(GOOD, id="a0"))
    assert list(measurements.load_inference(tmp_path)["id"]) == ["a0", "m1"]


def test_wrong_columns_and_malformed_files(tmp_path):
    (tmp_path / "inference_a.csv").write_text("id,engine\nm1,vllm\n")
    with pytest.raises(InputError, match="columns"):
        measurements.load_inference(tmp_path)
    (tmp_path / "inference_a.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match=r"inference_a\.csv"):
        measurements.load_inference(tmp_path)


def test_files_not_named_inference_are_ignored(tmp_path):
    write(tmp_path / "inference_a.csv", GOOD)
    (tmp_path / "other.csv").write_text("not,a,measurement\n")
    assert len(measurements.load_inference(tmp_path)) == 1


# --- excluded.yaml ----------------------------------------------------------------------------


def exclusions(tmp_path, text: str):
    write(tmp_path / "inference_a.csv", GOOD, dict(GOOD, id="m2"))
    (tmp_path / "excluded.yaml").write_text(text)
    return measurements.load_exclusions(tmp_path)


def test_exclusions_load(tmp_path):
    got = exclusions(
        tmp_path,
        "schema_version: 1\nexcluded:\n  - reason: ' broken setup '\n    ids: [m2]\n",
    )
    assert got == {"m2": "broken setup"}


def test_no_exclusion_file_means_none(tmp_path):
    write(tmp_path / "inference_a.csv", GOOD)
    assert measurements.load_exclusions(tmp_path) == {}


def test_unknown_excluded_id_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"excluded\[0\]: ids: unknown measurement id 'm9'"):
        exclusions(tmp_path, "schema_version: 1\nexcluded:\n  - reason: r\n    ids: [m1, m9]\n")


def test_duplicate_excluded_id_is_refused(tmp_path):
    text = (
        "schema_version: 1\nexcluded:\n  - reason: r\n    ids: [m1]\n"
        "  - reason: s\n    ids: [m2, m1]\n"
    )
    with pytest.raises(InputError, match=r"excluded\[1\]: ids: 'm1' is listed twice"):
        exclusions(tmp_path, text)


@pytest.mark.parametrize(
    "text, message",
    [
        ("schema_version: 2\nexcluded: []\n", "expected schema_version: 1"),
        ("schema_version: 1\nexcluded: {m1: r}\n", "expected schema_version: 1"),
        ("- m1\n", "expected schema_version: 1"),
        ("schema_version: 1\nexcluded:\n  - ids: [m1]\n", r"excluded\[0\]: needs exactly the keys"),
        (
            "schema_version: 1\nexcluded:\n  - reason: ''\n    ids: [m1]\n",
            r"excluded\[0\]: reason is empty",
        ),
    ],
)
def test_malformed_exclusions_are_refused(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        exclusions(tmp_path, text)


def test_real_exclusions_name_real_measurements(real):
    excluded = measurements.load_exclusions()
    assert excluded and set(excluded) <= set(real["id"])
    assert all(reason.strip() for reason in excluded.values())


# --- The column-wise checks report what the row-by-row checks reported (issue 21) -------------


def test_the_first_bad_row_is_the_one_named(tmp_path):
    """Rows are checked column by column, but the error is still the first bad row's, in file
    order (row 2 is the first data row, after the header)."""
    write(
        tmp_path / "inference_a.csv",
        GOOD,
        dict(GOOD, id="m2", url=" "),
        dict(GOOD, id="m3", gpu_id="no-such-gpu"),
    )
    with pytest.raises(InputError) as exc:
        measurements.load_inference(tmp_path)
    assert str(exc.value) == f"{tmp_path / 'inference_a.csv'}: row 3: url is empty"


def test_a_row_with_two_problems_reports_the_first_check(tmp_path):
    """The order of the checks: catalog ids, formats, empty fields, verified, metric, split, counts,
    split against the GPU count, the speed."""
    with pytest.raises(InputError) as exc:
        load_one(tmp_path, metric="fast", batch="0", measured_tokens_per_s="")
    assert str(exc.value).endswith(
        "inference_a.csv: row 2: metric: unknown 'fast'; allowed: decode, prefill, generation"
    )
    with pytest.raises(InputError) as exc:
        load_one(tmp_path, batch="0", measured_tokens_per_s="")
    assert str(exc.value).endswith("inference_a.csv: row 2: batch: must be at least 1 (got 0)")


def test_the_first_file_with_a_bad_row_is_the_one_named(tmp_path):
    write(tmp_path / "inference_a.csv", GOOD)
    write(tmp_path / "inference_b.csv", dict(GOOD, id="b1", gpus="2"))  # 2 GPUs, split none
    write(tmp_path / "inference_c.csv", dict(GOOD, id="c1", verified="yes"))
    with pytest.raises(InputError) as exc:
        measurements.load_inference(tmp_path)
    assert str(exc.value) == (
        f"{tmp_path / 'inference_b.csv'}: row 2: split: 'none' exactly when gpus is 1 (gpus 2)"
    )


def test_numbers_are_read_as_python_reads_them(tmp_path):
    """The counts and the speed go through int() and float(): surrounding spaces and an exponent
    are accepted, as before."""
    row = load_one(tmp_path, batch=" 16 ", measured_tokens_per_s="1.5e3").iloc[0]
    assert row["batch"] == 16 and row["measured_tokens_per_s"] == 1500.0


def test_exclusions_checked_against_ids_already_loaded(tmp_path, monkeypatch):
    """``known_ids`` spares loading the inference files again; the checks are the same."""
    text = "schema_version: 1\nexcluded:\n  - reason: r\n    ids: [m2]\n"
    assert exclusions(tmp_path, text) == {"m2": "r"}

    def no_load(*args, **kwargs):
        raise AssertionError("the inference files were loaded again")

    monkeypatch.setattr(measurements, "load_inference", no_load)
    assert measurements.load_exclusions(tmp_path, known_ids=["m1", "m2"]) == {"m2": "r"}
    with pytest.raises(InputError, match=r"excluded\[0\]: ids: unknown measurement id 'm2'"):
        measurements.load_exclusions(tmp_path, known_ids=["m1"])


def test_importing_the_module_does_not_import_pandas():
    """The one-line commands import this module for its column lists; pandas (~0.3 s) loads only
    when a loader builds a table."""
    import subprocess
    import sys

    code = "import sys, gpucompare.data.measurements; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
