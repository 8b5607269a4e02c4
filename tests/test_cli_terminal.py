"""The listing commands read in a terminal: ``gpucompare gpus`` and ``models`` (key columns within
100 columns, formatted numbers; ``--all`` every field; ``--json`` every field), ``gpucompare audit``
(``--verdict`` filters; lines fit the terminal, explanations wrapped and indented) and a closed
output pipe (``| head -1``) that ends the command quietly.

Expected values come from the data files read here with PyYAML and from hand calculations, not
from the CLI's own formatting code. Most tests call the CLI in this process (the claims audit then
runs once); the width default and the closed pipe need a real process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpucompare import cli
from gpucompare.data import claims

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = ("ok", "wrong", "misleading", "unverifiable")


def _gpus_yaml() -> dict[str, dict]:
    raw = yaml.safe_load((ROOT / "data" / "gpus.yaml").read_text())
    return {g["id"]: g for g in raw["gpus"]}


def _models_yaml() -> dict[str, dict]:
    raw = yaml.safe_load((ROOT / "data" / "models.yaml").read_text())
    return {m["id"]: m for m in raw["models"]}


@pytest.fixture
def run(capsys, monkeypatch):
    """``gpucompare ARGS`` in this process at a terminal width of ``columns``: (code, out, err)."""

    def _run(*args: str, columns: int = 100) -> tuple[int, str, str]:
        monkeypatch.setenv("COLUMNS", str(columns))
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _cells(line: str) -> list[str]:
    """A table row split into its cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def _row(out: str, row_id: str) -> list[str]:
    return next(_cells(x) for x in out.splitlines() if x.startswith(row_id + " "))


# --- gpus, models ------------------------------------------------------------------------------


def test_gpus_key_columns_fit_100_columns(run):
    code, out, err = run("gpus")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 100
    header = " ".join(lines[:2])
    for word in ("id", "name", "memory", "GiB", "bandwidth", "GB/s", "BF16", "TFLOPS", "TDP"):
        assert word in header.split(), word
    assert "price" in header and "USD" in header
    # One row per catalog GPU, in the catalog's order.
    ids = [x.split()[0] for x in lines if x.split() and x.split()[0] in _gpus_yaml()]
    assert ids == list(_gpus_yaml())
    # Not every field: the columns of --all are not here.
    assert "memory_bus_width_bits" not in out and "compute_capability" not in out


def test_gpus_numbers_are_formatted(run):
    _, out, _ = run("gpus")
    # H100 SXM5: 80 GiB, 3.35 TB/s, 989.4 dense BF16 TFLOPS, 700 W; the catalog's $30,000 estimate.
    assert _row(out, "h100-sxm") == [
        "h100-sxm",
        "NVIDIA H100 SXM5 80GB",
        "80",
        "3,350",
        "989",
        "700",
        "30,000",
    ]
    # Every row: bandwidth and price with thousands separators, as the YAML gives them.
    for gpu_id, g in _gpus_yaml().items():
        cells = _row(out, gpu_id)
        bandwidth = g["specs"]["memory_bandwidth_gb_s"]["value"]
        assert f"{round(bandwidth):,}" in cells, gpu_id
        assert f"{round(g['price']['value_usd']):,}" == cells[-1], gpu_id


def test_gpus_all_prints_every_field(run):
    code, out, _ = run("gpus", "--all")
    assert code == 0
    blocks = out.strip().split("\n\n")
    assert len(blocks) == len(_gpus_yaml())
    h100 = next(b for b in blocks if b.splitlines()[0] == "gpu h100-sxm")
    fields = {line.split()[0] for line in h100.splitlines()[1:] if not line.startswith("    ")}
    assert set(_gpus_yaml()["h100-sxm"]["specs"]) <= fields
    assert {"name", "price_usd", "price_date", "price_kind", "price_source"} <= fields
    assert max(len(x) for x in out.splitlines()) <= 100


def test_gpus_json_has_every_field(run):
    code, out, _ = run("gpus", "--json")
    assert code == 0
    rows = {r["gpu_id"]: r for r in json.loads(out)}
    assert list(rows) == list(_gpus_yaml())
    for field, figure in _gpus_yaml()["h100-sxm"]["specs"].items():
        assert rows["h100-sxm"][field] == figure["value"], field


def test_models_key_columns(run):
    code, out, err = run("models")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 100
    header = " ".join(lines[:2]).split()
    for word in ("id", "parameters", "billions", "layers", "heads", "KV", "context", "tokens"):
        assert word in header, word
    # Llama 2 70B: 68,976,648,192 parameters = 69.0 billion; 80 layers, 64 heads, 8 KV heads
    # (grouped-query attention), 4,096-token context.
    assert _row(out, "llama-2-70b") == ["llama-2-70b", "69.0", "80", "64", "8", "4,096"]
    # Mistral 7B: 7,241,732,096 = 7.24 billion; 32,768-token context.
    assert _row(out, "mistral-7b") == ["mistral-7b", "7.24", "32", "32", "8", "32,768"]
    assert [x.split()[0] for x in lines[3:] if x.split() and x.split()[0] in _models_yaml()] == (
        list(_models_yaml())
    )


def test_models_all_and_json(run):
    _, out, _ = run("models", "--all")
    block = next(b for b in out.strip().split("\n\n") if b.startswith("model llama-2-70b\n"))
    assert re.search(r"^  num_key_value_heads\s+8$", block, flags=re.M)
    assert re.search(r"^  parameters\s+68,976,648,192$", block, flags=re.M)
    _, out, _ = run("models", "--json")
    models = {r["model_id"]: r for r in json.loads(out)}
    assert models["llama-2-70b"]["num_key_value_heads"] == 8
    assert set(models) == set(_models_yaml())


# --- audit ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claims_json() -> list[dict]:
    """Every claim, from ``gpucompare audit --json`` (the verdicts the text filters must match)."""
    res = subprocess.run(
        [sys.executable, "-m", "gpucompare", "audit", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout)


def _heads(out: str) -> list[str]:
    """The first line of each claim (it starts with the verdict in column 1)."""
    return [x for x in out.splitlines() if x[:1] != " " and x.split() and x.split()[0] in VERDICTS]


@pytest.mark.parametrize("verdict", VERDICTS)
def test_audit_verdict_filter(run, claims_json, verdict):
    code, out, err = run("audit", "--verdict", verdict)
    assert code == 0 and err == ""
    expected = [c["id"] for c in claims_json if c["verdict"] == verdict]
    heads = _heads(out)
    assert [h.split()[1] for h in heads] == expected
    assert all(h.split()[0] == verdict for h in heads)
    assert out.splitlines()[-1] == f"{len(expected)} {verdict} (of {len(claims_json)} claims)"


def test_audit_several_verdicts(run, claims_json):
    wanted = {"wrong", "misleading"}
    expected = [c["id"] for c in claims_json if c["verdict"] in wanted]
    _, repeated, _ = run("audit", "--verdict", "wrong", "--verdict", "misleading")
    _, commas, _ = run("audit", "--verdict", "wrong,misleading")
    assert repeated == commas
    assert [h.split()[1] for h in _heads(repeated)] == expected
    code, out, _ = run("audit", "--json", "--verdict", "ok")
    assert code == 0
    rows = json.loads(out)
    assert rows and {r["verdict"] for r in rows} == {"ok"}
    assert len(rows) == sum(c["verdict"] == "ok" for c in claims_json)


def test_audit_unknown_verdict_exits_2_naming_the_allowed_values(run):
    code, out, err = run("audit", "--verdict", "wrongg")
    assert code == 2 and out == ""
    assert "--verdict" in err and "wrongg" in err
    assert all(v in err for v in VERDICTS)
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_audit_lines_fit_the_terminal(run, claims_json, columns):
    _, out, _ = run("audit", columns=columns)
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= min(columns, 100)
    starts = [i for i, x in enumerate(lines) if x in _heads(out)]
    assert len(starts) == len(claims_json)
    # The first claim: its explanation wrapped under it, every line indented past the verdict.
    body = [x for x in lines[starts[0] + 1 : starts[1]] if not x.lstrip().startswith("article ")]
    assert body and all(x.startswith(" " * 13) and x[13] != " " for x in body)
    assert " ".join(x.strip() for x in body) == " ".join(claims_json[0]["explanation"].split())


def test_audit_text_names_both_values_and_the_unit(run):
    # The PCIe 4.0 x16 claim: the article's 32 GB/s "total" is the per-direction figure; 16 lanes
    # x 16 GT/s x 128/130 / 8 = 31.5 GB/s per direction, 63.0 GB/s both directions.
    _, out, _ = run("audit", "--section", "interconnect")
    line = next(x for x in out.splitlines() if " ic-pcie4-total " in x)
    assert re.search(r"^wrong\s+ic-pcie4-total\s+article\s+32\s+recomputed\s+63\.0\s+GB/s$", line)


def test_audit_default_width_is_100_columns_off_a_terminal():
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    res = subprocess.run(
        [sys.executable, "-m", "gpucompare", "audit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert 80 < max(len(x) for x in lines) <= 100  # the long explanations fill the width
    assert len(_heads(res.stdout)) == len(claims.claims())


# --- a closed pipe -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["gpus", "--json"], ["audit"], ["models", "--all"]])
def test_closed_pipe_ends_quietly(args):
    """``gpucompare ... | head -1``: the reader is gone before the command writes, so every write
    fails; the command stops without a traceback, with 128 + SIGPIPE like a killed process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpucompare", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the interpreter has even started: the first write breaks
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert err == ""
    assert proc.returncode == 141


def test_head_in_a_shell_pipeline_shows_no_traceback():
    res = subprocess.run(
        f"{sys.executable} -m gpucompare gpus --json | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.stdout == "[\n"
    assert res.stderr == ""
