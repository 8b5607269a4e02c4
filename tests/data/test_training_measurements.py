"""``data/measurements/training.csv``: what the committed rows hold, and the loader's bad-input cases."""

from __future__ import annotations

import csv

import pytest

from gpucompare.core.errors import InputError
from gpucompare.data import catalog, training

GOOD = {
    "id": "a-run",
    "framework": "torchtune",
    "framework_version": "abc1234",
    "gpu_id": "rtx-4090",
    "gpus": "1",
    "node_link": "",
    "method": "lora",
    "model": "llama-2-7b",
    "model_name": "Llama 2 7B",
    "parameters": "6738415616",
    "num_layers": "32",
    "hidden_size": "4096",
    "trainable_parameters": "4194304",
    "seq_len": "2048",
    "micro_batch": "2",
    "recompute": "full",
    "zero_stage": "0",
    "offload": "false",
    "measured_tokens_per_s": "2500",
    "date": "2024-05-09",
    "source": "A README",
    "url": "https://github.com/o/r/blob/0123456/README.md",
    "verified": "true",
    "note": "table X, with a comma",
}


def load_one(tmp_path, **changes):
    with open(tmp_path / training.TRAINING_FILE, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=training.TRAINING_COLUMNS)
        w.writeheader()
        w.writerow(dict(GOOD, **changes))
    return training.load_training(tmp_path)


def test_committed_rows_are_typed_and_in_the_catalogs():
    rows = training.load_training()
    assert len(rows) >= 10 and rows["id"].is_unique
    assert set(rows["gpu_id"]) <= set(catalog.gpu_ids())
    assert rows["gpus"].map(type).eq(int).all()
    assert rows["measured_tokens_per_s"].map(type).eq(float).all()
    assert (rows["gpus"] > 1).any() and (rows["gpus"] == 1).any()
    assert rows["date"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    adapters = rows[rows["method"] != "full"]
    assert adapters["trainable_parameters"].notna().all()


def test_a_good_row_loads(tmp_path):
    row = load_one(tmp_path).iloc[0]
    assert row["gpus"] == 1 and row["trainable_parameters"] == 4194304 and row["verified"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gpu_id": "rtx-9090"}, "gpu_id: unknown GPU"),
        ({"model": "llama-9"}, "model: unknown model"),
        ({"method": "dora"}, "method: unknown 'dora'"),
        ({"recompute": "some"}, "recompute: unknown"),
        ({"zero_stage": "4"}, "zero_stage: unknown"),
        ({"gpus": "0"}, "gpus: must be at least 1"),
        ({"source": " "}, "source is empty"),
        ({"url": "ftp://x"}, "url must start with http"),
        ({"trainable_parameters": ""}, "trainable_parameters: not an integer"),
        ({"method": "full"}, "trainable_parameters: must be empty"),
        ({"parameters": "7000000000"}, "differs from data/models.yaml"),
        ({"measured_tokens_per_s": "-3"}, "must be positive"),
        ({"measured_tokens_per_s": "fast"}, "not a number"),
        ({"offload": "yes"}, "offload must be true or false"),
        ({"node_link": "carrier-pigeon"}, "node_link: unknown link"),
    ],
)
def test_bad_rows_name_the_row_and_column(tmp_path, changes, message):
    with pytest.raises(InputError, match=message) as err:
        load_one(tmp_path, **changes)
    assert "row 2" in str(err.value)


def test_duplicate_ids_and_wrong_columns(tmp_path):
    path = tmp_path / training.TRAINING_FILE
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=training.TRAINING_COLUMNS)
        w.writeheader()
        w.writerows([GOOD, GOOD])
    with pytest.raises(InputError, match="duplicate ids: a-run"):
        training.load_training(tmp_path)
    path.write_text("id,gpu\nx,y\n")
    with pytest.raises(InputError, match="columns"):
        training.load_training(tmp_path)
