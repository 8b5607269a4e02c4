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

from gpucompare.core import paths

ROOT = paths.repo_root()
MARKER = "previous report, must survive\n"
REPORT_MANIFEST = '{"generator": "gpucompare", "kind": "report"}\n'
#: A failure before any notebook runs takes about a second; a single notebook takes longer than this.
FAST_S = 30.0


@dataclass
class Case:
    """One bad input: the command's arguments, its setup, and what stderr must say."""

    args: list[str]
    patterns: list[str]
    files: dict[str, str] = field(default_factory=dict)  # params files to write, by name
    # How to break a copy of data/: "delete:FILE", "drop:GPU.FIELD" or "value:GPU.FIELD=VALUE".
    data: str | None = None
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
    # A value the schema accepts (a number) that the data checks refuse: before any notebook runs
    # (it used to run every section, ten failing with tracebacks, and exit 1).
    "negative-value-in-data": Case(
        [],
        [r"gpus\.yaml: h100-sxm\.specs\.memory_bandwidth_gb_s: must be > 0 \(got -5\.0\)"],
        data="value:h100-sxm.memory_bandwidth_gb_s=-5",
    ),
    "missing-cloud-prices-file": Case(
        [], [r"cloud_prices\.yaml: \(file\): file not found"], data="delete:cloud_prices.yaml"
    ),
    "missing-engines-file": Case(
        [], [r"engines\.yaml: file not found"], data="delete:engines.yaml"
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
        [
            r"--weights: unknown weight precision 'fp4'.*allowed: bf16, exl2-2.5, .*fp16, fp32, fp8, int4, int8, q4_0, q4_k_m"
        ],
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
    elif verb == "value":  # one spec value of one GPU replaced, its source kept
        field_path, value = what.split("=")
        gpu_id, name = field_path.split(".")
        text = (data / "gpus.yaml").read_text(encoding="utf-8")
        start = text.index(f"  - id: {gpu_id}\n")
        found = re.compile(rf"^ +{name}: {{value: ([^,]+),", re.M).search(text, start)
        text = text[: found.start(1)] + value + text[found.end(1) :]
        (data / "gpus.yaml").write_text(text, encoding="utf-8")
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
    # A report gpucompare wrote (its manifest carries the marker), so the build may replace it.
    (reports / "latest" / "manifest.json").write_text(REPORT_MANIFEST, encoding="utf-8")
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
    assert sorted(p.name for p in (reports / "latest").iterdir()) == ["index.html", "manifest.json"]
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


# --- Bounded inputs: special files, alias bombs, deep nesting, overflowing numbers ----------------
#
# Each case runs in a fresh interpreter (:data:`_BOUNDED_WRAPPER`) that imports the CLI first and then
# measures the command alone: its wall time and how far it raises the process's peak memory
# (``ru_maxrss``). The wrapper also caps the address space 1 GB above what the imports took, so that a
# regression (an alias bomb costs 3 GB and 30 s without the bounds) fails fast instead of exhausting
# the machine. ``report`` cases write to a folder that does not exist and must not exist afterwards.

#: The command must refuse within this many seconds (its imports not counted) ...
BOUNDED_S = 2.0
#: ... raising the process's peak memory by less than this (MB).
BOUNDED_MB = 200

_BOUNDED_WRAPPER = r"""
import json, resource, sys, time
from gpucompare import cli, params  # imports first: the bounds are on the command
from gpucompare.model import cost, memory, tco
try:  # a regression must fail with MemoryError, not take the machine's memory
    vm = next(l for l in open("/proc/self/status") if l.startswith("VmSize:"))
    cap = int(vm.split()[1]) * 1024 + 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
except (OSError, StopIteration, ValueError):
    pass
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    rc = cli.main(sys.argv[2:])
except SystemExit as exc:  # argparse's usage errors
    rc = exc.code
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "seconds": seconds, "peak_rise_mb": (after - before) / 1024}, f)
sys.exit(rc if isinstance(rc, int) else 1)
"""


def _alias_bomb(levels: int) -> str:
    """A "billion laughs" params file: 9**levels strings from about 50 bytes per level."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"pue: *a{levels - 1}"]) + "\n"


_BOMB_VALUE = (
    "[&a [1,1,1,1,1,1,1,1,1], "
    + ", ".join(
        f"&{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "]"
)


@dataclass
class Bounded:
    """One bad input of the bounded-inputs catalogue."""

    args: list[str]
    patterns: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # written to {in}/NAME
    special: str | None = None  # "fifo" or "dir": {in}/NAME is made as that


_MEM = ["memory", "--model", "llama-2-7b"]
_REPORT = ["report", "--out", "{out}"]
_COST = ["cost", "--gpu", "h100-sxm", "--model", "llama-2-7b", "--json"]

BOUNDED: dict[str, Bounded] = {
    "alias-bomb-9-levels-memory": Bounded(
        [*_MEM, "--params", "{in}/bomb.yaml"],
        [r"bomb\.yaml: holds more than 100,000 values once its aliases are expanded"],
        files={"bomb.yaml": _alias_bomb(9).encode()},
    ),
    "alias-bomb-9-levels-report": Bounded(
        [*_REPORT, "--params", "{in}/bomb.yaml"],
        [r"bomb\.yaml: holds more than 100,000 values once its aliases are expanded"],
        files={"bomb.yaml": _alias_bomb(9).encode()},
    ),
    "alias-bomb-10-levels-memory": Bounded(
        [*_MEM, "--params", "{in}/bomb.yaml"],
        [r"bomb\.yaml: holds more than 100,000 values once its aliases are expanded"],
        files={"bomb.yaml": _alias_bomb(10).encode()},
    ),
    "alias-bomb-10-levels-report": Bounded(
        [*_REPORT, "--params", "{in}/bomb.yaml"],
        [r"bomb\.yaml: holds more than 100,000 values once its aliases are expanded"],
        files={"bomb.yaml": _alias_bomb(10).encode()},
    ),
    "alias-cycle": Bounded(
        [*_REPORT, "--params", "{in}/cycle.yaml"],
        [r"cycle\.yaml: an alias refers to a list or mapping that contains it"],
        files={"cycle.yaml": b"a: &a [1, *a]\npue: *a\n"},
    ),
    "params-dev-zero": Bounded(
        [*_REPORT, "--params", "/dev/zero"],
        [r"/dev/zero: a device, not a regular file"],
    ),
    "params-fifo": Bounded(
        [*_REPORT, "--params", "{in}/fifo.yaml"],
        [r"fifo\.yaml: a named pipe \(FIFO\), not a regular file"],
        special="fifo",
    ),
    "params-fifo-memory": Bounded(
        [*_MEM, "--params", "{in}/fifo.yaml"],
        [r"fifo\.yaml: a named pipe \(FIFO\), not a regular file"],
        special="fifo",
    ),
    "params-directory": Bounded(
        [*_REPORT, "--params", "{in}/folder.yaml"],
        [r"folder\.yaml: a directory, not a regular file"],
        special="dir",
    ),
    "params-binary": Bounded(
        [*_REPORT, "--params", "{in}/binary.yaml"],
        [r"binary\.yaml: a binary file \(NUL byte at offset 0\)"],
        files={"binary.yaml": bytes(range(0, 128)) * 8},
    ),
    "params-not-utf8": Bounded(
        [*_REPORT, "--params", "{in}/latin1.yaml"],
        [r"latin1\.yaml: not UTF-8 text \(byte 0xe9 at offset 10\)"],
        files={"latin1.yaml": "title: Caf\u00e9 report\n".encode("latin-1")},
    ),
    "params-over-1mb": Bounded(
        [*_REPORT, "--params", "{in}/big.yaml"],
        [r"big\.yaml: 1,000,001 bytes, over the 1,000,000-byte limit of an input file \(1 MB\)"],
        files={"big.yaml": b"#" * 999_999 + b"\n\n"},
    ),
    "params-nested-too-deep": Bounded(
        [*_REPORT, "--params", "{in}/deep.yaml"],
        [r"deep\.yaml: lists and mappings nested more than 32 levels deep"],
        files={"deep.yaml": b"pue: " + b"[" * 100 + b"]" * 100 + b"\n"},
    ),
    "params-integer-of-5000-digits": Bounded(
        [*_REPORT, "--params", "{in}/digits.yaml"],
        [r"digits\.yaml: malformed YAML: Exceeds the limit \(4300 digits\)"],
        files={"digits.yaml": b"mc_seed: 1" + b"0" * 5000 + b"\n"},
    ),
    "set-key-10000-dots": Bounded(
        [*_REPORT, "--set", ".".join(["a"] * 10_000) + "=1"],
        [r"--set a\.a\.a.* \.\.\.: 10000 dotted parts, more than the 32 levels"],
    ),
    "set-value-60000-deep": Bounded(
        [*_REPORT, "--set", "pue=" + "[" * 60_000 + "]" * 60_000],
        [r"--set pue: .*malformed YAML: (exceeded maximum nesting depth|nested too deeply)"],
    ),
    "set-value-40-deep": Bounded(
        [*_MEM, "--set", "price_usd.h100-sxm=" + "[" * 40 + "]" * 40],
        [r"--set price_usd\.h100-sxm: lists and mappings nested more than 32 levels deep"],
    ),
    "set-key-plus-value-too-deep": Bounded(
        [*_MEM, "--set", ".".join(["a"] * 20) + "=" + "[" * 20 + "]" * 20],
        [r"--set a\.a.*: lists and mappings nested more than 32 levels deep"],
    ),
    "set-value-alias-bomb": Bounded(
        [*_MEM, "--set", "pue=" + _BOMB_VALUE],
        [r"--set pue: holds more than 100,000 values once its aliases are expanded"],
    ),
    "batch-1e309": Bounded(
        [*_MEM, "--batch", "1e309"],
        [r"argument --batch: expected a positive integer, got '1e309'"],
    ),
    "batch-inf": Bounded(
        [*_MEM, "--batch", "inf"], [r"argument --batch: expected a positive integer, got 'inf'"]
    ),
    "context-nan": Bounded(
        [*_MEM, "--context", "nan"],
        [r"argument --context: expected a positive integer, got 'nan'"],
    ),
    "batch-above-its-bound": Bounded(
        [*_MEM, "--batch", "1000001"],
        [r"argument --batch: must be at most 1,000,000 .*got 1000001"],
    ),
    "context-of-5000-digits": Bounded(
        [*_MEM, "--context", "9" * 5000],
        [r"argument --context: must be at most 10,000,000 .*got 9999"],
    ),
    "cost-batch-huge": Bounded(
        [*_COST, "--batch", "1" + "0" * 30],
        [r"argument --batch: must be at most 10,000,000"],
    ),
    "jobs-huge": Bounded(
        [*_REPORT, "--jobs", "99999999999"], [r"argument --jobs: must be at most 10,000,000"]
    ),
    "set-electricity-1e309": Bounded(
        [*_REPORT, "--set", "electricity_usd_per_kwh=1e309"],
        [r"electricity_usd_per_kwh: Input should be a finite number"],
    ),
    "set-electricity-1.0e+309": Bounded(
        [*_COST, "--set", "electricity_usd_per_kwh=1.0e+309"],
        [r"electricity_usd_per_kwh: Input should be a finite number \(got inf\)"],
    ),
    "set-electricity-inf": Bounded(
        [*_COST, "--set", "electricity_usd_per_kwh=.inf"],
        [r"electricity_usd_per_kwh: Input should be a finite number \(got inf\)"],
    ),
    "set-electricity-nan": Bounded(
        [*_COST, "--set", "electricity_usd_per_kwh=.nan"],
        [r"electricity_usd_per_kwh: Input should be a finite number \(got nan\)"],
    ),
    "set-integer-above-its-bound": Bounded(
        [*_MEM, "--set", "training_gpus=1000001"],
        [r"training_gpus: Input should be less than or equal to 1000000 \(got 1000001\)"],
    ),
    "set-context-above-its-bound": Bounded(
        [*_REPORT, "--set", "workloads.0.context_tokens=10000001"],
        [r"workloads\[0\]\.context_tokens: Input should be less than or equal to 10000000"],
    ),
    "json-electricity-that-overflowed-to-infinity": Bounded(
        [*_COST, "--set", "electricity_usd_per_kwh=1.0e+308"],
        [r"electricity_usd_per_kwh: Input should be less than or equal to 100"],
    ),
    "json-cloud-price-that-overflowed-to-infinity": Bounded(
        [*_COST, "--set", "cloud_usd_per_gpu_hour.h100-sxm=1.0e+308"],
        [r"cloud_usd_per_gpu_hour\.h100-sxm: Input should be less than or equal to 10000"],
    ),
    "json-reserve-that-overflowed": Bounded(
        [*_MEM, "--json", "--set", "activation_reserve_gib=1.0e+300"],
        [r"activation_reserve_gib: Input should be less than or equal to 10000"],
    ),
}


def _run_bounded(case: Bounded, tmp: Path) -> dict:
    import json

    inputs = tmp / "in"
    inputs.mkdir(parents=True)
    for name, content in case.files.items():
        (inputs / name).write_bytes(content)
    if case.special == "fifo":
        os.mkfifo(inputs / "fifo.yaml")
    elif case.special == "dir":
        (inputs / "folder.yaml").mkdir()
    args = [a.replace("{in}", str(inputs)).replace("{out}", str(tmp / "out")) for a in case.args]
    env = {k: v for k, v in os.environ.items() if k != paths.DATA_DIR_ENV}
    env[paths.CACHE_DIR_ENV] = str(tmp / "cache")
    stats = tmp / "stats.json"
    try:
        res = subprocess.run(
            [sys.executable, "-c", _BOUNDED_WRAPPER, str(stats), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:  # e.g. a FIFO opened for reading blocks forever
        return {"timeout": True, "tmp": tmp}
    out = json.loads(stats.read_text()) if stats.exists() else {}
    stats.unlink(missing_ok=True)
    return {"timeout": False, "res": res, "tmp": tmp, **out}


@pytest.fixture(scope="module")
def bounded_results(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("bounded")
    with ThreadPoolExecutor(max_workers=min(4, max(2, os.cpu_count() or 1))) as pool:
        futures = {n: pool.submit(_run_bounded, c, base / n) for n, c in BOUNDED.items()}
    return {n: f.result() for n, f in futures.items()}


@pytest.mark.parametrize("name", list(BOUNDED))
def test_bounded_input_exits_2_fast_in_little_memory_and_writes_nothing(bounded_results, name):
    case, out = BOUNDED[name], bounded_results[name]
    assert not out["timeout"], "the command did not return (a FIFO opened for reading blocks)"
    res = out["res"]
    assert res.returncode == 2, f"exit {res.returncode}\n{res.stdout[:2000]}\n{res.stderr[-3000:]}"
    assert res.stderr.startswith("gpucompare: error: "), res.stderr[:2000]
    assert res.stderr.count("gpucompare: error:") == 1 and "Traceback" not in res.stderr
    assert len(res.stderr) < 2000, "the message quotes no huge value"
    for pattern in case.patterns:
        assert re.search(pattern, res.stderr), f"{pattern!r} not in:\n{res.stderr}"
    assert not res.stdout.strip(), "nothing on stdout: no partial output, no Infinity/NaN"
    assert out["seconds"] < BOUNDED_S, f"took {out['seconds']:.1f} s"
    assert out["peak_rise_mb"] < BOUNDED_MB, f"peak memory rose by {out['peak_rise_mb']:.0f} MB"
    # Nothing was written: no --out folder, no cache, no temporary folder beside them.
    assert sorted(p.name for p in out["tmp"].iterdir()) == ["in"]


def _strict_json(text: str):
    """``json.loads`` that refuses ``Infinity``, ``-Infinity`` and ``NaN`` (not JSON)."""
    import json

    def refuse(name: str):
        raise ValueError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "args",
    [
        [*_MEM, "--json", "--batch", "1000000", "--context", "10000000"],
        [*_COST, "--batch", "10000000", "--context", "10000000"],
        [
            *_COST,
            "--set",
            "price_usd.h100-sxm=10000000",
            "--set",
            "electricity_usd_per_kwh=100",
            "--set",
            "host_usd_per_gpu.datacenter=10000000",
            "--set",
            "cloud_usd_per_gpu_hour.h100-sxm=10000",
            "--set",
            "years=20",
            "--set",
            "pue=3",
        ],
        [*_COST, "--set", "activation_reserve_gib=10000", "--set", "min_user_tokens_per_s=1e6"],
    ],
    ids=[
        "memory-largest-batch-and-context",
        "cost-largest-ints",
        "cost-largest-prices",
        "cost-rest",
    ],
)
def test_json_output_at_the_bounds_is_strict_json(run_cli, args):
    """At the largest values the bounds allow, every number of --json output is finite."""
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    _strict_json(res.stdout)


def test_json_output_refuses_non_finite_numbers():
    """The safety net: a non-finite result is one InputError naming its key, never invalid JSON."""
    from gpucompare.core import jsonout
    from gpucompare.core.errors import InputError

    assert _strict_json(jsonout.dumps({"a": [1.0, 2]})) == {"a": [1.0, 2]}
    for bad, key in (
        ({"gpus": [{"tco_usd": 1.0}, {"tco_usd": float("inf")}]}, r"gpus\[1\]\.tco_usd"),
        ([float("nan")], r"\[0\]"),
        (float("-inf"), r"\(top level\)"),
    ):
        with pytest.raises(InputError, match=rf"--json: result {key} is .*not a finite number"):
            jsonout.dumps(bad)
