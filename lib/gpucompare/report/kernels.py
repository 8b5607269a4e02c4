"""Warm kernels: a pool of IPython kernels, started once with the library imported, that run one
section after another; a one-shot build uses it for its own sections and ``gpucompare preview``
keeps it between rebuilds.

Why: a fresh kernel per section spends a second or more starting and two more importing pandas,
matplotlib and the library before the section's own work begins (docs/performance.md). A warm
kernel skips both.

Isolation: before each section the kernel's namespace is emptied and its execution counter set
back to 1 (``InteractiveShell.reset(new_session=True)``, run silently, so it counts nothing), so
a section sees what it would in a fresh kernel: no name defined by another section, the same
execution counts. Modules stay imported: the library keeps no state between calls other than
caches of what it read from ``data/`` and memos of its answers (pure functions of the files and
the parameters), and a kernel is never reused after the data or the library's code changed (its
:attr:`WarmKernel.key` is the build's inputs fingerprint), after a section failed in it (a
half-run cell may leave anything behind), after a timeout, when it died, or after
:data:`MAX_SECTIONS_PER_KERNEL` sections. ``tests/test_kernels.py`` checks that a section's
outputs are the same run alone in a fresh kernel, or first or last in a warm one.

Execution goes through papermill as before (parameters injected the same way, the same errors)
with an engine (:mod:`gpucompare.report.execute`) that hands nbclient the pool's kernel manager
*and* client: nbclient then neither starts nor stops anything, and no client is left with its
channels open after each section (what papermill's own ``km=`` argument does). This module imports
jupyter_client only, not papermill or nbformat (~0.3 s more): a build starts its kernels before it
loads the rest of the report stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from traitlets.config import Config

from gpucompare.report import forkserver, handshake

#: Seconds to wait for a kernel to start and answer (papermill's own default).
START_TIMEOUT_S = 60
#: Seconds to wait for the reset between sections and for the warm-up imports.
SETUP_TIMEOUT_S = 120
#: Sections one kernel runs before it is replaced: the library's caches of what it read are
#: bounded per function, but a preview runs for hours; a new kernel costs ~2 s now and then.
MAX_SECTIONS_PER_KERNEL = 200
#: Seconds between two looks for a kernel when all are busy (one may be discarded, not returned).
WAIT_S = 0.1
#: Seconds between two checks that a kernel running setup code is still alive: a kernel that died
#: (or that :meth:`KernelPool.close` stopped) is known within this, not at the setup timeout.
ALIVE_CHECK_S = 0.25
#: Run in a new kernel, silently: import every module a section imports, so that no section pays
#: for it (no data is read, nothing is computed). And after every cell, write the planner's new
#: answers and the YAML documents parsed to the disk cache (:func:`gpucompare.model.plan.save_memo`,
#: :func:`gpucompare.core.caches.flush`; nothing to do is free): the pool kills its kernels,
#: so nothing would run at their exit. The hook is the shell's, so
#: :data:`RESET` keeps it, and it reads nothing from the namespace that the reset empties (its
#: defaults hold what it calls); a failure to save is no section's business, so it shows nothing.
WARM_UP = """\
import importlib as _il, pkgutil as _pu
import gpucompare.sections as _s
for _m in _pu.iter_modules(_s.__path__, _s.__name__ + "."):
    _il.import_module(_m.name)
def _save_caches(
    result=None,
    saves=(
        _il.import_module("gpucompare.model.plan").save_memo,
        _il.import_module("gpucompare.core.caches").flush,
    ),
    quietly=_il.import_module("contextlib").suppress,
):
    for save in saves:
        with quietly(Exception):
            save()
get_ipython().events.register("post_run_cell", _save_caches)
"""
#: Run silently before each section: the namespace a fresh kernel has, execution counts from 1.
#: IPython's reset flushes its output cache with a full ``gc.collect()`` (0.1-0.2 s in a kernel
#: holding pandas and matplotlib, every section); the collector runs on its own anyway, so that
#: one call is skipped. The function's defaults keep what it needs through the reset, which
#: empties the namespace it was defined in.
RESET = """\
def _reset(gc=__import__("gc"), shell=get_ipython()):
    collect, gc.collect = gc.collect, lambda generation=2: 0
    try:
        shell.reset(new_session=True)
    finally:
        gc.collect = collect
_reset()
"""
#: What nbclient passes a kernel it starts itself: history in memory, not in ``~/.ipython``.
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]


#: The kernel the pool starts: ipykernel's, through :mod:`gpucompare.report.kernel_launcher`
#: (no debugger: ~0.25 s less CPU per kernel), in this interpreter, as the ``python3`` kernel of this
#: environment is.
KERNEL_NAME = "gpucompare-python3"


#: The command of a kernel started as a new interpreter.
KERNEL_ARGV = [sys.executable, "-m", "gpucompare.report.kernel_launcher", "-f", "{connection_file}"]


class _KernelSpecs(KernelSpecManager):
    """The installed kernel specs, and :data:`KERNEL_NAME` (defined here, never installed), whose
    command is ``argv``: a new interpreter (:data:`KERNEL_ARGV`) or a fork of the fork server
    (:meth:`gpucompare.report.forkserver.ForkServer.kernel_argv`)."""

    def __init__(self, argv: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.kernel_argv = list(argv)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name != KERNEL_NAME:
            return super().get_kernel_spec(kernel_name)
        return KernelSpec(
            argv=self.kernel_argv,
            display_name="Python 3",
            language="python",
            interrupt_mode="signal",
            metadata={"debugger": False},
        )


class KernelSetupError(RuntimeError):
    """The reset or warm-up code failed in a kernel (its message says which and why)."""


@dataclass(eq=False)
class WarmKernel:
    """One started kernel, its client, and the inputs fingerprint it was started for."""

    key: str
    km: KernelManager
    kc: object
    sockets: tempfile.TemporaryDirectory
    sections_run: int = 0
    #: The sections it ran (the pool hands it out again for those first).
    ran: set[str] = field(default_factory=set)

    def run_silently(self, code: str, timeout_s: float = SETUP_TIMEOUT_S) -> None:
        """Execute ``code`` without counting it or showing anything; raise if it fails, if the
        kernel dies meanwhile, or after ``timeout_s`` without an answer."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout_s
        try:
            while (
                reply := handshake.next_message(
                    self.km, self.kc.get_shell_msg, deadline, ALIVE_CHECK_S
                )
            ) is not None:
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            else:
                raise KernelSetupError(f"no answer to setup code within {timeout_s} s")
        except handshake.KernelDied:
            raise KernelSetupError("the kernel died while running setup code") from None
        content = reply["content"]
        if content.get("status") != "ok":
            raise KernelSetupError(
                f"kernel setup code failed: {content.get('ename')}: {content.get('evalue')}"
            )

    def close(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        finally:
            self.sockets.cleanup()


def kernel_config(socket_dir: Path) -> Config:
    """The kernel manager's configuration: the kernel talks to this process over Unix sockets in
    ``socket_dir`` (ZeroMQ's ``ipc`` transport) rather than TCP on localhost, where ipykernel warns
    on every start that its traffic is unencrypted ("Kernel is running over TCP without
    encryption") and where two kernels of a parallel build can race for a port. Each kernel gets
    its own folder: kernels sharing the default socket name ``kernel-ipc`` in the working
    directory would connect to each other's sockets. Where Unix sockets are unavailable
    (Windows), TCP as before."""
    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(socket_dir / "kernel")}})


def start_kernel(
    key: str, spawned: Callable[[KernelManager], None] | None = None, fork: bool = True
) -> WarmKernel:
    """Start a kernel (Unix-socket transport, :func:`kernel_config`), wait until it answers, and
    import the library in it. With ``fork``, it is a fork of the kernel server for ``key``
    (:mod:`gpucompare.report.forkserver`) where there can be one; a new interpreter where there
    cannot, or when the forked kernel does not come up. ``spawned`` is called with its manager as
    soon as its process exists (:class:`KernelPool` stops a kernel still starting when it
    closes)."""
    server = forkserver.connect(key) if fork else None
    if server is not None:
        try:
            return _start(key, spawned, server.kernel_argv())
        except Exception:
            pass  # a kernel of its own, as without the server
    return _start(key, spawned, KERNEL_ARGV)


def _start(
    key: str, spawned: Callable[[KernelManager], None] | None, argv: list[str]
) -> WarmKernel:
    """:func:`start_kernel` with the kernel's command ``argv``."""
    sockets = tempfile.TemporaryDirectory(prefix="gpucompare-kernel-")
    km = KernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=_KernelSpecs(argv),
        config=kernel_config(Path(sockets.name)),
    )
    try:
        km.start_kernel(extra_arguments=KERNEL_ARGUMENTS)
        if spawned is not None:
            spawned(km)
        handshake.wait_for_sockets(km, START_TIMEOUT_S)
        # An asynchronous client, as nbclient makes for itself: with a blocking one, nbclient's
        # wait for output blocks its event loop, so a cell's timeout never fires.
        kc = AsyncKernelClient(
            **km.get_connection_info(session=True), connection_file=km.connection_file, parent=km
        )
        kc.start_channels()
        handshake.handshake(km, kc, START_TIMEOUT_S, ALIVE_CHECK_S)
        kc.allow_stdin = False
    except BaseException:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        sockets.cleanup()
        raise
    kernel = WarmKernel(key, km, kc, sockets)
    try:
        kernel.run_silently(WARM_UP)
    except BaseException:
        kernel.close()
        raise
    return kernel


class KernelPool:
    """At most ``size`` warm kernels, each used by one section at a time.

    :meth:`take` hands out an idle kernel started for ``key`` (or starts one), preferring one
    that ran the same section before (its in-process memos hold that section's answers: the
    planner's, for a price edit in the preview); :meth:`give_back` returns it after a section,
    :meth:`close` shuts every kernel down. Thread-safe: the build runs sections from a thread
    pool.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._idle: list[WarmKernel] = []  # the longest idle first
        self._lock = threading.Condition()
        self._count = 0
        self._closed = False
        self._starting: list[threading.Thread] = []
        #: The managers of kernels whose start is under way (:meth:`close` stops them).
        self._spawned: set[KernelManager] = set()
        #: Kernels started and sections run over the pool's life (for the tests and the docs).
        self.started = 0
        self.reused = 0

    def prestart(self, key: str, count: int) -> None:
        """Start up to ``count`` kernels for ``key`` in background threads and return at once: they
        start while the caller checks its inputs; :meth:`take` hands them out when ready. A
        kernel that fails to start here is simply not there (``take`` starts one itself)."""
        with self._lock:
            count = max(0, min(count, self.size - self._count))
            self._count += count

        def start() -> None:
            try:
                kernel = self._start(key)
            except Exception:
                return
            with self._lock:
                closed = self._closed
            if closed:
                self._discard(kernel)
            else:
                self._put_idle(kernel)

        for _ in range(count):
            thread = threading.Thread(target=start, name="gpucompare-kernel-start", daemon=True)
            thread.start()
            self._starting.append(thread)

    def take(self, key: str, section: str = "") -> WarmKernel:
        """An idle kernel for ``key`` with a fresh namespace, one that ran ``section`` before if
        there is one: a kernel for other inputs is shut down, and a new one is started while
        fewer than ``size`` exist; otherwise wait for one."""
        while True:
            with self._lock:
                while True:
                    if self._closed:
                        raise RuntimeError("the kernel pool is closed")
                    if self._idle:
                        ran = [k for k in self._idle if section and section in k.ran]
                        kernel = (ran or self._idle)[0]
                        self._idle.remove(kernel)
                        break
                    if self._count < self.size:
                        self._count += 1
                        kernel = None
                        break
                    self._lock.wait(WAIT_S)  # every kernel is busy (or starting)
            if kernel is None:
                return self._start(key)
            if kernel.key != key or not kernel.km.is_alive():
                self._discard(kernel)
                continue
            if kernel.sections_run == 0:
                return kernel  # started ahead (prestart): its namespace is a fresh kernel's
            try:
                kernel.run_silently(RESET)
            except Exception:
                self._discard(kernel)
                continue
            with self._lock:
                self.reused += 1
            return kernel

    def _start(self, key: str) -> WarmKernel:
        """Start a kernel in a place already counted; a failed start gives the place back. The
        kernel's manager is known to :meth:`close` from the moment its process exists until the
        start ends; one that appears after the pool closed is stopped at once."""
        managers: list[KernelManager] = []

        def spawned(km: KernelManager) -> None:
            managers.append(km)
            with self._lock:
                closed = self._closed
                if not closed:
                    self._spawned.add(km)
            if closed:
                _stop_process(km)

        try:
            kernel = start_kernel(key, spawned)
        except BaseException:
            self._release()
            raise
        finally:
            with self._lock:
                self._spawned.difference_update(managers)
        with self._lock:
            self.started += 1
        return kernel

    def _release(self) -> None:
        """One kernel fewer (counted places free one; a waiting :meth:`take` may start one)."""
        with self._lock:
            self._count -= 1
            self._lock.notify_all()

    def _put_idle(self, kernel: WarmKernel) -> None:
        with self._lock:
            self._idle.append(kernel)
            self._lock.notify_all()

    def _idle_kernel(self) -> WarmKernel | None:
        """The longest idle kernel, taken out of the pool (None if none is idle)."""
        with self._lock:
            return self._idle.pop(0) if self._idle else None

    def give_back(self, kernel: WarmKernel, ok: bool, section: str = "") -> None:
        """Return ``kernel`` after ``section``; one whose section failed (or that ran
        :data:`MAX_SECTIONS_PER_KERNEL`) is shut down instead."""
        kernel.sections_run += 1
        if section:
            kernel.ran.add(section)
        with self._lock:
            closed = self._closed
        if ok and not closed and kernel.sections_run < MAX_SECTIONS_PER_KERNEL:
            self._put_idle(kernel)
        else:
            self._discard(kernel)

    def _discard(self, kernel: WarmKernel) -> None:
        self._release()
        kernel.close()

    def close(self) -> None:
        """Shut down every idle kernel; kernels still running a section are shut down when given
        back."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            starting = list(self._spawned)
        # A kernel still starting is not waited for (its start may take up to START_TIMEOUT_S, and
        # Ctrl-C should stop the preview promptly): its process is stopped, so its start fails
        # within about a second (jupyter_client looks for the first answer once a second, the
        # setup code every ALIVE_CHECK_S) and its thread cleans up and ends.
        for km in starting:
            _stop_process(km)
        for thread in self._starting:
            thread.join()
        idle = []
        while (kernel := self._idle_kernel()) is not None:
            idle.append(kernel)
        # Together: shutting one down waits ~0.15 s for its process to end.
        stopping = [threading.Thread(target=self._discard, args=(k,)) for k in idle]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stop_process(km: KernelManager) -> None:
    """SIGKILL the kernel process of ``km`` (from any thread); its own start then fails and shuts
    it down. A process already gone is no error."""
    with contextlib.suppress(Exception):
        km.signal_kernel(signal.SIGKILL)
