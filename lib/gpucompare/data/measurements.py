"""Measurements in ``data/measurements/``: the kernel-measurement CSVs (``kernels*.csv``, written by
``gpucompare measure``) and the published decode throughputs (``decode_public.csv``): their columns
and validated, typed loaders; and the GEMM shapes of the article's table (``data/claims/gemm.yaml``),
the shapes worth measuring."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.core.guards import require_positive_int
from gpucompare.data import catalog, claims
from gpucompare.data.gemm_precisions import gemm_precision

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
#: Columns of ``data/measurements/decode_public.csv``, in order.
DECODE_COLUMNS: tuple[str, ...] = (
    "id",
    "gpu_id",
    "model",
    "weights",
    "kv_cache",
    "batch",
    "input_tokens",
    "output_tokens",
    "includes_prefill",  # true: output tokens / (prefill + decode time); false: decode steps only
    "measured_tokens_per_s",  # all sequences together
    "engine",
    "software",
    "date",
    "source",
    "url",
    "verified",
    "note",
)


def measurements_dir() -> Path:
    """``data/measurements/``."""
    return paths.data_dir() / "measurements"


def read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A measurement CSV as strings; its header must be exactly ``columns``."""
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


def _number(path: Path, row: int, col: str, text: str, kind=float, required: bool = True):
    if text == "":
        if required:
            raise InputError(f"{path}: row {row + 2}: {col} is empty")
        return None
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"{path}: row {row + 2}: {col}: not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{path}: row {row + 2}: {col}: must be positive (got {text})")
    return value


def load_kernel_measurements(folder: Path | None = None) -> pd.DataFrame:
    """Every row of ``data/measurements/kernels*.csv``, validated and typed, sorted by GPU,
    benchmark, precision and shape. A GEMM row needs M, N, K and TFLOP/s, a copy row GB/s; every
    row a source and a date; a GPU id must be in the catalog (or empty)."""
    folder = Path(folder) if folder is not None else measurements_dir()
    rows = []
    for path in sorted(folder.glob("kernels*.csv")):
        frame = read_csv(path, KERNEL_COLUMNS)
        for i, r in frame.iterrows():
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
                    "m": _number(path, i, "m", r["m"], int, gemm_row),
                    "n": _number(path, i, "n", r["n"], int, gemm_row),
                    "k": _number(path, i, "k", r["k"], int, gemm_row),
                    "bytes_moved": _number(path, i, "bytes_moved", r["bytes_moved"], float, False),
                    "repeats": _number(path, i, "repeats", r["repeats"], int, False),
                    "median_ms": _number(path, i, "median_ms", r["median_ms"], float, False),
                    "tflops": _number(path, i, "tflops", r["tflops"], float, gemm_row),
                    "bandwidth_gb_s": _number(
                        path, i, "bandwidth_gb_s", r["bandwidth_gb_s"], float, not gemm_row
                    ),
                    **{c: r[c] for c in PROVENANCE_COLUMNS},
                }
            )
    frame = pd.DataFrame(rows, columns=["file", *KERNEL_COLUMNS])
    return frame.sort_values(
        ["gpu_id", "benchmark", "precision", "m", "n", "k", "source"], kind="stable"
    ).reset_index(drop=True)


def load_public_decode(path: Path | None = None) -> pd.DataFrame:
    """``data/measurements/decode_public.csv``, validated and typed (sorted by id)."""
    path = Path(path) if path is not None else measurements_dir() / "decode_public.csv"
    frame = read_csv(path, DECODE_COLUMNS)
    rows = []
    for i, r in frame.iterrows():
        where = f"{path}: row {i + 2}"
        catalog.get_gpu(r["gpu_id"], f"{where}: gpu_id")
        catalog.get_model(r["model"], f"{where}: model")
        catalog.weight_format(r["weights"], f"{where}: weights")
        catalog.kv_format(r["kv_cache"], f"{where}: kv_cache")
        if r["includes_prefill"] not in ("true", "false") or r["verified"] not in ("true", "false"):
            raise InputError(f"{where}: includes_prefill and verified must be true or false")
        for col in ("id", "engine", "date", "source", "url"):
            if not r[col].strip():
                raise InputError(f"{where}: {col} is empty")
        row = dict(r)
        for col in ("batch", "input_tokens", "output_tokens"):
            try:
                row[col] = require_positive_int(f"{where}: {col}", int(r[col]))
            except ValueError:
                raise InputError(f"{where}: {col}: not an integer: {r[col]!r}") from None
        try:
            row["measured_tokens_per_s"] = float(r["measured_tokens_per_s"])
        except ValueError:
            raise InputError(f"{where}: measured_tokens_per_s: not a number") from None
        if not (math.isfinite(row["measured_tokens_per_s"]) and row["measured_tokens_per_s"] > 0):
            raise InputError(f"{where}: measured_tokens_per_s: must be positive")
        row["includes_prefill"] = r["includes_prefill"] == "true"
        row["verified"] = r["verified"] == "true"
        rows.append(row)
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate ids")
    return pd.DataFrame(rows, columns=list(DECODE_COLUMNS)).sort_values("id").reset_index(drop=True)


def article_shapes() -> list[tuple[int, int, int]]:
    """The (M, N, K) shapes of the article's GEMM table, in its order."""
    out: list[tuple[int, int, int]] = []
    for c in claims.claims(kind="gemm"):
        s = (int(c.check["m"]), int(c.check["n"]), int(c.check["k"]))
        if s not in out:
            out.append(s)
    return out
