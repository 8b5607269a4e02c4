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


def test_cli_memory_json_for_a_sliding_window_model(run_cli):
    # Mistral 7B (data/models.yaml, sliding_window 4096): its JSON once failed on a flag the
    # window adds (a numpy bool). Per token, by hand from its config: K and V x 32 layers x 8 KV
    # heads x 128 head dims x 2 bytes (fp16) = 131,072 B; 4096 tokens (within the window) =
    # 0.537 GB.
    res = run_cli("memory", "--model", "mistral-7b", "--context", "4096", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kv_cache_per_token_bytes"] == 2 * 32 * 8 * 128 * 2
    assert out["kv_cache_gb"] == pytest.approx(2 * 32 * 8 * 128 * 2 * 4096 / 1e9)
    assert all(isinstance(g["fits"], bool) for g in out["gpus"])


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
