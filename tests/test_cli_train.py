"""The ``gpucompare train`` command: its JSON fields and agreement with the library, a setup that
does not fit answered with ``fits: false`` and what to change (exit 0), the text table, and one
clear error naming the flag (exit 2) for an unknown model, GPU, method or out-of-range number."""

from __future__ import annotations

import json

import pytest

from gpucompare import cli, params
from gpucompare.model import training
from gpucompare.model import training_memory as tm
from gpucompare.sections import decision
from gpucompare.sections import training as training_section

FIELDS = {
    "fits",
    "memory_per_gpu_gb",
    "model_state_gb_per_gpu",
    "tokens_per_s",
    "mfu",
    "scaling_efficiency",
    "hours",
    "usd_own",
    "usd_rent",
}
PARTS = {"weights_gb", "gradients_gb", "optimizer_gb", "activations_gb"}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli.main(["train", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_has_the_fields_and_matches_the_library(capsys):
    args = ["--model", "llama-2-7b", "--method", "full", "--optimizer", "adamw"]
    args += ["--precision", "bf16", "--gpu", "h100-sxm", "--gpus", "8", "--zero", "3"]
    args += ["--tokens", "2000000000", "--seq-len", "4096", "--micro-batch", "2", "--json"]
    rc, out, err = _run(capsys, *args)
    assert rc == 0, err
    got = json.loads(out)
    assert set(got) >= FIELDS and set(got["memory_per_gpu_gb"]) >= PARTS
    assert got["fits"] is True
    setup = tm.Setup("llama-2-7b", gpus=8, zero=3, seq_len=4096, micro_batch=2)
    lib = training.estimate(params.make(), setup, "h100-sxm", 2e9)
    for key in ("tokens_per_s", "mfu", "hours", "usd_own", "usd_rent", "model_state_gb_per_gpu"):
        assert got[key] == pytest.approx(lib[key]), key
    assert got["hours"] >= got["floor_hours"]
    assert 0 < got["scaling_efficiency"] <= 1 and 0 < got["mfu"] <= 1


def test_a_setup_that_does_not_fit_says_what_to_change(capsys):
    rc, out, err = _run(capsys, "--model", "llama-2-7b", "--gpu", "h100-sxm", "--json")
    assert rc == 0, err
    got = json.loads(out)
    assert got["fits"] is False
    assert got["tokens_per_s"] is None and got["hours"] is None and got["usd_own"] is None
    flags = [f["flags"] for f in got["fixes"]]
    assert "--gpus 2 --zero 3" in flags and "--method qlora" in flags
    assert got["memory_per_gpu_gb"]["optimizer_gb"] == pytest.approx(12 * 6738415616 / 1e9)
    rc, out, _ = _run(capsys, "--model", "llama-2-7b", "--gpu", "h100-sxm")
    assert rc == 0 and "does not fit" in out and "--gpus 2 --zero 3" in out


def test_qlora_on_an_rtx_4090_text_table(capsys):
    rc, out, err = _run(capsys, "--model", "llama-2-7b", "--method", "qlora", "--gpu", "rtx-4090")
    assert rc == 0, err
    assert "memory per GPU, GB" in out and "fits" in out and "tokens/s" in out
    assert "own $" in out and "rent $" in out
    assert "QLoRA weight rebuilds:" in out and "6 QLoRA/LoRA pairs" in out


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--model", "llama-9", "--gpu", "h100-sxm"], "--model"),
        (["--model", "llama-2-7b", "--gpu", "h900"], "--gpu"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--method", "dora"], "--method"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--optimizer", "lion"], "--optimizer"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--precision", "fp8"], "--precision"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--lora-modules", "qkv"], "--lora-modules"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--node-link", "wifi"], "--node-link"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--zero", "5"], "--zero"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--gpus", "0"], "--gpus"),
        (["--model", "llama-2-7b", "--gpu", "h100-sxm", "--tokens", "1e309"], "--tokens"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(capsys, args, flag):
    with pytest.raises(SystemExit) as exit_:
        rc = cli.main(["train", *args])
        raise SystemExit(rc)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and err.count("\n") == 1


def _train_json(capsys, model: str, method: str, gpu: str, gpus: int, tokens: int) -> dict:
    """``gpucompare train --json`` of a job placed on ``gpus`` cards: one card unsharded, several
    with ZeRO-3 (how the training section and the decision guide place a job)."""
    args = ["--model", model, "--method", method, "--gpu", gpu, "--gpus", str(gpus)]
    args += ["--zero", "3" if gpus > 1 else "0", "--tokens", str(tokens), "--json"]
    rc, out, err = _run(capsys, *args)
    assert rc == 0, err
    return json.loads(out)


def test_decision_training_rules_agree_with_the_command_line(capsys):
    """Acceptance of issue 20: the hours and rental dollars the decision page shows for rules B5 and
    B6, and the training section's table, are what ``gpucompare train --json`` gives for the same
    job, GPU, card count and tokens."""
    p = params.make()
    shown = decision.training_rules(p).frame
    section = training_section.time_and_cost(p).frame
    jobs = {j.name: (j.model, j.method) for j in p.training_jobs}
    tokens = 100_000_000  # the tokens the page states in its caption
    assert f"For {tokens / 1e6:,.0f} million tokens" in decision.training_rules(p).caption
    checked = 0
    for (_, job), row in shown.iterrows():
        model, method = jobs[job]
        for gpu in ("h100-sxm", "rtx-4090"):
            n = row[f"{gpu} gpus"]
            got = _train_json(capsys, model, method, gpu, n, tokens)
            assert got["fits"] is True and got["gpus"] == n
            assert row[f"{gpu} hours"] == pytest.approx(got["hours"], rel=1e-9)
            assert row[f"{gpu} rent_usd"] == pytest.approx(got["usd_rent"], rel=1e-9)
            assert section.loc[(job, gpu), "hours"] == pytest.approx(got["hours"], rel=1e-9)
            assert section.loc[(job, gpu), "cost_usd_rent"] == pytest.approx(got["usd_rent"])
            checked += 1
    assert checked == 2 * len(jobs)


def test_qlora_json_reports_the_dequantisation(capsys):
    got = _train_json(capsys, "llama-2-7b", "qlora", "rtx-4090", 1, 100_000_000)
    lora = _train_json(capsys, "llama-2-7b", "lora", "rtx-4090", 1, 100_000_000)
    cal = got["calibration"]
    assert got["dequant_s"] > 0 and lora["dequant_s"] == 0
    assert cal["dequant_pairs"] == 6 and cal["dequant_factor"] > 1
    assert "dequant_factor" not in lora["calibration"]
    # The same step plus the rebuilds: slower than LoRA on the same card.
    assert got["step_s"] == pytest.approx(lora["step_s"] + got["dequant_s"], rel=1e-3)
    assert got["tokens_per_s"] < lora["tokens_per_s"]


def test_a_bad_training_job_parameter_exits_2_naming_the_key(capsys):
    with pytest.raises(SystemExit) as exit_:
        rc = cli.main(
            [
                "train",
                "--model",
                "llama-2-7b",
                "--gpu",
                "h100-sxm",
                "--set",
                "training_jobs.0.method=dora",
            ]
        )
        raise SystemExit(rc)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "training_jobs[0].method" in err and err.count("\n") == 1
