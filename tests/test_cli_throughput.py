"""The ``gpucompare throughput`` command: its JSON fields for every engine, the engine's split
across GPUs, and exit 2 with the allowed values for an unknown engine or a format it cannot run."""

from __future__ import annotations

import json

import pytest

from gpucompare import cli
from gpucompare.data import engines

FIELDS = {
    "decode_tokens_per_s",
    "decode_tokens_per_s_per_sequence",
    "prefill_tokens_per_s",
    "time_per_output_token_ms",
    "bound",
    "fitted_parameters",
}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    """``gpucompare throughput ARGS`` in process (the calibration is fitted once per session)."""
    rc = cli.main(["throughput", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _json(capsys, *args):
    rc, out, err = _run(capsys, *args, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.parametrize("engine", engines.engine_ids())
def test_every_engine_answers_with_the_fields(capsys, engine):
    # In process (cli.main), so the calibration is fitted once for all engines.
    fmt = next(f for f in ("fp16", "int4", "q4_k_m", "q4f16_1") if engines.runs(engine, f, "fp16"))
    argv = ["throughput", "--gpu", "h100-sxm", "--model", "llama-2-7b", "--weights", fmt]
    argv += ["--batch", "4", "--context", "2048", "--engine", engine, "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= FIELDS
    assert out["engine"] == engine
    # All sequences together = batch x per sequence; one output token every step of the batch.
    assert out["decode_tokens_per_s"] == pytest.approx(4 * out["decode_tokens_per_s_per_sequence"])
    assert out["time_per_output_token_ms"] == pytest.approx(
        1000 / out["decode_tokens_per_s_per_sequence"]
    )
    assert out["bound"] in ("memory", "compute", "overhead")
    prm = out["fitted_parameters"]
    assert 0 < prm["achieved_bandwidth_fraction"] <= 1
    assert prm["provenance"].startswith(("fitted on", "fallback"))


def test_gpus_split_the_engine_way(capsys):
    common = ("--gpu", "rtx-4090", "--model", "llama-2-70b", "--batch", "1", "--context", "2048")
    cpp = _json(capsys, *common, "--weights", "q4_k_m", "--engine", "llama-cpp", "--gpus", "2")
    assert cpp["split"] == "layer" and cpp["gpus"] == 2
    vllm = _json(capsys, *common, "--weights", "int4", "--engine", "vllm", "--gpus", "2")
    assert vllm["split"] == "tensor"
    # 70B int4 (36.6 GB) does not fit one 24 GB card: no speed, not a number.
    one = _json(capsys, *common, "--weights", "int4", "--engine", "vllm")
    assert one["fits"] is False and one["decode_tokens_per_s"] is None


def test_bad_engine_or_format_exit_2_with_allowed_values(capsys):
    rc, _, err = _run(capsys, "--gpu", "h100-sxm", "--model", "llama-2-7b", "--engine", "vlm")
    assert rc == 2
    assert "unknown engine 'vlm'" in err and "llama-cpp" in err
    args = ("--gpu", "rtx-4090", "--model", "llama-2-7b", "--weights", "int4")
    rc, _, err = _run(capsys, *args, "--engine", "llama-cpp")
    assert rc == 2
    assert "--weights: llama.cpp does not run 'int4'" in err and "q4_k_m" in err
    rc, _, err = _run(capsys, "--gpu", "a100-sxm-80gb", "--model", "llama-2-7b", "--weights", "fp8")
    assert rc == 2 and "FP8" in err
