"""``gpucompare measure``: time GEMMs and device-to-device copies on the local GPU with PyTorch and
write them in the CSV format of ``data/measurements/kernels*.csv`` that the report reads (columns and
loader: :mod:`gpucompare.data.measurements`).

Method (per benchmark): random inputs (not zeros: tensor cores draw less power on constant data, so
the clock and the result would be too high), ``warmup`` untimed runs, then ``repeats`` runs each
between two CUDA events; the reported time is the median of the repeats.

* GEMM ``C[M,N] = A[M,K] @ B[K,N]``: TFLOP/s = 2 x M x N x K / median time / 1e12. Operands whose
  set fits in the L2 cache rotate through enough copies (2 x L2 size in all) that each timed run
  reads them from DRAM, as a layer of a model does.
* Copy ``dst.copy_(src)`` of ``n`` bytes: bandwidth (GB/s) = bytes read + bytes written
  (2 x n) / median time / 1e9.

PyTorch is an optional extra (``pip install -e '.[measure]'``); nothing else in the project needs
it. Exit codes: 0 measurements written; 1 this machine cannot measure (PyTorch missing, or no CUDA
device), with a message saying which; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path

from gpucompare.core import units
from gpucompare.core.errors import GpucompareError, InputError
from gpucompare.core.guards import positive_int, require_positive
from gpucompare.data.measurements import KERNEL_COLUMNS, article_shapes
from gpucompare.model import gemm

#: Precisions ``gpucompare measure`` times: torch dtype name and whether TF32 is allowed.
MEASURE_PRECISIONS: dict[str, tuple[str, bool]] = {
    "bf16": ("bfloat16", False),
    "fp16": ("float16", False),
    "fp32": ("float32", False),
    "tf32": ("float32", True),
}
#: Square sizes (M = N = K) of the sweep.
SQUARE_SIZES: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384)
#: Copy sizes (bytes per buffer) of the bandwidth benchmark.
COPY_SIZES_BYTES: tuple[int, ...] = (256 * units.BYTES_PER_MIB, 1024 * units.BYTES_PER_MIB)
#: What the measure command writes in the ``source`` column.
SOURCE_LOCAL = "gpucompare measure"
#: The (name substrings that must all appear, substrings that must not) -> catalog id rules.
_GPU_NAME_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("h100", "pcie"), (), "h100-pcie"),
    (("h100",), ("pcie", "nvl"), "h100-sxm"),
    (("h200",), ("nvl",), "h200-sxm"),
    (("a100", "80gb"), ("pcie",), "a100-sxm-80gb"),
    (("l40s",), (), "l40s"),
    (("rtx 4090",), ("laptop", "mobile"), "rtx-4090"),
    (("rtx 3090",), ("ti",), "rtx-3090"),
    (("rtx 5090",), ("laptop", "mobile"), "rtx-5090"),
)


class MeasureUnavailable(GpucompareError):
    """This machine cannot run the measurements (no PyTorch, or no CUDA device): exit code 1."""

    exit_code = 1


# --- Timing arithmetic (pure, tested without a GPU) --------------------------------------------


def tflops_from_seconds(m: int, n: int, k: int, seconds: float) -> float:
    """TFLOP/s of an (M, N, K) GEMM that took ``seconds``: 2 x M x N x K / seconds / 1e12."""
    for name, v in (("m", m), ("n", n), ("k", k), ("seconds", seconds)):
        require_positive(name, v)
    return gemm.flops(m, n, k) / seconds / units.FLOPS_PER_TFLOPS


def copy_bytes_moved(buffer_bytes: int) -> int:
    """Bytes a device-to-device copy of ``buffer_bytes`` moves: each byte read once and written once."""
    require_positive("buffer_bytes", buffer_bytes)
    return 2 * buffer_bytes


def bandwidth_gb_s(bytes_moved: float, seconds: float) -> float:
    """Bandwidth in GB/s (1e9 B/s) = bytes / seconds / 1e9."""
    require_positive("bytes_moved", bytes_moved)
    require_positive("seconds", seconds)
    return bytes_moved / seconds / units.BYTES_PER_GB


def median_ms(times_ms: list[float]) -> float:
    """The median of repeated timings (ms): robust to the occasional slow run."""
    if not times_ms:
        raise InputError("times_ms: no timings to take the median of")
    return float(statistics.median(times_ms))


def rotation_sets(set_bytes: int, l2_bytes: int, cap: int = 64) -> int:
    """How many copies of an operand set to rotate through so that together they exceed twice the
    L2 cache: ceil(2 x L2 / set size), at least 1, at most ``cap``."""
    require_positive("set_bytes", set_bytes)
    return max(1, min(cap, math.ceil(2 * max(l2_bytes, 0) / set_bytes)))


def catalog_gpu_id(name: str) -> str:
    """The catalog id of a GPU from the name the driver reports ("NVIDIA H100 80GB HBM3" ->
    "h100-sxm"); "" when no catalog GPU matches."""
    low = name.lower()
    for need, avoid, gpu_id in _GPU_NAME_RULES:
        if all(s in low for s in need) and not any(s in low for s in avoid):
            return gpu_id
    return ""


# --- Timing with CUDA events (``torch`` is passed in, so tests can pass a fake) ----------------


def time_cuda_ms(torch, fn: Callable[[int], object], warmup: int, repeats: int) -> list[float]:
    """Run ``fn(i)`` ``warmup`` times untimed, then ``repeats`` times each between two CUDA events;
    the elapsed GPU times in ms, in run order."""
    if warmup < 0 or repeats < 1:
        raise InputError(f"warmup >= 0 and repeats >= 1 required (got {warmup}, {repeats})")
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    pairs = []
    for i in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn(warmup + i)
        end.record()
        pairs.append((start, end))
    torch.cuda.synchronize()
    return [float(s.elapsed_time(e)) for s, e in pairs]


def measure_gemm(
    torch,
    m: int,
    n: int,
    k: int,
    precision: str,
    warmup: int,
    repeats: int,
    seed: int = 0,
    l2_bytes: int = 0,
) -> dict:
    """Time ``torch.mm`` of random (M, K) x (K, N) matrices at ``precision``; a kernel-measurement row
    (without the environment columns)."""
    if precision not in MEASURE_PRECISIONS:
        raise InputError(
            f"precision: unknown '{precision}'; allowed: {', '.join(sorted(MEASURE_PRECISIONS))}"
        )
    dtype_name, tf32 = MEASURE_PRECISIONS[precision]
    dtype = getattr(torch, dtype_name)
    fmt = gemm.gemm_precision(precision)
    sets = rotation_sets((m * k + k * n) * fmt.input_bytes, l2_bytes)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed)
    a = [torch.randn(m, k, device="cuda", dtype=dtype, generator=gen) for _ in range(sets)]
    b = [torch.randn(k, n, device="cuda", dtype=dtype, generator=gen) for _ in range(sets)]
    c = torch.empty(m, n, device="cuda", dtype=dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        times = time_cuda_ms(
            torch, lambda i: torch.mm(a[i % sets], b[i % sets], out=c), warmup, repeats
        )
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    med = median_ms(times)
    return {
        "benchmark": "gemm",
        "precision": precision,
        "m": m,
        "n": n,
        "k": k,
        "bytes_moved": gemm.bytes_moved(m, n, k, precision),
        "repeats": repeats,
        "median_ms": med,
        "tflops": tflops_from_seconds(m, n, k, med / 1e3),
        "bandwidth_gb_s": None,
        "note": f"torch.mm, random normal inputs, {sets} rotating operand set(s), median of {repeats}",
    }


def measure_copy(torch, buffer_bytes: int, warmup: int, repeats: int, seed: int = 0) -> dict:
    """Time ``dst.copy_(src)`` of ``buffer_bytes`` random bytes; a kernel-measurement row (bandwidth
    counts bytes read plus bytes written)."""
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed)
    src = torch.randint(0, 256, (buffer_bytes,), device="cuda", dtype=torch.uint8, generator=gen)
    dst = torch.empty_like(src)
    times = time_cuda_ms(torch, lambda i: dst.copy_(src), warmup, repeats)
    med = median_ms(times)
    moved = copy_bytes_moved(buffer_bytes)
    return {
        "benchmark": "copy",
        "precision": "",
        "m": None,
        "n": None,
        "k": None,
        "bytes_moved": moved,
        "repeats": repeats,
        "median_ms": med,
        "tflops": None,
        "bandwidth_gb_s": bandwidth_gb_s(moved, med / 1e3),
        "note": f"Tensor.copy_ of {buffer_bytes} random bytes, read + written, median of {repeats}",
    }


def _driver_version() -> str:
    """The NVIDIA driver version from ``nvidia-smi`` ("" if it cannot be read)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


def environment(torch, today: datetime.date | None = None) -> dict:
    """The environment columns of every row: GPU, library and driver versions, date."""
    name = str(torch.cuda.get_device_name(0))
    return {
        "gpu_id": catalog_gpu_id(name),
        "gpu_name": name,
        "torch_version": str(torch.__version__),
        "cuda_version": str(torch.version.cuda or ""),
        "driver_version": _driver_version(),
        "date": (today or datetime.date.today()).isoformat(),
        "source": SOURCE_LOCAL,
        "url": "",
    }


def default_shapes(quick: bool = False) -> list[tuple[int, int, int]]:
    """The article's GEMM shapes (from ``data/claims/gemm.yaml``) plus the square sweep."""
    squares = (1024, 4096, 8192) if quick else SQUARE_SIZES
    return sorted(set(article_shapes()) | {(s, s, s) for s in squares})


def run(
    torch,
    shapes: list[tuple[int, int, int]],
    precisions: list[str],
    copy_sizes: list[int],
    warmup: int,
    repeats: int,
    seed: int = 0,
    today: datetime.date | None = None,
) -> list[dict]:
    """Every GEMM (shape x precision) and copy measurement as kernel-measurement rows."""
    env = environment(torch, today)
    props = torch.cuda.get_device_properties(0)
    l2 = int(getattr(props, "L2_cache_size", 0) or 0)
    rows = []
    for precision in precisions:
        for m, n, k in shapes:
            rows.append(
                {**env, **measure_gemm(torch, m, n, k, precision, warmup, repeats, seed, l2)}
            )
    for size in copy_sizes:
        rows.append({**env, **measure_copy(torch, size, warmup, repeats, seed)})
    return [{col: row.get(col) for col in KERNEL_COLUMNS} for row in rows]


def write_csv(rows: list[dict], path: Path) -> Path:
    """Write kernel-measurement rows with exactly :data:`KERNEL_COLUMNS` (floats to 6 significant digits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.6g}"
        return v

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(KERNEL_COLUMNS)
        for row in rows:
            w.writerow([cell(row.get(c)) for c in KERNEL_COLUMNS])
    return path


# --- Command line --------------------------------------------------------------------------------


def load_torch():
    """``import torch`` with a CUDA device, or :class:`MeasureUnavailable` saying what is missing."""
    try:
        import torch  # optional extra, heavy: imported only when measuring
    except ImportError:
        raise MeasureUnavailable(
            "measure: PyTorch is not installed; install the optional extra with "
            "`pip install -e '.[measure]'` on a machine with an NVIDIA GPU"
        ) from None
    if not torch.cuda.is_available():
        raise MeasureUnavailable(
            f"measure: PyTorch {torch.__version__} sees no CUDA device "
            f"(built for CUDA {torch.version.cuda or 'none'}); run this on a machine with an NVIDIA GPU"
        )
    return torch


def _cmd_measure(args: argparse.Namespace) -> int:
    torch = load_torch()
    shapes = default_shapes(args.quick)
    rows = run(
        torch,
        shapes,
        list(MEASURE_PRECISIONS),
        list(COPY_SIZES_BYTES),
        args.warmup,
        args.repeats,
        args.seed,
    )
    out = Path(args.out) if args.out else Path(f"kernels_{rows[0]['gpu_id'] or 'gpu'}.csv")
    write_csv(rows, out)
    best = max((r for r in rows if r["benchmark"] == "gemm"), key=lambda r: r["tflops"])
    copy = max((r for r in rows if r["benchmark"] == "copy"), key=lambda r: r["bandwidth_gb_s"])
    print(
        f"{len(rows)} measurements on {rows[0]['gpu_name']} written to {out}; best GEMM "
        f"{best['tflops']:.0f} TFLOP/s ({best['precision']} {best['m']}x{best['n']}x{best['k']}), "
        f"copy {copy['bandwidth_gb_s']:.0f} GB/s (read + written)"
    )
    return 0


def add_cli(subparsers) -> None:
    """Add ``gpucompare measure``."""
    m = subparsers.add_parser(
        "measure",
        help="time GEMMs and copies on this machine's GPU with PyTorch (optional extra 'measure')",
        description="Exit codes: 0 written; 1 no PyTorch or no CUDA device here; 2 bad arguments.",
    )
    m.add_argument(
        "--out",
        metavar="FILE",
        help="CSV to write (default: kernels_<gpu id>.csv); copy it to data/measurements/ to use it",
    )
    m.add_argument(
        "--repeats", type=positive_int, default=20, help="timed runs per benchmark (median)"
    )
    m.add_argument("--warmup", type=positive_int, default=5, help="untimed runs first")
    m.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    m.add_argument(
        "--quick",
        action="store_true",
        help="square sizes 1024, 4096, 8192 only (plus the article's)",
    )
    m.set_defaults(func=_cmd_measure)
