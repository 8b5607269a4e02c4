"""Shared fixtures: the repository root, a runner for the CLI in a subprocess, and the reports
that several test modules read, built once per test session (also across pytest-xdist workers)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The RTX 4090 price of the one non-default report the tests share (:func:`price_report`): the
#: build tests read it, and the browser's scenario comparison compares the default against it.
SHARED_RTX4090_PRICE = 2500


#: The test files that take longest (docs/test-speed.md), run first, in this order; the rest follow
#: in their usual order. Under pytest-xdist (`make test`) each file, or each group of
#: :data:`XDIST_GROUPS`, goes to one worker as a whole, so a long one started last would leave the
#: other workers idle at the end. The browser tests come first: they start the default build
#: (:func:`default_report`) that the build tests' report then takes its unchanged sections from.
SLOW_FIRST = (
    "tests/test_browser.py",
    "tests/test_valid_params.py",
    "tests/test_scenarios.py",
    "tests/test_new_gpus.py",
    "tests/model/test_calibration.py",
    "tests/test_failures.py",
    "tests/test_build.py",
    "tests/test_preview.py",
    "notebooks/03_gemm.ipynb",
    "tests/test_bad_input.py",
    "tests/test_page_cache.py",
    "tests/data/test_checkdata.py",
)

#: Files that must share one worker under pytest-xdist (``--dist loadgroup``); every other file is
#: a group of its own (as ``--dist loadfile``: a file's module fixtures are set up once, a notebook's
#: cells run in order in one kernel). These run the section code in the test process, and with it
#: the calibration's cross-validation (about 20 s, computed once per process).
XDIST_GROUPS = dict.fromkeys(
    (
        "tests/test_valid_params.py",
        "tests/test_scenarios.py",
        "tests/test_new_gpus.py",
        "tests/model/test_calibration.py",
        "tests/sections/test_figures.py",
        "tests/sections/test_prose.py",
    ),
    "cross-validation",
)


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        action="store_true",
        help="save a full-page screenshot of every page the browser tests open "
        "(tests/test_browser.py; the folders are printed, see them with -rA): ~35 s more",
    )


def pytest_collection_modifyitems(config, items):
    """Long files first (:data:`SLOW_FIRST`); the order within a file is kept."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: the groups of :data:`XDIST_GROUPS`, each other file a group, given to
    the workers whole in collection order. (pytest-xdist's own loadgroup reads ``xdist_group``
    marks into the test ids, which pytest 9 no longer lets it change.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return XDIST_GROUPS.get(path, path)

    return FileGroupScheduling(config, log)


#: Seconds a kernel server started by a test waits idle before it ends (the default is minutes).
KERNEL_SERVER_IDLE_S = 20
KERNEL_SERVER_IDLE_ENV = "GPUCOMPARE_KERNEL_SERVER_IDLE_S"
#: Calibration fits and cross-validations kept between test sessions in pytest's own cache folder
#: (``.pytest_cache/d/gpucompare-fits``). Their keys hash every data file, the library's code and
#: the versions, so an entry is exact or never found: seeding a session's cache from there skips
#: a 10-20 s cross-validation in every session after the first (a clean clone computes it once).
FITS_KEPT = "gpucompare-fits"
#: Entries kept there at most (the least recently written go first).
FITS_KEPT_MAX = 16
_SHA_JSON = re.compile(r"^[0-9a-f]{64}\.json$")


def _kept_fits(config) -> Path | None:
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    return None if cache is None else Path(cache.mkdir(FITS_KEPT))


def pytest_configure(config):
    """Builds made by the tests (in-process and in subprocesses) keep their cache in a folder of
    the test session, never in the project's ``reports/.gpucompare-cache/``; its ``fits/`` starts
    with the fits kept by earlier sessions (:data:`FITS_KEPT`)."""
    # Kernel servers started by the tests' builds (report/forkserver.py) end soon after their last
    # use: builds with other data start servers of their own, which this session does not stop.
    os.environ.setdefault(KERNEL_SERVER_IDLE_ENV, str(KERNEL_SERVER_IDLE_S))
    if "GPUCOMPARE_CACHE_DIR" not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="gpucompare-test-cache-"))
        os.environ["GPUCOMPARE_CACHE_DIR"] = str(folder)
        config.gpucompare_session_cache = folder
        kept = _kept_fits(config)
        if kept is not None:
            (folder / "fits").mkdir()
            for entry in kept.iterdir():
                if _SHA_JSON.match(entry.name):
                    shutil.copy2(entry, folder / "fits" / entry.name)


def pytest_unconfigure(config):
    """Stop the kernel servers the session's builds started (they would otherwise stay idle for
    minutes, report/forkserver.py) and keep the session's fits for the next session (the
    controller only, under pytest-xdist)."""
    folder = getattr(config, "gpucompare_session_cache", None)
    if folder is not None:
        from gpucompare.report import forkserver

        forkserver.stop_servers()
    kept = _kept_fits(config) if folder is not None else None
    if kept is None or not (folder / "fits").is_dir():
        return
    for entry in (folder / "fits").iterdir():
        if _SHA_JSON.match(entry.name):
            shutil.copy2(entry, kept / entry.name)
    entries = sorted(
        (e for e in kept.iterdir() if _SHA_JSON.match(e.name)), key=lambda e: e.stat().st_mtime_ns
    )
    for entry in entries[:-FITS_KEPT_MAX]:
        entry.unlink()


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's own temp folder, or under pytest-xdist the folder all workers share (each
    worker's ``getbasetemp()`` is ``<shared>/popen-gwN``)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _once_per_session(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    build: Callable[[Path], dict],
    after: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """``build(out)`` into ``<shared>/<name>/latest`` once per test session: under pytest-xdist the
    first worker to ask builds while the others wait on a file lock, then read what it recorded
    (pytest-xdist's "Making session-scoped fixtures execute only once"). A failed build is recorded
    too, so that every worker fails at once with its message instead of building again. With
    ``after``, the name of another shared build that a worker is making right now, this one waits
    for it, so that it takes their common sections from the build cache instead of running them
    at the same time (a build nobody started is not waited for, nor made)."""
    root = _shared_root(tmp_path_factory)
    record = root / f"{name}.json"
    out = root / name / "latest"

    def make() -> dict[str, Any]:
        try:
            result = {"out": str(out), "manifest": build(out)}
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        record.write_text(json.dumps(result), encoding="utf-8")
        return result

    if os.environ.get("PYTEST_XDIST_WORKER"):
        from filelock import FileLock

        if after and (root / f"{after}.json.lock").exists():
            with FileLock(root / f"{after}.json.lock"):
                pass
        with FileLock(f"{record}.lock"):
            done = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else make()
    else:
        done = make()
    if "error" in done:
        pytest.fail(f"the shared {name} build failed: {done['error']}", pytrace=False)
    return Path(done["out"]), done["manifest"]


@pytest.fixture(scope="session")
def default_report(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """``(folder, manifest)`` of the default report, built once per session, with ``report.pdf``
    when headless Chromium is installed (tests/test_browser.py reads it). Shared: read it, never
    build into it or write beside it."""
    from gpucompare.report import build, pdf

    chromium = pdf.find_chromium() is not None
    return _once_per_session(
        tmp_path_factory,
        "default-report",
        lambda out: build.build(out, jobs=os.cpu_count(), pdf=chromium),
    )


@pytest.fixture(scope="session")
def price_report(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """``(folder, manifest)`` of the report with one parameter changed from the defaults (the RTX
    4090's price, :data:`SHARED_RTX4090_PRICE`), no PDF, built once per session. Its sections and
    the whole report stay in the session's build cache, so the browser's scenario comparison of
    the same price restores it instead of building again. Shared: copy it before changing it."""
    from gpucompare.report import build

    return _once_per_session(
        tmp_path_factory,
        "price-report",
        lambda out: build.build(
            out, sets=[f"price_usd.rtx-4090={SHARED_RTX4090_PRICE}"], jobs=os.cpu_count()
        ),
        after="default-report",
    )


@pytest.fixture
def run_cli():
    """Run ``python -m gpucompare ARGS`` and return the CompletedProcess (text mode)."""

    def _run(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gpucompare", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run


@pytest.fixture
def round_params():
    """Cost parameters in round numbers, so that the hand calculations of the cost tests are easy
    to follow (tests/model/test_tco.py, test_cost.py, tests/sections/test_tco.py)."""
    from gpucompare import params

    return params.make(
        gpus=["h100-sxm", "rtx-4090"],
        price_usd={"h100-sxm": 30000, "rtx-4090": 1800},
        electricity_usd_per_kwh=0.10,
        pue=1.5,
        utilization=0.5,
        years=3,
        host_usd_per_gpu={"datacenter": 8000, "workstation": 2000, "consumer": 1000},
        server_host_usd_per_gpu={"datacenter": 8000, "workstation": 4000, "consumer": 4000},
        desktop_host_max_gpus=2,
        busy_power_fraction=0.9,
        idle_power_fraction=0.1,
        resale_fraction=0.2,
        cloud_usd_per_gpu_hour={"h100-sxm": 2.5, "rtx-4090": 0.5},
    )
