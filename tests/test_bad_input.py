"""A catalogue of bad inputs, each run through the real command line.

Every case must exit with code 2 before any notebook runs, with one message on stderr that names the
file or key and the allowed values, and (for ``report``) leave the previous report exactly as it was:
no new report, no ``.failed`` folder, no temporary folder. The cases run in one pool of subprocesses
(each costs about a second of imports), and each test checks one of them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gpucompare import paths

ROOT = paths.repo_root()
MARKER = "previous report, must survive\n"
#: A failure before any notebook runs takes about a second; a single notebook takes longer than this.
FAST_S = 30.0


@dataclass
class Case:
    """One bad input: the command's arguments, its setup, and what stderr must say."""

    args: list[str]
    patterns: list[str]
    files: dict[str, str] = field(default_factory=dict)  # params files to write, by name
    data: str | None = None  # how to break a copy of data/ ("delete:FILE" or "drop:GPU.FIELD")
    report: bool = True  # a `report` command (checks the previous report survives)


CASES: dict[str, Case] = {
    "malformed-yaml-params-file": Case(
        ["--params", "{tmp}/bad.yaml"],
        [r"bad\.yaml:.*line \d+, column \d+: malformed YAML"],
        files={"bad.yaml": "pue: 1.2\ngpus: [h100-sxm\nyears: 3\n"},
    ),
    "unknown-key-in-params-file": Case(
        ["--params", "{tmp}/typo.yaml"],
        [
            r"typo\.yaml: utilisation: unknown key \(did you mean 'utilization'\?\)",
            r"allowed keys: .*utilization",
        ],
        files={"typo.yaml": "utilisation: 0.5\n"},
    ),
    "unknown-key-in-set": Case(
        ["--set", "electricty_usd_per_kwh=0.2"],
        [r"electricty_usd_per_kwh: unknown key \(did you mean 'electricity_usd_per_kwh'\?\)"],
    ),
    "wrong-type-text-for-number": Case(
        ["--set", "pue=abc"],
        [r"pue: Input should be a valid number.*got 'abc'.*allowed: a number >= 1\.0 and <= 3\.0"],
    ),
    "wrong-type-bool-for-integer": Case(
        ["--set", "workloads.0.batch_size=true"],
        [r"workloads\[0\]\.batch_size: true/false .*allowed: an integer > 0"],
    ),
    "wrong-type-text-for-list": Case(
        ["--set", "gpus=h100-sxm"],
        [r"gpus: Input should be a valid list.*allowed: a list"],
    ),
    "nan": Case(
        ["--set", "pue=.nan"],
        [
            r"pue: Input should be a finite number \(got nan\); allowed: a number >= 1\.0 and <= 3\.0"
        ],
    ),
    "inf": Case(
        ["--set", "years=.inf"],
        [r"years: Input should be a finite number \(got inf\); allowed: a number > 0\.0 and <= 20"],
    ),
    "negative-price": Case(
        ["--set", "price_usd.h100-sxm=-5"],
        [r"price_usd\.h100-sxm: Input should be greater than 0 \(got -5\); allowed: a number > 0"],
    ),
    "zero-electricity": Case(
        ["--set", "electricity_usd_per_kwh=0"],
        [r"electricity_usd_per_kwh: Input should be greater than 0 .*allowed: a number > 0"],
    ),
    "unknown-gpu": Case(
        ["--set", "price_usd.rtx4090=1500"],
        [r"unknown GPU 'rtx4090' \(did you mean 'rtx-4090'\?\); allowed: .*h100-sxm.*rtx-4090"],
    ),
    "unknown-model": Case(
        ["--set", "workloads.0.model=llama-7b"],
        [r"workloads\[0\]\.model: unknown model 'llama-7b'.*allowed: .*llama-2-7b"],
    ),
    "unknown-precision": Case(
        ["--set", "memory_kv_cache=fp5"],
        [r"memory_kv_cache: Input should be 'fp32', 'bf16', 'fp16', 'fp8', 'int8' or 'int4'"],
    ),
    "empty-params-file": Case(
        ["--params", "{tmp}/empty.yaml"],
        [r"empty\.yaml: the parameters file is empty; expected a mapping of parameter: value"],
        files={"empty.yaml": "# nothing here\n"},
    ),
    "missing-params-file": Case(
        ["--params", "{tmp}/nope.yaml"],
        [r"nope\.yaml: file not found"],
    ),
    "batch-size-zero": Case(
        ["--set", "workloads.0.batch_size=0"],
        [
            r"workloads\[0\]\.batch_size: Input should be greater than 0 \(got 0\); allowed: an integer > 0"
        ],
    ),
    "tensor-parallel-beyond-a-node": Case(
        ["--set", "tp_degrees=[2, 16]"],
        [
            r"tp_degrees: tensor-parallel degree 16 does not fit one \S+ node.*allowed: 1, 2, 3, 4, 5, 6, 7, 8"
        ],
    ),
    "gpu-catalog-missing-a-field": Case(
        [],
        [r"gpus\.yaml: gpus\[rtx-4090\]\.specs\.memory_bandwidth_gb_s: Field required"],
        data="drop:rtx-4090.memory_bandwidth_gb_s",
    ),
    "missing-models-file": Case([], [r"models\.yaml: file not found"], data="delete:models.yaml"),
    "missing-cloud-prices-file": Case(
        [], [r"cloud_prices\.yaml: \(file\): file not found"], data="delete:cloud_prices.yaml"
    ),
    "missing-measurements-file": Case(
        [],
        [r"decode_public\.csv: \(file\): file not found"],
        data="delete:measurements/decode_public.csv",
    ),
    "memory-unknown-model": Case(
        ["memory", "--model", "llama-7b"],
        [
            r"--model: unknown model 'llama-7b' \(did you mean 'llama-2-7b'\?\); allowed: .*llama-2-7b"
        ],
        report=False,
    ),
    "memory-unknown-precision": Case(
        ["memory", "--model", "llama-2-7b", "--weights", "fp4"],
        [r"--weights: unknown weight precision 'fp4'.*allowed: bf16, fp16, fp32, fp8, int4, int8"],
        report=False,
    ),
    "memory-unknown-gpu": Case(
        ["memory", "--model", "llama-2-7b", "--gpu", "h100"],
        [r"--gpu: unknown GPU 'h100' \(did you mean 'h100-sxm'\?\); allowed: "],
        report=False,
    ),
    "memory-zero-context": Case(
        ["memory", "--model", "llama-2-7b", "--context", "0"],
        [r"argument --context: must be a positive integer, got 0"],
        report=False,
    ),
    "memory-nan-parameter": Case(
        ["memory", "--model", "llama-2-7b", "--set", "gpu_memory_utilization=.nan"],
        [
            r"gpu_memory_utilization: Input should be a finite number.*allowed: a number > 0\.0 and <= 1\.0"
        ],
        report=False,
    ),
    "audit-unknown-section": Case(
        ["audit", "--section", "memry"],
        [
            r"--section: unknown claims section 'memry' \(did you mean 'memory'\?\); allowed: .*memory"
        ],
        report=False,
    ),
}


def _break_data(how: str, data: Path) -> None:
    verb, _, what = how.partition(":")
    if verb == "delete":
        (data / what).unlink()
    elif (
        verb == "drop"
    ):  # delete one spec field of one GPU, keeping the rest of the file as written
        gpu_id, name = what.split(".")
        text = (data / "gpus.yaml").read_text(encoding="utf-8")
        start = text.index(f"  - id: {gpu_id}\n")
        line = re.compile(rf"^ +{name}: .*\n", re.M).search(text, start)
        (data / "gpus.yaml").write_text(text[: line.start()] + text[line.end() :], encoding="utf-8")
    else:
        raise ValueError(how)


def _run(name: str, case: Case, tmp: Path) -> dict:
    """Set the case up in ``tmp`` and run it; the previous report is ``tmp/reports/latest``."""
    tmp.mkdir(parents=True)
    for file, text in case.files.items():
        (tmp / file).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != paths.DATA_DIR_ENV}
    if case.data:
        data = tmp / "data"
        shutil.copytree(ROOT / "data", data)
        _break_data(case.data, data)
        env[paths.DATA_DIR_ENV] = str(data)
    reports = tmp / "reports"
    (reports / "latest").mkdir(parents=True)
    (reports / "latest" / "index.html").write_text(MARKER, encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp)) for a in case.args]
    if case.report:
        args = ["report", "--out", str(reports / "latest"), *args]
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "gpucompare", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {"res": res, "seconds": time.perf_counter() - start, "reports": reports}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("bad_input")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        futures = {n: pool.submit(_run, n, c, base / n) for n, c in CASES.items()}
    return {n: f.result() for n, f in futures.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_clear_message_and_touches_nothing(results, name):
    case, out = CASES[name], results[name]
    res = out["res"]
    assert res.returncode == 2, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    assert res.stderr.startswith("gpucompare: error: "), res.stderr
    assert res.stderr.count("gpucompare: error:") == 1 and "Traceback" not in res.stderr
    for pattern in case.patterns:
        assert re.search(pattern, res.stderr), f"{pattern!r} not in:\n{res.stderr}"
    assert out["seconds"] < FAST_S, "it should fail before any notebook runs"
    # The previous report is untouched and nothing else was written beside it.
    reports = out["reports"]
    assert sorted(p.name for p in reports.iterdir()) == ["latest"]
    assert sorted(p.name for p in (reports / "latest").iterdir()) == ["index.html"]
    assert (reports / "latest" / "index.html").read_text(encoding="utf-8") == MARKER
    assert not res.stdout.strip() or not case.report


def test_every_category_of_the_catalogue_is_covered():
    """The issue's list: malformed YAML, unknown key, wrong type, NaN/inf/negative/zero, unknown
    GPU/model/precision ids, empty file, an impossible section, a catalog field missing, a missing
    data file; and the memory and audit commands."""
    names = set(CASES)
    for needed in (
        "malformed-yaml-params-file",
        "unknown-key-in-params-file",
        "wrong-type-text-for-number",
        "nan",
        "inf",
        "negative-price",
        "zero-electricity",
        "unknown-gpu",
        "unknown-model",
        "unknown-precision",
        "empty-params-file",
        "batch-size-zero",
        "gpu-catalog-missing-a-field",
        "missing-models-file",
    ):
        assert needed in names
    assert sum(not c.report for c in CASES.values()) >= 5
