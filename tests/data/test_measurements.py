"""``data/measurements/``: the committed kernel measurements and published decode throughputs,
their loaders' handling of bad files, and the article's GEMM shapes."""

from __future__ import annotations

import pytest

from gpucompare.core.errors import InputError
from gpucompare.data import claims, measurements


def test_article_shapes_are_the_articles():
    assert measurements.article_shapes() == [
        (4096, 4096, 4096),
        (8192, 8192, 8192),
        (1, 4096, 4096),
        (32, 4096, 4096),
        (512, 4096, 4096),
        (1, 14336, 4096),
    ]
    assert len(claims.claims(kind="gemm")) == 12


def test_committed_measurements_hold_the_issue_figures():
    t = measurements.load_kernel_measurements()
    h100 = t[(t["gpu_id"] == "h100-sxm") & (t["source"] == "gpucompare project measurement")]
    assert h100[h100["benchmark"] == "gemm"]["tflops"].tolist() == [798.0]
    assert h100[h100["benchmark"] == "copy"]["bandwidth_gb_s"].tolist() == [3000.0]
    assert (t["source"] != "").all() and (t["date"] != "").all()


def test_bad_measurement_files(tmp_path):
    header = ",".join(measurements.KERNEL_COLUMNS)
    f = tmp_path / "kernels_bad.csv"
    f.write_text("gpu,tflops\nh100,1\n")
    with pytest.raises(InputError, match="columns"):
        measurements.load_kernel_measurements(tmp_path)
    f.write_text(header + "\nh1000,X,gemm,fp16,1,1,1,,,,1,,,,,2026,src,,\n")
    with pytest.raises(InputError, match="gpu_id: unknown GPU 'h1000'"):
        measurements.load_kernel_measurements(tmp_path)
    f.write_text(header + "\nh100-sxm,X,gemm,fp16,1,1,1,,,,,,,,,2026,src,,\n")
    with pytest.raises(InputError, match="tflops is empty"):
        measurements.load_kernel_measurements(tmp_path)
    f.write_text(header + "\nh100-sxm,X,gemm,fp12,1,1,1,,,,5,,,,,2026,src,,\n")
    with pytest.raises(InputError, match="precision"):
        measurements.load_kernel_measurements(tmp_path)


def test_inference_measurements_bad_rows(tmp_path):
    header = ",".join(measurements.INFERENCE_COLUMNS)
    row = (
        "x,vllm,0.6,h100-sxm,1,none,llama-9b,fp16,fp16,1,128,128,generation,100,2024,src,"
        "https://x,true,"
    )
    (tmp_path / "inference_a.csv").write_text(header + "\n" + row + "\n")
    with pytest.raises(InputError, match="model: unknown model 'llama-9b'"):
        measurements.load_inference(tmp_path)
    (tmp_path / "inference_a.csv").write_text("id,gpu\nx,h100-sxm\n")
    with pytest.raises(InputError, match="columns"):
        measurements.load_inference(tmp_path)
