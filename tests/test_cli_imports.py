"""The one-line commands (``memory``, ``cost``, ``throughput``, ``plan``) answer without loading the
report stack, the plotting library or, once their caches are warm, scipy and the data checks
(issue 21, docs/performance.md); ``memory`` answers from the catalogs alone, without pandas or
numpy, and ``cost``, ``throughput`` and ``plan`` from the cached fit without pandas. Deterministic: the modules loaded are read from ``sys.modules`` of a fresh interpreter, not
timed (on this shared machine a timing would measure the other jobs as much as the command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Never loaded by a one-line command: the notebook and page stack, plotting, the kernel client.
NEVER = (
    "matplotlib",
    "papermill",
    "nbconvert",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "jinja2",
    "itables",
)
#: Not loaded once the caches are warm: the least squares of the calibration fit, the
#: preflight's data checks with the audit they load (remembered by report.cache.checked), and the
#: YAML parser (every document comes from the parsed-YAML cache, core/yamlcache.py).
WARM_NEVER = (
    "scipy",
    "yaml",
    "gpucompare.report.preflight",
    "gpucompare.audit",
    "gpucompare.data.checkdata",
)

#: Not loaded by the commands named once the caches are warm: tables and arrays (0.3-0.5 s to
#: import here). ``cost``, ``throughput`` and ``plan`` evaluate the calibrated model, which needs
#: numpy, and read the cached calibration as plain columns (a fit computed cold needs pandas).
LIGHT = {
    "memory": ("pandas", "numpy"),
    "cost": ("pandas",),
    "throughput": ("pandas",),
    "plan": ("pandas",),
}

COMMANDS = {
    "memory": ["memory", "--model", "llama-2-7b", "--gpu", "h100-sxm"],
    "cost": ["cost", "--model", "llama-2-7b", "--gpu", "h100-sxm"],
    "throughput": ["throughput", "--model", "llama-2-7b", "--gpu", "h100-sxm"],
    "plan": [
        "plan",
        "--model",
        "llama-2-7b",
        "--requests-per-s",
        "2",
        "--prompt-tokens",
        "1000",
        "--output-tokens",
        "200",
        "--ttft-ms",
        "1000",
        "--tpot-ms",
        "50",
        "--gpus",
        "h100-sxm,rtx-4090",
    ],
}

_PROBE = """
import json, sys
from gpucompare.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("\\nLOADED " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(args: list[str], cache_dir) -> tuple[int, set[str]]:
    env = {**os.environ, "GPUCOMPARE_CACHE_DIR": str(cache_dir)}
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout.rsplit("LOADED ", 1)[1])
    return doc["code"], set(doc["modules"])


def _hits(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """One cache folder for the module: each command's first run fills it."""
    return tmp_path_factory.mktemp("warm-cache")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_one_line_commands_load_no_heavy_module(name, warm_cache):
    light = LIGHT.get(name, ())
    code, cold = _loaded(COMMANDS[name], warm_cache)  # may fit and check: caches empty
    assert code == 0
    assert _hits(cold, NEVER) == []
    code, warm = _loaded(COMMANDS[name], warm_cache)
    assert code == 0
    assert _hits(warm, NEVER + WARM_NEVER + light) == []


def test_the_probe_sees_a_heavy_import(tmp_path):
    """The check can fail: ``check-data`` loads the data checks, the audit and, for the measurement
    tables, pandas and numpy."""
    code, loaded = _loaded(["check-data"], tmp_path)
    assert code == 0
    assert "gpucompare.data.checkdata" in loaded and "gpucompare.audit" in loaded
    assert _hits(loaded, ("pandas", "numpy")) == ["numpy", "pandas"]
