"""Interconnect section (notebooks/04_interconnect.ipynb): its tables, figures and captions build, the
article's TP table reproduces its arithmetic, and bad parameters are refused."""

from __future__ import annotations

import math

import pytest

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.sections import interconnect, tensor_parallel

P = params.validate(params.defaults_dict())


def test_tables_refuse_a_tp_degree_beyond_a_node():
    # A parameter asking for 16-GPU groups fails every table with the key and the allowed degrees.
    p16 = params.validate({**params.defaults_dict(), "tp_degrees": [2, 16]})
    with pytest.raises(
        InputError, match=r"tp_degrees: tensor-parallel degree 16 .*allowed: 1, 2, 3"
    ):
        tensor_parallel.tp_efficiency(p16)
    with pytest.raises(InputError, match=r"tp_degrees: tensor-parallel degree 16"):
        interconnect.gpu_tp_links(p16)


def test_bad_parameters_are_refused_before_any_notebook_runs():
    with pytest.raises(
        InputError, match=r"tp_gpus.*unknown GPU 'rtx4090'.*did you mean 'rtx-4090'"
    ):
        params.notebook_params(tp_gpus=["rtx4090"])
    with pytest.raises(InputError, match=r"tp_model.*unknown model 'llama-70b'"):
        params.notebook_params(tp_model="llama-70b")
    with pytest.raises(InputError, match=r"allreduce_latency_us"):
        params.notebook_params(allreduce_latency_us=-1.0)


def test_article_tp_table_reproduces_its_arithmetic():
    t = tensor_parallel.article_tp_table(P).frame
    assert list(t.index) == [
        "2x H100 NVLink",
        "2x A100 NVLink",
        "2x RTX 4090 PCIe",
        "2x RTX 3090 NVLink",
    ]
    # Its formula with its inputs gives its printed efficiencies within a point.
    assert (t["its formula, its inputs (%)"] - t["article efficiency (%)"]).abs().max() < 1
    # The A100's 128 MiB all-reduce on 300 GB/s: 6.6 + 2 + 134,217,728 / 300,000 us = 0.456 ms.
    assert t.loc["2x A100 NVLink", "comm, ring on catalog link (ms)"] == pytest.approx(
        (8.6 + 134_217_728 / 300_000) / 1e3
    )


def test_tables_and_captions_build():
    for frame in (
        interconnect.interconnect_links().frame,
        interconnect.gpu_tp_links(P).frame,
        interconnect.p2p_measurements().frame,
        interconnect.nvlink_pcie_ratio().frame,
        interconnect.allreduce_times(P).frame,
        tensor_parallel.tp_efficiency(P).frame,
        tensor_parallel.rtx4090_cluster(P).frame,
        interconnect.interconnect_sources().frame,
    ):
        assert len(frame) > 0
    t = tensor_parallel.rtx4090_cluster(P).frame
    assert t.loc[("fp16", "rtx-4090"), "gpus_needed"] == 8
    assert math.isclose(t.loc[("int4", "h100-sxm"), "decode b=1 (%)"], 100.0)
    for caption in (
        interconnect.interconnect_links().caption,
        interconnect.gpu_tp_links(P).caption,
        interconnect.allreduce_times(P).caption,
        tensor_parallel.tp_efficiency(P).caption,
        tensor_parallel.rtx4090_cluster(P).caption,
        tensor_parallel.article_tp_table(P).caption,
    ):
        assert caption.endswith(".") and len(caption) > 40
