"""Warm kernels (report/kernels.py): a section's outputs are the same whether it runs alone in a
fresh kernel or first or last in a warm one; a kernel is reused only while that is safe."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec

from gpucompare import params
from gpucompare.core import paths
from gpucompare.report import execute as ex
from gpucompare.report import forkserver, kernels
from tests.tiny_sections import write_section

KEY = "inputs-a"


def _dump(nb: nbformat.NotebookNode) -> str:
    return json.dumps(nb, sort_keys=True)


def _section(folder: Path, name: str, code: str) -> ex.Section:
    """A section whose last cell runs ``code`` (after a parameters cell declaring ``years``)."""
    write_section(folder, name, Path(name).stem.split("_", 1)[1].title(), "years: float = 3")
    path = folder / name
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(code))
    nbformat.write(nb, path)
    return next(s for s in ex.discover(folder) if s.path.name == name)


#: What a section can see of the kernel it runs in: the names defined, the execution counter.
LOOK = (
    "print(sorted(k for k in globals() if not k.startswith('_') and k not in "
    "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open')))\n"
    "print(get_ipython().execution_count)"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, ex.Section]:
    folder = tmp_path_factory.mktemp("tiny")
    return {
        "leaks": _section(folder, "01_leaks.ipynb", "leak = 42\nimport json as also_a_name"),
        "looks": _section(folder, "02_looks.ipynb", LOOK),
        "fails": _section(folder, "03_fails.ipynb", "raise ValueError('on purpose')"),
    }


def test_a_name_left_by_one_section_is_not_seen_by_the_next(tiny, tmp_path):
    values = {"years": 5}
    alone = ex.execute(tiny["looks"], values, tmp_path / "alone.ipynb", 60)
    with kernels.KernelPool(1) as pool:
        ex.execute(tiny["leaks"], values, tmp_path / "a.ipynb", 60, pool, KEY)
        after = ex.execute(tiny["looks"], values, tmp_path / "b.ipynb", 60, pool, KEY)
        # One kernel ran both: the second section really was in a used kernel.
        assert (pool.started, pool.reused) == (1, 1)
    assert _dump(after) == _dump(alone)
    # Hand-read: a fresh kernel defines only the parameter (years); of the 4 code cells
    # (parameters, injected parameters, print, look) the last runs as execution 4, and IPython
    # has advanced its counter to the next one, 5, before the cell's code runs.
    printed = after.cells[-1].outputs[0]["text"].split("\n")
    assert printed[:2] == ["['years']", "5"]


def test_a_kernel_whose_section_failed_is_not_reused(tiny, tmp_path):
    with kernels.KernelPool(1) as pool:
        with pytest.raises(Exception, match="on purpose"):
            ex.execute(tiny["fails"], {"years": 1}, tmp_path / "f.ipynb", 60, pool, KEY)
        ex.execute(tiny["looks"], {"years": 1}, tmp_path / "l.ipynb", 60, pool, KEY)
        assert (pool.started, pool.reused) == (2, 0)


def test_a_kernel_started_for_other_inputs_is_replaced(tiny, tmp_path):
    with kernels.KernelPool(1) as pool:
        ex.execute(tiny["looks"], {"years": 1}, tmp_path / "1.ipynb", 60, pool, KEY)
        first = pool._idle[0]
        ex.execute(tiny["looks"], {"years": 1}, tmp_path / "2.ipynb", 60, pool, "inputs-b")
        assert (pool.started, pool.reused) == (2, 0)
        assert not first.km.is_alive()


def test_closing_the_pool_stops_its_kernels(tiny, tmp_path):
    pool = kernels.KernelPool(2)
    ex.execute(tiny["looks"], {"years": 1}, tmp_path / "1.ipynb", 60, pool, KEY)
    kernel = pool._idle[0]
    assert kernel.km.is_alive()
    pool.close()
    assert not kernel.km.is_alive()
    assert not Path(kernel.sockets.name).exists()


#: Report sections that read parameters of several kinds (GPU list, model, prices, workloads).
REAL = ["01_specs", "02_memory", "06_tco"]


def test_real_sections_are_the_same_alone_first_and_last_in_a_warm_kernel(tmp_path):
    sections = {s.stem: s for s in ex.discover() if s.stem in REAL}
    assert sorted(sections) == REAL
    # A scenario that is not the default, so nothing can come from a notebook's own defaults.
    values = params.make(price_usd={"rtx-4090": 2222}).model_dump(mode="json")
    alone = {
        n: _dump(ex.execute(sections[n], values, tmp_path / f"alone-{n}.ipynb", 300)) for n in REAL
    }
    with kernels.KernelPool(1) as pool:
        for order in (REAL, REAL[::-1]):  # each section first once and last once
            for n in order:
                warm = ex.execute(sections[n], values, tmp_path / f"w-{n}.ipynb", 300, pool, KEY)
                assert _dump(warm) == alone[n], f"{n} differs in a warm kernel ({order})"
        assert (pool.started, pool.reused) == (1, 2 * len(REAL) - 1)


def test_a_dead_kernel_is_replaced_not_waited_for(tiny, tmp_path):
    with kernels.KernelPool(1) as pool:
        ex.execute(tiny["looks"], {"years": 1}, tmp_path / "1.ipynb", 60, pool, KEY)
        dead = pool._idle[0]
        dead.km.signal_kernel(signal.SIGKILL)  # it dies (out of memory, say)
        deadline = time.monotonic() + 30
        while dead.km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        ex.execute(tiny["looks"], {"years": 1}, tmp_path / "2.ipynb", 60, pool, KEY)
        assert (pool.started, pool.reused) == (2, 0)


def test_a_kernel_is_replaced_after_its_share_of_sections(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(kernels, "MAX_SECTIONS_PER_KERNEL", 2)
    with kernels.KernelPool(1) as pool:
        for n in range(3):
            ex.execute(tiny["looks"], {"years": 1}, tmp_path / f"{n}.ipynb", 60, pool, KEY)
        # Sections 1 and 2 in the first kernel, the third in a new one.
        assert (pool.started, pool.reused) == (2, 1)


def test_kernels_started_ahead_are_handed_out_fresh(tiny, tmp_path):
    with kernels.KernelPool(2) as pool:
        pool.prestart(KEY, 5)  # no more than the pool's size
        first = ex.execute(tiny["looks"], {"years": 5}, tmp_path / "1.ipynb", 60, pool, KEY)
        ex.execute(tiny["looks"], {"years": 5}, tmp_path / "2.ipynb", 60, pool, KEY)
        # Two started ahead and none on demand (started counts both, once the second is up: the
        # two runs may end before it is); the first run got a fresh one as it was (not reset), the
        # second went back to the kernel that ran the section (reset once).
        for thread in pool._starting:
            thread.join(60)
        assert (pool.started, pool.reused) == (2, 1)
    alone = ex.execute(tiny["looks"], {"years": 5}, tmp_path / "alone.ipynb", 60)
    assert _dump(first) == _dump(alone)


def test_closing_while_kernels_start_leaves_none_running(tmp_path):
    pool = kernels.KernelPool(2)
    managers = []
    real = kernels.start_kernel

    def recording(key, spawned):
        return real(key, lambda km: (managers.append(km), spawned(km)))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels, "start_kernel", recording)
        pool.prestart(KEY, 2)
        pool.close()  # stops the starts under way; a start that ended first is shut down
    assert pool._idle_kernel() is None and pool._count == 0 and not pool._spawned
    assert managers and not any(km.is_alive() for km in managers)


def test_closing_stops_a_kernel_that_never_answers(monkeypatch):
    """A kernel that does not answer (here a process that only sleeps) would hold ``close`` for
    :data:`~gpucompare.report.kernels.START_TIMEOUT_S` (60 s), and with it Ctrl-C in the preview;
    ``close`` stops its process instead, and its start fails and cleans up."""

    def never_ready(self, name):
        sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
        return KernelSpec(argv=sleeper, display_name="sleeper", language="python")

    monkeypatch.setattr(kernels._KernelSpecs, "get_kernel_spec", never_ready)
    pool = kernels.KernelPool(1)
    pool.prestart(KEY, 1)
    deadline = time.monotonic() + 30
    while not pool._spawned and time.monotonic() < deadline:
        time.sleep(0.02)
    (km,) = pool._spawned
    assert km.is_alive()
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 10 < kernels.START_TIMEOUT_S
    assert not km.is_alive()
    assert pool.started == 0 and pool._count == 0 and not pool._spawned


def test_a_section_goes_back_to_the_kernel_that_ran_it(tiny, tmp_path):
    # Its in-process memos (the planner's answers) are in that kernel: a price edit in the preview
    # runs the same sections again.
    with kernels.KernelPool(2) as pool:
        pool.prestart(KEY, 2)
        while pool.started < 2:
            time.sleep(0.05)
        ex.execute(tiny["looks"], {"years": 1}, tmp_path / "1.ipynb", 60, pool, KEY)
        # The other kernel is now the longest idle; the section still returns to the first.
        ex.execute(tiny["looks"], {"years": 2}, tmp_path / "2.ipynb", 60, pool, KEY)
        runs = sorted(k.sections_run for k in pool._idle)
        assert runs == [0, 2]
        assert [k.ran for k in pool._idle if k.sections_run] == [{"02_looks"}]


#: A cell that plans a small service with engine ENGINE and prints the number of options.
PLANS = (
    "from gpucompare import params\n"
    "from gpucompare.model import plan\n"
    "load = plan.Load('llama-2-7b', 'fp16', 'fp16', 2.0, 1000, 200, 1000.0, 50.0)\n"
    "print(len(plan.plan(params.make(engine='{engine}'), load, ['h100-sxm'])['options']))"
)


def test_a_warm_kernel_saves_the_planners_answers_after_each_cell(tmp_path, monkeypatch):
    """The warm-up's hook writes the planner's new answers to the disk cache as a cell ends (the
    pool kills its kernels: nothing runs at their exit), in a kernel reset by the pool too, and
    shows nothing: the section's outputs are a fresh kernel's."""
    folder = tmp_path / "sections"
    folder.mkdir()
    vllm = _section(folder, "01_vllm.ipynb", PLANS.format(engine="vllm"))
    sglang = _section(folder, "02_sglang.ipynb", PLANS.format(engine="sglang"))
    values = {"years": 3}
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "alone-cache"))
    alone = ex.execute(vllm, values, tmp_path / "alone.ipynb", 120)
    cache = tmp_path / "cache"
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(cache))  # the kernels started next inherit it
    with kernels.KernelPool(1) as pool:
        warm = ex.execute(vllm, values, tmp_path / "vllm.ipynb", 120, pool, KEY)
        assert len(list((cache / "plan").glob("*.json"))) == 1
        ex.execute(sglang, values, tmp_path / "sglang.ipynb", 120, pool, KEY)  # after a reset
        assert len(list((cache / "plan").glob("*.json"))) == 2
        assert (pool.started, pool.reused) == (1, 1)
    assert _dump(warm) == _dump(alone)


def test_the_pool_loads_no_papermill_nor_nbformat():
    # The command line starts its kernels (~1-2 s) before it loads the rest of the report stack
    # (~0.4 s): the two overlap only if the pool's module does not load it first.
    import subprocess
    import sys

    code = (
        "import sys, gpucompare.report.kernels\n"
        "print(sorted(m for m in ('papermill', 'nbformat', 'nbconvert') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("fork", [False, True], ids=["new-interpreter", "forked"])
def test_the_pools_kernels_run_without_the_debugger(fork):
    """ipykernel loads debugpy (~0.3 s a kernel) unless ``import debugpy`` fails; the pool's kernels
    start through :mod:`gpucompare.report.kernel_launcher`, or as forks of the kernel server
    (:mod:`gpucompare.report.forkserver`), where it does. debugpy is installed here (ipykernel
    requires it), so its absence in the kernel is the launcher's doing. That the sections' outputs
    are those of a stock kernel is
    :func:`test_real_sections_are_the_same_alone_first_and_last_in_a_warm_kernel`."""
    import importlib.util

    from jupyter_core.utils import run_sync

    assert importlib.util.find_spec("debugpy") is not None
    kernel = kernels.start_kernel(KEY, fork=fork)
    try:
        started_as = kernel.km.kernel_spec.argv
        if fork:
            assert started_as[1:3] == ["-S", str(forkserver.LAUNCHER)]
        else:
            assert started_as[1:3] == ["-m", "gpucompare.report.kernel_launcher"]
        kernel.run_silently("import sys\nassert sys.modules.get('debugpy') is None")
        msg_id = kernel.kc.kernel_info()
        while True:
            reply = run_sync(kernel.kc.get_shell_msg)(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok"
        assert "debugger" not in reply["content"]["supported_features"]
    finally:
        kernel.close()
