"""The kernel server (report/forkserver.py): kernels forked from it behave as kernels of their own
(signals, lifetime, no data read on import), it ends when idle or told to, it is found by what its
imports depend on, and without it kernels start as before. That sections give the same outputs in
forked kernels as in stock ones: tests/test_kernels.py (the pool's kernels are forked)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from jupyter_core.utils import run_sync

from gpucompare.core import paths
from gpucompare.report import forkserver, forkserver_process, kernels

pytestmark = pytest.mark.skipif(not forkserver.supported(), reason="kernels are forked on Linux")


@pytest.fixture
def own_family(monkeypatch):
    """Servers of a family of their own (an environment variable no one else has), told to stop
    at the end: a test that stops or times servers out touches no other test's server."""
    monkeypatch.setenv("GPUCOMPARE_TEST_FAMILY", uuid.uuid4().hex)
    yield forkserver.family_key()
    forkserver.stop_servers()


def _hello(server: forkserver.ForkServer) -> dict | None:
    return forkserver._ask(server.socket_path, {"op": "hello"})


def _pid_of_kernel(kernel: kernels.WarmKernel, tmp_path: Path) -> int:
    """The kernel's own process id (its manager knows only the launcher's)."""
    out = tmp_path / f"pid-{uuid.uuid4().hex}"
    kernel.run_silently(f"import os\nopen({str(out)!r}, 'w').write(str(os.getpid()))")
    return int(out.read_text())


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A forked kernel is the server's child: a zombie until the server reaps it.
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


def test_a_pool_kernel_is_a_fork_of_the_server(own_family, tmp_path):
    server = forkserver.connect("inputs-a")
    assert server is not None
    facts = _hello(server)
    kernel = kernels.start_kernel("inputs-a")
    try:
        assert kernel.km.kernel_spec.argv[:3] == [sys.executable, "-S", str(forkserver.LAUNCHER)]
        parent = tmp_path / "ppid"
        kernel.run_silently(f"import os\nopen({str(parent)!r}, 'w').write(str(os.getppid()))")
        assert int(parent.read_text()) == facts["pid"]
        # The kernel runs in the working directory and environment of the process that asked.
        env = tmp_path / "env.json"
        kernel.run_silently(
            f"import json, os\nopen({str(env)!r}, 'w').write(json.dumps("
            "[os.getcwd(), os.environ.get('GPUCOMPARE_TEST_FAMILY')]))"
        )
        assert json.loads(env.read_text()) == [os.getcwd(), os.environ["GPUCOMPARE_TEST_FAMILY"]]
    finally:
        kernel.close()


def test_killing_the_launcher_ends_the_kernel(own_family, tmp_path):
    """jupyter_client kills the launcher (SIGKILL cannot be passed on): the kernel must end too."""
    kernel = kernels.start_kernel("inputs-a")
    try:
        pid = _pid_of_kernel(kernel, tmp_path)
        assert pid != kernel.km.provisioner.process.pid
        kernel.km.provisioner.process.kill()
        assert _gone(pid, within_s=10)
    finally:
        kernel.close()


def test_an_interrupt_reaches_the_forked_kernel(own_family):
    kernel = kernels.start_kernel("inputs-a")
    try:
        msg_id = kernel.kc.execute("import time\ntime.sleep(60)")
        time.sleep(0.5)
        started = time.monotonic()
        kernel.km.interrupt_kernel()
        while True:
            reply = run_sync(kernel.kc.get_shell_msg)(timeout=20)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - started < 10
    finally:
        kernel.close()


def test_closing_the_kernel_ends_its_process(own_family, tmp_path):
    kernel = kernels.start_kernel("inputs-a")
    pid = _pid_of_kernel(kernel, tmp_path)
    kernel.close()
    assert _gone(pid, within_s=10)


def test_the_server_ends_when_idle_and_cleans_up(own_family, monkeypatch):
    monkeypatch.setenv(forkserver.IDLE_ENV, "1")
    server = forkserver.connect("inputs-idle")
    assert server is not None and _hello(server) is not None
    note = server.socket_path.with_suffix(".json")
    assert json.loads(note.read_text())["family"] == own_family
    deadline = time.monotonic() + 15
    while server.socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server.socket_path.exists()
    assert not note.exists()
    assert _hello(server) is None


def test_stop_servers_stops_its_family_only(own_family, monkeypatch):
    ours = forkserver.connect("inputs-stop")
    monkeypatch.setenv("GPUCOMPARE_TEST_FAMILY", uuid.uuid4().hex)
    theirs = forkserver.connect("inputs-stop")
    assert ours is not None and theirs is not None and ours.socket_path != theirs.socket_path
    try:
        assert forkserver.stop_servers(own_family) == 1
        deadline = time.monotonic() + 10
        while _hello(ours) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _hello(ours) is None
        assert _hello(theirs) is not None
    finally:
        forkserver.stop_servers()


def test_a_server_for_other_inputs_is_told_to_stop(own_family, monkeypatch):
    """An edited data file makes new inputs: the new server tells the old one (same family) to
    end once idle for :data:`forkserver.STALE_GRACE_S` seconds (0 here)."""
    monkeypatch.setattr(forkserver, "STALE_GRACE_S", 0.0)
    old = forkserver.connect("inputs-old")
    new = forkserver.connect("inputs-new")
    assert old is not None and new is not None and old.socket_path != new.socket_path
    deadline = time.monotonic() + 10
    while _hello(old) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _hello(old) is None
    assert _hello(new) is not None


def test_the_key_follows_what_imports_may_read(monkeypatch):
    base = forkserver.server_key("inputs")
    assert forkserver.server_key("other inputs") != base
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "another test")  # changes with every test
    monkeypatch.setenv("MAKELEVEL", "1")  # `make report` and the command line share a server
    monkeypatch.setenv("MAKEFLAGS", " -- OUT=reports/q4")  # make report OUT=reports/q4
    monkeypatch.setenv("OUT", "reports/q4")
    monkeypatch.setenv(paths.CACHE_DIR_ENV, "/somewhere/else")  # read on use, not on import
    monkeypatch.setenv(paths.DATA_DIR_ENV, "/other/data")  # its content is in the inputs
    assert forkserver.server_key("inputs") == base
    monkeypatch.setenv("MPLBACKEND", "agg")  # matplotlib reads it when imported
    assert forkserver.server_key("inputs") != base


def test_without_a_server_kernels_start_as_new_interpreters(monkeypatch):
    monkeypatch.setenv(forkserver.IDLE_ENV, "0")
    assert forkserver.connect("inputs-a") is None
    kernel = kernels.start_kernel("inputs-a")
    try:
        assert kernel.km.kernel_spec.argv[1:3] == ["-m", "gpucompare.report.kernel_launcher"]
    finally:
        kernel.close()


def test_a_server_that_does_not_fork_leaves_a_kernel_of_its_own(monkeypatch, tmp_path):
    """A server gone between the question and the fork: the launcher cannot connect, the kernel
    starts as a new interpreter and the build goes on."""
    gone = forkserver.ForkServer(tmp_path / "no-server.sock")
    monkeypatch.setattr(forkserver, "connect", lambda inputs: gone)
    kernel = kernels.start_kernel("inputs-a")
    try:
        assert kernel.km.kernel_spec.argv[1:3] == ["-m", "gpucompare.report.kernel_launcher"]
        kernel.run_silently("x = 1")
    finally:
        kernel.close()


def test_no_server_where_others_can_enter_its_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(forkserver.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"gpucompare-{os.getuid()}"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert forkserver.runtime_dir() is None
    assert forkserver.connect("inputs-a") is None
    folder.chmod(0o700)
    assert forkserver.runtime_dir() == folder


def test_the_server_reads_no_data_and_starts_no_thread_on_import(tmp_path):
    """What the server imports (and so every forked kernel shares) reads nothing under data/ or
    params/: a forked kernel's answers come from files it reads itself. Checked with an audit hook
    on every file opened while importing."""
    code = (
        "import sys, threading\n"
        "opened = []\n"
        "sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == 'open' else None)\n"
        "from gpucompare.report import forkserver_process as server\n"
        "server._preload()\n"
        "from gpucompare.core import paths\n"
        "roots = (str(paths.data_dir().resolve()), str(paths.params_dir().resolve()))\n"
        "print([p for p in opened if p.startswith(roots)])\n"
        "print(threading.active_count())\n"
        "print([m for m in server.NOT_PRELOADED if m in sys.modules])\n"
    )
    env = {**os.environ, "MPLBACKEND": forkserver_process.INLINE_BACKEND}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split("\n")[:3] == ["[]", "1", "[]"]


def test_a_signal_to_the_launcher_is_passed_on(own_family, tmp_path):
    """SIGTERM to the launcher (what jupyter_client sends a kernel it stops gently) ends the
    kernel, which ends the launcher."""
    kernel = kernels.start_kernel("inputs-a")
    try:
        pid = _pid_of_kernel(kernel, tmp_path)
        launcher = kernel.km.provisioner.process
        os.kill(launcher.pid, signal.SIGTERM)
        assert _gone(pid, within_s=10)
        launcher.wait(timeout=10)
    finally:
        kernel.close()
