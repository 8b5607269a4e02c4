"""``gpucompare measure``: the timing arithmetic with a fake timer and a fake torch (PyTorch is never
needed by the tests), the CSV round trip and the exit codes."""

from __future__ import annotations

import datetime
import sys
import types

import pytest

from gpucompare import cli, measure
from gpucompare.core.errors import InputError
from gpucompare.data import measurements

GIB = 2**30


def test_timing_arithmetic_by_hand():
    # 2 x 4096^3 FLOPs in 1 ms = 137.438953472 TFLOP/s.
    assert measure.tflops_from_seconds(4096, 4096, 4096, 1e-3) == pytest.approx(137.438953472)
    # A copy of 1 GiB reads 1 GiB and writes 1 GiB.
    assert measure.copy_bytes_moved(GIB) == 2 * GIB
    assert measure.bandwidth_gb_s(2e9, 1e-3) == pytest.approx(2000.0)
    assert measure.median_ms([5.0, 1.0, 3.0]) == 3.0
    assert measure.median_ms([1.0, 2.0, 3.0, 10.0]) == 2.5
    # 33.5 MB operand sets against a 50 MB L2: ceil(100 / 33.5) = 3 copies; a 1 GB set: 1.
    assert measure.rotation_sets(33_500_000, 50_000_000) == 3
    assert measure.rotation_sets(10**9, 50_000_000) == 1


def test_bad_timing_input():
    with pytest.raises(InputError, match="no timings"):
        measure.median_ms([])
    with pytest.raises(InputError, match="seconds"):
        measure.tflops_from_seconds(1, 1, 1, 0.0)
    with pytest.raises(InputError, match="buffer_bytes"):
        measure.copy_bytes_moved(0)


@pytest.mark.parametrize(
    ("name", "gpu_id"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200-sxm"),
        ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA GeForce RTX 3090 Ti", ""),
        ("Tesla T4", ""),
    ],
)
def test_catalog_gpu_id(name, gpu_id):
    assert measure.catalog_gpu_id(name) == gpu_id


# --- A fake torch: a clock that only kernels advance, and events that read it -------------------


class _Clock:
    def __init__(self):
        self.ms = 0.0


class _Event:
    def __init__(self, clock, enable_timing=False):
        assert enable_timing
        self.clock, self.t = clock, None

    def record(self):
        self.t = self.clock.ms

    def elapsed_time(self, other):
        return other.t - self.t


class _Tensor:
    def __init__(self, shape, dtype, random):
        self.shape, self.dtype, self.random = shape, dtype, random


def fake_torch(mm_ms: float = 2.0, copy_ms: float = 1.0, cuda: bool = True):
    clock = _Clock()
    t = types.SimpleNamespace()
    t.__version__ = "9.9-fake"
    t.version = types.SimpleNamespace(cuda="12.9")
    t.bfloat16, t.float16, t.float32, t.uint8 = "bf16", "f16", "f32", "u8"
    t.calls = []
    t.tf32_during_mm = []
    t.backends = types.SimpleNamespace(
        cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False))
    )

    class Generator:
        def __init__(self, device):
            self.seed = None

        def manual_seed(self, s):
            self.seed = s

    t.Generator = Generator

    def randn(*shape, device, dtype, generator):
        t.calls.append(("randn", shape))
        return _Tensor(shape, dtype, True)

    def randint(low, high, shape, device, dtype, generator):
        t.calls.append(("randint", shape))
        return _Tensor(shape, dtype, True)

    def empty(*shape, device, dtype):
        return _Tensor(shape, dtype, False)

    def empty_like(x):
        out = _Tensor(x.shape, x.dtype, False)

        def copy_(src):
            assert src.random
            clock.ms += copy_ms

        out.copy_ = copy_
        return out

    def mm(a, b, out):
        assert a.random and b.random
        t.tf32_during_mm.append(t.backends.cuda.matmul.allow_tf32)
        clock.ms += mm_ms

    t.randn, t.randint, t.empty, t.empty_like, t.mm = randn, randint, empty, empty_like, mm
    t.cuda = types.SimpleNamespace(
        is_available=lambda: cuda,
        synchronize=lambda: None,
        Event=lambda enable_timing=False: _Event(clock, enable_timing),
        get_device_name=lambda i: "NVIDIA H100 80GB HBM3",
        get_device_properties=lambda i: types.SimpleNamespace(L2_cache_size=50 * 2**20),
    )
    t.clock = clock
    return t


def test_time_cuda_ms_excludes_warmup_and_keeps_run_order():
    torch = fake_torch()
    durations = [100.0, 100.0, 3.0, 1.0, 2.0]  # two warm-up runs, then three timed runs

    def fn(i):
        torch.clock.ms += durations[i]

    assert measure.time_cuda_ms(torch, fn, warmup=2, repeats=3) == [3.0, 1.0, 2.0]
    with pytest.raises(InputError):
        measure.time_cuda_ms(torch, fn, warmup=0, repeats=0)


def test_measure_gemm_with_fake_torch():
    torch = fake_torch(mm_ms=2.0)
    row = measure.measure_gemm(torch, 4096, 4096, 4096, "tf32", warmup=2, repeats=5)
    assert row["median_ms"] == 2.0
    assert row["tflops"] == pytest.approx(2 * 4096**3 / 2e-3 / 1e12)
    assert row["bytes_moved"] == 3 * 4096**2 * 4
    assert torch.tf32_during_mm == [True] * 7  # TF32 on for every run ...
    assert torch.backends.cuda.matmul.allow_tf32 is False  # ... and restored afterwards
    assert all(c[0] == "randn" for c in torch.calls)  # random inputs, never zeros


def test_measure_gemm_rotates_small_operands_past_l2():
    torch = fake_torch()
    measure.measure_gemm(torch, 1, 4096, 4096, "fp16", 1, 3, l2_bytes=50 * 2**20)
    # (4,096 + 16,777,216) x 2 B = 33.6 MB per set; 2 x 50 MiB / 33.6 MB -> 4 sets of A and of B.
    assert len(torch.calls) == 2 * 4


def test_measure_copy_counts_read_plus_written():
    torch = fake_torch(copy_ms=1.0)
    row = measure.measure_copy(torch, GIB, warmup=1, repeats=3)
    assert row["bytes_moved"] == 2 * GIB
    assert row["bandwidth_gb_s"] == pytest.approx(2 * GIB / 1e-3 / 1e9)
    assert torch.calls == [("randint", (GIB,))]


def test_run_write_and_read_back(tmp_path):
    torch = fake_torch(mm_ms=1.0, copy_ms=0.5)
    rows = measure.run(
        torch, [(1024, 1024, 1024)], ["bf16"], [GIB], 1, 3, today=datetime.date(2026, 12, 1)
    )
    assert [r["benchmark"] for r in rows] == ["gemm", "copy"]
    assert rows[0]["gpu_id"] == "h100-sxm" and rows[0]["date"] == "2026-12-01"
    path = measure.write_csv(rows, tmp_path / "kernels_test.csv")
    assert path.read_text().splitlines()[0] == ",".join(measurements.KERNEL_COLUMNS)
    back = measurements.load_kernel_measurements(tmp_path)
    assert len(back) == 2
    g = back[back["benchmark"] == "gemm"].iloc[0]
    assert g["tflops"] == pytest.approx(2 * 1024**3 / 1e-3 / 1e12, rel=1e-5)
    c = back[back["benchmark"] == "copy"].iloc[0]
    assert c["bandwidth_gb_s"] == pytest.approx(2 * GIB / 0.5e-3 / 1e9, rel=1e-5)


def test_without_torch_exit_code_1(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(measure.MeasureUnavailable, match="PyTorch is not installed"):
        measure.load_torch()
    assert cli.main(["measure", "--out", "unused.csv"]) == 1
    assert "pip install -e '.[measure]'" in capsys.readouterr().err


def test_without_gpu_exit_code_1(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=False))
    assert cli.main(["measure"]) == 1
    assert "sees no CUDA device" in capsys.readouterr().err


def test_bad_arguments_exit_code_2():
    with pytest.raises(SystemExit) as exc:
        cli.main(["measure", "--repeats", "0"])
    assert exc.value.code == 2


def test_measure_cli_with_fake_gpu(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(mm_ms=1.0, copy_ms=1.0))
    monkeypatch.setattr(measure, "_driver_version", lambda: "999.1")
    out = tmp_path / "kernels_fake.csv"
    assert (
        cli.main(["measure", "--quick", "--repeats", "2", "--warmup", "1", "--out", str(out)]) == 0
    )
    back = measurements.load_kernel_measurements(tmp_path)
    # 4 precisions x (6 article shapes + 3 squares, 4096^3 and 8192^3 among both) + 2 copies.
    assert len(back) == 4 * 7 + 2
    assert set(back["driver_version"]) == {"999.1"}
    assert "written to" in capsys.readouterr().out
