"""Published training and fine-tuning speeds, ``data/measurements/training.csv``: its columns and a
validated, typed loader. The training model (``gpucompare.model.training``) calibrates its model
FLOPs utilisation (MFU) per GPU class on these rows and states its held-out error.

A row is one published throughput of one configuration: the GPU and how many, the method (full
training, LoRA or QLoRA), the model's size (parameters, layers, hidden size: enough for the FLOPs of
a token), the sequence length, the micro-batch, activation recomputation, the ZeRO/FSDP stage and
the tokens per second of all GPUs together, with its source (a URL at a fixed commit, or a dated
page), the date and a note saying which table and column was read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from gpucompare.core import memo
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.data.interconnect import get_link
from gpucompare.data.measurements import measurements_dir, parse_count, read_csv

if TYPE_CHECKING:
    import pandas as pd

#: The training measurements file, in ``data/measurements/``.
TRAINING_FILE = "training.csv"
#: Columns of ``training.csv``, in order.
TRAINING_COLUMNS: tuple[str, ...] = (
    "id",
    "framework",
    "framework_version",
    "gpu_id",  # catalog GPU
    "gpus",  # GPUs of the run
    "node_link",  # data/interconnect.yaml link between nodes (runs over one node: empty)
    "method",  # METHODS
    "model",  # data/models.yaml id, or empty for a model outside the catalog
    "model_name",
    "parameters",  # every parameter of the model (embeddings included)
    "num_layers",
    "hidden_size",
    "trainable_parameters",  # LoRA/QLoRA: adapter parameters; full: empty
    "seq_len",  # tokens per sequence
    "micro_batch",  # sequences per GPU per forward/backward
    "recompute",  # RECOMPUTE_VALUES
    "zero_stage",  # 0 (replicated, DDP) to 3 (FSDP full shard)
    "offload",  # optimizer states and gradients in host memory
    "measured_tokens_per_s",  # all GPUs together
    "date",
    "source",
    "url",
    "verified",
    "note",
)
#: Training methods: every weight trained, LoRA adapters on frozen 16-bit weights, LoRA adapters on
#: frozen 4-bit (NF4) weights.
METHODS = ("full", "lora", "qlora")
#: Activation recomputation of a measurement (``unknown``: the source does not say).
RECOMPUTE_VALUES = ("none", "selective", "full", "unknown")
#: ZeRO stages (0 = plain data parallelism; 3 = parameters sharded too, as FSDP's FULL_SHARD).
ZERO_STAGES = (0, 1, 2, 3)


def _text(where: str, r: pd.Series, col: str) -> str:
    value = r[col].strip()
    if not value:
        raise InputError(f"{where}: {col} is empty")
    return value


def _choice(where: str, col: str, value: str, allowed) -> str:
    if value not in allowed:
        raise InputError(
            f"{where}: {col}: unknown '{value}'; allowed: {', '.join(map(str, allowed))}"
        )
    return value


def _row(where: str, r: pd.Series) -> dict:
    """One validated, typed training measurement."""
    for col in ("id", "framework", "model_name", "date", "source", "url", "note"):
        _text(where, r, col)
    if not r["url"].startswith(("http://", "https://")):
        raise InputError(f"{where}: url must start with http (got {r['url']!r})")
    catalog.get_gpu(r["gpu_id"], f"{where}: gpu_id")
    if r["node_link"]:
        get_link(r["node_link"], f"{where}: node_link")
    method = _choice(where, "method", r["method"], METHODS)
    row = dict(r)
    row["method"] = method
    row["gpus"] = parse_count(where, "gpus", r["gpus"])
    for col in ("parameters", "num_layers", "hidden_size", "seq_len", "micro_batch"):
        row[col] = parse_count(where, col, r[col])
    if method == "full":
        if r["trainable_parameters"]:
            raise InputError(f"{where}: trainable_parameters: must be empty for full training")
        row["trainable_parameters"] = None
    else:
        row["trainable_parameters"] = parse_count(
            where, "trainable_parameters", r["trainable_parameters"]
        )
        if row["trainable_parameters"] >= row["parameters"]:
            raise InputError(f"{where}: trainable_parameters: must be fewer than the parameters")
    if r["model"]:
        m = catalog.get_model(r["model"], f"{where}: model")
        for col, value in (
            ("parameters", m.parameters),
            ("num_layers", m.num_hidden_layers),
            ("hidden_size", m.hidden_size),
        ):
            if row[col] != value:
                raise InputError(
                    f"{where}: {col}: {row[col]} differs from data/models.yaml's {value} for {m.id}"
                )
    row["recompute"] = _choice(where, "recompute", r["recompute"], RECOMPUTE_VALUES)
    row["zero_stage"] = parse_count(where, "zero_stage", r["zero_stage"], 0)
    _choice(where, "zero_stage", row["zero_stage"], ZERO_STAGES)
    for col in ("offload", "verified"):
        if r[col] not in ("true", "false"):
            raise InputError(f"{where}: {col} must be true or false")
        row[col] = r[col] == "true"
    try:
        tps = float(r["measured_tokens_per_s"])
    except ValueError:
        raise InputError(
            f"{where}: measured_tokens_per_s: not a number: {r['measured_tokens_per_s']!r}"
        ) from None
    if not (math.isfinite(tps) and tps > 0):
        raise InputError(f"{where}: measured_tokens_per_s: must be positive (got {tps})")
    row["measured_tokens_per_s"] = tps
    return row


@memo.of_inputs(memo.copy_frame)
def load_training(folder: Path | None = None) -> pd.DataFrame:
    """Every row of ``data/measurements/training.csv``, validated and typed, sorted by id. Ids are
    unique; a GPU, model or link must be in the catalogs (a catalog model's size must match its
    entry); an adapter method needs its adapter parameter count; a row needs a source, an http(s)
    URL and a date."""
    import pandas as pd

    folder = Path(folder) if folder is not None else measurements_dir()
    path = folder / TRAINING_FILE
    frame = read_csv(path, TRAINING_COLUMNS)
    rows = [_row(f"{path}: row {i + 2}", r) for i, r in frame.iterrows()]
    ids = [r["id"] for r in rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InputError(f"{path}: duplicate ids: {', '.join(dupes)}")
    out = pd.DataFrame(rows, columns=list(TRAINING_COLUMNS))
    return out.sort_values("id").reset_index(drop=True)
