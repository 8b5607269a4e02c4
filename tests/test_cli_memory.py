"""The ``gpucompare memory`` command: its JSON payload and its refusals of bad input."""

from __future__ import annotations

import json

import pytest


def test_cli_memory_json(run_cli):
    res = run_cli(
        "memory",
        "--model",
        "llama-2-7b",
        "--weights",
        "fp16",
        "--kv",
        "fp16",
        "--context",
        "4096",
        "--batch",
        "32",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kv_cache_gb"] == pytest.approx(68.719, abs=0.001)  # 32 x 4096 x 524,288 B
    assert {g["gpu"] for g in out["gpus"]} == {"h100-sxm", "rtx-4090"}
    assert set(out["gpus"][0]) >= {"fits", "max_batch", "gpus_needed"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "llama-7b"], "--model: unknown model 'llama-7b'"),
        (["--model", "llama-2-7b", "--kv", "fp4"], "--kv: unknown KV-cache precision 'fp4'"),
        (["--model", "llama-2-7b", "--context", "0"], "--context: must be a positive integer"),
        (["--model", "llama-2-7b", "--gpu", "h100"], "--gpu: unknown GPU 'h100'"),
    ],
)
def test_cli_memory_bad_input_exits_2(run_cli, args, message):
    res = run_cli("memory", *args)
    assert res.returncode == 2
    assert message in res.stderr
