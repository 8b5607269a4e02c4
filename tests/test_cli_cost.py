"""The ``gpucompare cost`` command: its JSON payload and its refusal of an unknown GPU."""

from __future__ import annotations

import json

import pytest


def test_cli_cost_json_hand_calculation(run_cli):
    res = run_cli(
        "cost",
        "--gpu",
        "h100-sxm",
        "--model",
        "llama-2-7b",
        "--weights",
        "fp16",
        "--batch",
        "1",
        "--set",
        "price_usd.h100-sxm=25000",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    # Defaults: host $8,000; 700 W x (0.7 x 0.9 + 0.3 x 0.1) = 462 W; x 8,760 h x 3 y / 1000 x PUE 1.3 x $0.15.
    energy = 462 * 8760 * 3 / 1000 * 1.3 * 0.15
    assert out["tco_usd"] == pytest.approx(25000 + 8000 + energy)
    tokens_m = out["tokens_per_s"] * 0.7 * 3600 * 8760 * 3 / 1e6
    assert out["usd_per_million_tokens"] == pytest.approx(out["tco_usd"] / tokens_m)
    res = run_cli("cost", "--gpu", "rtx-4090", "--model", "llama-2-7b", "--batch", "32", "--json")
    assert json.loads(res.stdout)["usd_per_million_tokens"] is None  # does not fit: no cost
    res = run_cli("cost", "--gpu", "h100", "--model", "llama-2-7b")
    assert res.returncode == 2 and "--gpu: unknown GPU 'h100'" in res.stderr
