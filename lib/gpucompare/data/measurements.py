"""Measurements in ``data/measurements/``: the kernel-measurement CSVs (``kernels*.csv``, written by
``gpucompare measure``) and the published LLM inference speeds (``inference_*.csv``): their columns
and validated, typed loaders; and the GEMM shapes of the article's table (``data/claims/gemm.yaml``),
the shapes worth measuring.

pandas is imported by the loaders that build a table, not by this module: the one-line commands
import the module for its column lists and the GEMM shapes without loading pandas (~0.3 s).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gpucompare.core import memo, paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, claims, engines
from gpucompare.data.gemm_precisions import gemm_precision

if TYPE_CHECKING:
    import pandas as pd

#: What a kernel measurement carries about how and where it was taken (the last columns of its CSV).
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "torch_version",
    "cuda_version",
    "driver_version",
    "date",
    "source",
    "url",
    "note",
)
#: Columns of a kernel-measurement CSV, in order (``gpucompare measure`` writes exactly these).
KERNEL_COLUMNS: tuple[str, ...] = (
    "gpu_id",  # catalog id ("" if the GPU is not in data/gpus.yaml)
    "gpu_name",  # as the driver reports it
    "benchmark",  # gemm | copy
    "precision",  # gemm: bf16, fp16, fp32, tf32 (data.gemm_precisions.GEMM_PRECISIONS); copy: empty
    "m",
    "n",
    "k",
    "bytes_moved",  # gemm: (MK + KN) x input bytes + MN x output bytes; copy: read + written
    "repeats",
    "median_ms",
    "tflops",  # gemm only
    "bandwidth_gb_s",  # copy only, read + written
    *PROVENANCE_COLUMNS,
)
#: Benchmarks a kernel-measurement row can hold.
BENCHMARKS = ("gemm", "copy")
#: Columns of ``data/measurements/inference_*.csv`` (published LLM inference speeds), in order.
INFERENCE_COLUMNS: tuple[str, ...] = (
    "id",
    "engine",  # data/engines.yaml id
    "engine_version",
    "gpu_id",
    "gpus",  # GPUs serving one model copy
    "split",  # none (1 GPU) | tensor | layer | row | pipeline
    "model",
    "weights",
    "kv_cache",
    "batch",  # concurrent sequences
    "input_tokens",  # prompt tokens per sequence (0: decode from an empty context)
    "output_tokens",  # generated tokens per sequence (0: a prefill-only row)
    "metric",  # METRICS
    "measured_tokens_per_s",  # all sequences and all GPUs together
    "date",
    "source",
    "url",
    "verified",
    "note",
)
#: What an inference measurement counts: ``decode`` = generated tokens/s with the prompt's time
#: left out; ``prefill`` = prompt tokens/s; ``generation`` = generated tokens / (prompt + decode time).
METRICS = ("decode", "prefill", "generation")
#: Multi-GPU splits a measurement can name (``none`` = one GPU).
MEASURED_SPLITS = ("none", "tensor", "layer", "row", "pipeline")


def measurements_dir() -> Path:
    """``data/measurements/``."""
    return paths.data_dir() / "measurements"


def read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A measurement CSV as strings; its header must be exactly ``columns``."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None
    if tuple(frame.columns) != columns:
        raise InputError(
            f"{path}: columns {list(frame.columns)} differ from the expected {list(columns)}"
        )
    return frame


def _number(where: str, col: str, text: str, kind=float, required: bool = True):
    """``text`` as a positive finite ``kind``; empty gives None unless ``required``."""
    if text == "":
        if required:
            raise InputError(f"{where}: {col} is empty")
        return None
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"{where}: {col}: not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{where}: {col}: must be positive (got {text})")
    return value


@memo.of_inputs(memo.copy_frame)
def load_kernel_measurements(folder: Path | None = None) -> pd.DataFrame:
    """Every row of ``data/measurements/kernels*.csv``, validated and typed, sorted by GPU,
    benchmark, precision and shape. A GEMM row needs M, N, K and TFLOP/s, a copy row GB/s; every
    row a source and a date; a GPU id must be in the catalog (or empty)."""
    import pandas as pd

    folder = Path(folder) if folder is not None else measurements_dir()
    rows = []
    for path in sorted(folder.glob("kernels*.csv")):
        frame = read_csv(path, KERNEL_COLUMNS)
        # Plain dicts, not iterrows: a Series per row costs more than the checks (same row numbers).
        for i, r in enumerate(frame.to_dict("records")):
            where = f"{path}: row {i + 2}"
            if r["benchmark"] not in BENCHMARKS:
                raise InputError(
                    f"{where}: benchmark: unknown '{r['benchmark']}'; allowed: {', '.join(BENCHMARKS)}"
                )
            if r["gpu_id"] and r["gpu_id"] not in catalog.gpu_ids():
                raise InputError(
                    f"{where}: gpu_id: unknown GPU '{r['gpu_id']}'; allowed: empty or {', '.join(catalog.gpu_ids())}"
                )
            for col in ("gpu_name", "source", "date"):
                if not r[col].strip():
                    raise InputError(f"{where}: {col} is empty")
            gemm_row = r["benchmark"] == "gemm"
            if gemm_row:
                gemm_precision(r["precision"], f"{where}: precision")
            rows.append(
                {
                    "file": path.name,
                    "gpu_id": r["gpu_id"],
                    "gpu_name": r["gpu_name"],
                    "benchmark": r["benchmark"],
                    "precision": r["precision"],
                    "m": _number(where, "m", r["m"], int, gemm_row),
                    "n": _number(where, "n", r["n"], int, gemm_row),
                    "k": _number(where, "k", r["k"], int, gemm_row),
                    "bytes_moved": _number(where, "bytes_moved", r["bytes_moved"], float, False),
                    "repeats": _number(where, "repeats", r["repeats"], int, False),
                    "median_ms": _number(where, "median_ms", r["median_ms"], float, False),
                    "tflops": _number(where, "tflops", r["tflops"], float, gemm_row),
                    "bandwidth_gb_s": _number(
                        where, "bandwidth_gb_s", r["bandwidth_gb_s"], float, not gemm_row
                    ),
                    **{c: r[c] for c in PROVENANCE_COLUMNS},
                }
            )
    frame = pd.DataFrame(rows, columns=["file", *KERNEL_COLUMNS])
    return frame.sort_values(
        ["gpu_id", "benchmark", "precision", "m", "n", "k", "source"], kind="stable"
    ).reset_index(drop=True)


def parse_count(where: str, col: str, text: str, minimum: int = 1) -> int:
    """An integer cell of a measurements CSV, at least ``minimum``; InputError naming the row and column."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{where}: {col}: not an integer: {text!r}") from None
    if value < minimum:
        raise InputError(f"{where}: {col}: must be at least {minimum} (got {value})")
    return value


def _inference_row(where: str, r: Mapping[str, str]) -> dict:
    """One validated, typed inference measurement (the checks in order: the first problem of the row
    is the one reported)."""
    catalog.get_gpu(r["gpu_id"], f"{where}: gpu_id")
    catalog.get_model(r["model"], f"{where}: model")
    engines.require_formats(
        r["engine"],
        r["weights"],
        r["kv_cache"],
        f"{where}: weights",
        f"{where}: kv_cache",
        f"{where}: engine",
    )
    for col in ("id", "date", "source", "url"):
        if not r[col].strip():
            raise InputError(f"{where}: {col} is empty")
    if r["verified"] not in ("true", "false"):
        raise InputError(f"{where}: verified must be true or false")
    if r["metric"] not in METRICS:
        raise InputError(f"{where}: metric: unknown '{r['metric']}'; allowed: {', '.join(METRICS)}")
    if r["split"] not in MEASURED_SPLITS:
        raise InputError(
            f"{where}: split: unknown '{r['split']}'; allowed: {', '.join(MEASURED_SPLITS)}"
        )
    row = dict(r)
    row["gpus"] = parse_count(where, "gpus", r["gpus"], 1)
    row["batch"] = parse_count(where, "batch", r["batch"], 1)
    need_in = 1 if r["metric"] in ("prefill", "generation") else 0
    need_out = 1 if r["metric"] in ("decode", "generation") else 0
    row["input_tokens"] = parse_count(where, "input_tokens", r["input_tokens"], need_in)
    row["output_tokens"] = parse_count(where, "output_tokens", r["output_tokens"], need_out)
    if (row["gpus"] == 1) != (r["split"] == "none"):
        raise InputError(f"{where}: split: 'none' exactly when gpus is 1 (gpus {row['gpus']})")
    row["measured_tokens_per_s"] = _number(
        where, "measured_tokens_per_s", r["measured_tokens_per_s"]
    )
    row["verified"] = r["verified"] == "true"
    return row


def _passes(check: Callable[..., object], *args: str) -> bool:
    """Whether ``check(*args)`` returns without an InputError."""
    try:
        check(*args)
    except InputError:
        return False
    return True


def _parsed(kind: type, texts: list[str]) -> list:
    """Each text as ``kind`` (``int`` or ``float``, Python's own parsing, as :func:`parse_count` and
    :func:`_number`), None where it is not one."""
    out = []
    for text in texts:
        try:
            out.append(kind(text))
        except ValueError:
            out.append(None)
    return out


def _inference_rows_ok(c: dict[str, list[str]], typed: dict[str, list]) -> list[bool]:
    """Per row of the columns ``c`` (texts) and their parsed numbers ``typed``: whether it passes every
    check of :func:`_inference_row`. The same checks, column by column, each catalog lookup once
    per distinct value; a row that fails goes through :func:`_inference_row` for its message."""
    gpus_ok = {g for g in set(c["gpu_id"]) if _passes(catalog.get_gpu, g)}
    models_ok = {m for m in set(c["model"]) if _passes(catalog.get_model, m)}
    formats = set(zip(c["engine"], c["weights"], c["kv_cache"], strict=True))
    formats_ok = {f for f in formats if _passes(engines.require_formats, *f)}
    out = []
    for i, metric in enumerate(c["metric"]):
        gpus, batch, n_in, n_out = (typed[k][i] for k in ("gpus", "batch", "in", "out"))
        value = typed["value"][i]
        out.append(
            c["gpu_id"][i] in gpus_ok
            and c["model"][i] in models_ok
            and (c["engine"][i], c["weights"][i], c["kv_cache"][i]) in formats_ok
            and all(c[col][i].strip() for col in ("id", "date", "source", "url"))
            and c["verified"][i] in ("true", "false")
            and metric in METRICS
            and c["split"][i] in MEASURED_SPLITS
            and gpus is not None
            and gpus >= 1
            and batch is not None
            and batch >= 1
            and n_in is not None
            and n_in >= (1 if metric in ("prefill", "generation") else 0)
            and n_out is not None
            and n_out >= (1 if metric in ("decode", "generation") else 0)
            and (gpus == 1) == (c["split"][i] == "none")
            and value is not None
            and math.isfinite(value)
            and value > 0
        )
    return out


def _inference_file(path: Path) -> dict[str, list]:
    """The validated, typed columns of one ``inference_*.csv`` (``file`` first); the first bad row
    raises :func:`_inference_row`'s InputError naming the file, the row and the column."""
    frame = read_csv(path, INFERENCE_COLUMNS)
    c = {col: frame[col].tolist() for col in INFERENCE_COLUMNS}
    typed = {
        "gpus": _parsed(int, c["gpus"]),
        "batch": _parsed(int, c["batch"]),
        "in": _parsed(int, c["input_tokens"]),
        "out": _parsed(int, c["output_tokens"]),
        # "" is not a float: an empty cell fails the check, and _number reports it as empty.
        "value": _parsed(float, c["measured_tokens_per_s"]),
    }
    for i, ok in enumerate(_inference_rows_ok(c, typed)):
        if not ok:  # raises with the row's first problem
            _inference_row(f"{path}: row {i + 2}", {col: c[col][i] for col in INFERENCE_COLUMNS})
    return {
        "file": [path.name] * len(frame),
        **c,
        "gpus": typed["gpus"],
        "batch": typed["batch"],
        "input_tokens": typed["in"],
        "output_tokens": typed["out"],
        "measured_tokens_per_s": typed["value"],
        "verified": [v == "true" for v in c["verified"]],
    }


@memo.of_inputs(memo.copy_frame)
def load_inference(folder: Path | None = None) -> pd.DataFrame:
    """Every row of ``data/measurements/inference_*.csv``, validated and typed, with a ``file``
    column; sorted by id. Ids are unique across the files; a GPU, model, engine or format must be in
    the catalogs, and the engine must run the row's formats (``data/engines.yaml``)."""
    import pandas as pd

    folder = Path(folder) if folder is not None else measurements_dir()
    columns = ["file", *INFERENCE_COLUMNS]
    data: dict[str, list] = {col: [] for col in columns}
    for path in sorted(folder.glob("inference_*.csv")):
        for col, values in _inference_file(path).items():
            data[col] += values
    dupes = sorted(i for i, n in Counter(data["id"]).items() if n > 1)
    if dupes:
        raise InputError(f"{folder}/inference_*.csv: duplicate ids: {', '.join(dupes)}")
    frame = pd.DataFrame(data, columns=columns) if data["id"] else pd.DataFrame(columns=columns)
    return frame.sort_values("id").reset_index(drop=True)


@memo.of_inputs(memo.copy_dict)
def load_exclusions(
    folder: Path | None = None, known_ids: Iterable[str] | None = None
) -> dict[str, str]:
    """``data/measurements/excluded.yaml``: measurement id -> why the calibration leaves it out.
    Every id must be a measurement of ``inference_*.csv`` and appear once. ``known_ids``: the ids
    of :func:`load_inference` of the same folder, for a caller that has loaded them already (else
    they are loaded here; a tuple, so that the arguments stay hashable for a memo)."""
    folder = Path(folder) if folder is not None else measurements_dir()
    path = folder / "excluded.yaml"
    if not path.exists():
        return {}
    raw = paths.load_yaml(path)
    if (
        not isinstance(raw, dict)
        or raw.get("schema_version") != 1
        or not isinstance(raw.get("excluded"), list)
    ):
        raise InputError(f"{path}: expected schema_version: 1 and a list 'excluded'")
    known = set(load_inference(folder)["id"] if known_ids is None else known_ids)
    out: dict[str, str] = {}
    for i, entry in enumerate(raw["excluded"]):
        where = f"{path}: excluded[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"reason", "ids"}:
            raise InputError(f"{where}: needs exactly the keys 'reason' and 'ids'")
        if not isinstance(entry["reason"], str) or not entry["reason"].strip():
            raise InputError(f"{where}: reason is empty")
        ids = entry["ids"]
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise InputError(f"{where}: ids must be a list of measurement ids")
        for mid in ids:
            if mid not in known:
                raise InputError(f"{where}: ids: unknown measurement id '{mid}'")
            if mid in out:
                raise InputError(f"{where}: ids: '{mid}' is listed twice")
            out[mid] = entry["reason"].strip()
    return out


def article_shapes() -> list[tuple[int, int, int]]:
    """The (M, N, K) shapes of the article's GEMM table, in its order."""
    out: list[tuple[int, int, int]] = []
    for c in claims.claims(kind="gemm"):
        s = (int(c.check["m"]), int(c.check["n"]), int(c.check["k"]))
        if s not in out:
            out.append(s)
    return out
