"""The kernel server's own process (:mod:`gpucompare.report.forkserver` starts it and explains
why): ``python -m gpucompare.report.forkserver_process SOCKET KEY FAMILY IDLE_S NOTE`` detaches,
imports what a kernel imports, listens on the Unix socket ``SOCKET`` and forks a kernel for each
launcher that asks (:func:`_become_kernel`), until it has been idle ``IDLE_S`` seconds with no
kernel of its own left, was told to stop, or another server took its socket.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import pkgutil
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

from gpucompare.report.forkserver import ANSWER_TIMEOUT_S, READY, TICK_S, _receive, _send

#: Modules a kernel imports for any section, imported by the server before it forks (the section
#: modules are added by :func:`_preload`).
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell")
#: The backend ipykernel sets (``MPLBACKEND``) before any code runs in a kernel; matplotlib reads
#: it when imported, so the server sets it first, as a kernel would have.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: Must not be imported in the server (module docstring).
NOT_PRELOADED = ("matplotlib_inline.backend_inline",)


def _preload() -> None:
    """Import what a kernel imports before it runs a section: ipykernel, and every section module
    (with them pandas, matplotlib, pydantic and the library), as the warm-up code does."""
    for name in PRELOAD:
        importlib.import_module(name)
    sections = importlib.import_module("gpucompare.sections")
    for module in pkgutil.iter_modules(sections.__path__, sections.__name__ + "."):
        importlib.import_module(module.name)


def _become_kernel(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take over the launcher's streams, working directory, environment and
    arguments, exit when the launcher's connection closes, and run the kernel application as
    ``ipykernel_launcher`` does. Never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])

        def watch() -> None:
            # The launcher ended (even killed): so does the kernel.
            with contextlib.suppress(OSError):
                while conn.recv(4096):
                    pass
            os._exit(1)

        threading.Thread(target=watch, name="gpucompare-launcher-watch", daemon=True).start()
        conn.sendall(struct.pack("!i", os.getpid()))
        importlib.import_module("ipykernel.kernelapp").launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class _Server:
    """The server's state: its socket, the kernels it forked, when it was last asked anything."""

    def __init__(self, path: Path, key: str, family: str, idle: float, note: Path) -> None:
        self.path, self.key, self.idle, self.note = path, key, idle, note
        self.kernels: set[int] = set()
        self.last_request = time.monotonic()
        # Bound beside its place, then moved there: a server found dead is replaced at once.
        staging = path.with_name(f"{path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(staging))
        self.listener.listen(16)
        os.replace(staging, path)
        self.inode = path.stat().st_ino
        with contextlib.suppress(OSError):
            note.write_text(
                json.dumps({"socket": str(path), "pid": os.getpid(), "key": key, "family": family}),
                encoding="utf-8",
            )

    def ours(self) -> bool:
        """Whether the socket's path is still this server's (a newer one may have taken it)."""
        try:
            return self.path.stat().st_ino == self.inode
        except OSError:
            return False

    def done(self) -> bool:
        if self.kernels:
            return False
        return not self.ours() or time.monotonic() - self.last_request > self.idle

    def reap(self) -> None:
        with contextlib.suppress(ChildProcessError):
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if not pid:
                    break
                self.kernels.discard(pid)

    def answer(self, conn: socket.socket, sel: selectors.BaseSelector) -> None:
        """Answer one request: ``hello`` (the key; counts as use), ``stop`` (end once idle for its
        ``grace_s``), ``fork`` (a kernel, with the launcher's three standard streams)."""
        conn.settimeout(ANSWER_TIMEOUT_S)
        data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
        try:
            request = _receive(conn, first=data)
            op = request.get("op")
            if op == "hello":
                self.last_request = time.monotonic()
                _send(conn, {"key": self.key, "pid": os.getpid()})
            elif op == "stop":
                self.idle = min(self.idle, max(0.0, float(request.get("grace_s", 0.0))))
                _send(conn, {"idle_s": self.idle})
            elif op == "fork" and len(fds) == 3:
                self.last_request = time.monotonic()
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    self.listener.close()
                    conn.settimeout(None)
                    _become_kernel(conn, request, fds)
                self.kernels.add(pid)
        finally:
            for fd in fds:  # the kernel has its own copies
                os.close(fd)

    def close(self) -> None:
        """Remove the socket and the note if still this server's, and the log if empty."""
        self.listener.close()
        if self.ours():
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.note.read_text(encoding="utf-8")).get("pid") == os.getpid():
                self.note.unlink()
                log = self.note.with_suffix(".log")
                if log.stat().st_size == 0:
                    log.unlink()


def _detach() -> None:
    """Leave the starting command: a child in a new session carries on, the parent ends at once
    (the command waits for it), so no one waits for the server and no terminal signals reach it."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def _serve(path: Path, key: str, family: str, idle: float, note: Path) -> int:
    _detach()
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = INLINE_BACKEND
    # As ipykernel's launcher and gpucompare.report.kernel_launcher: the working directory is no
    # place to import ipykernel from, and the debugger is left out.
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    sys.modules.setdefault("debugpy", None)
    _preload()
    loaded = [name for name in NOT_PRELOADED if name in sys.modules]
    if loaded or threading.active_count() != 1:
        print(
            f"not serving: imported {loaded}, {threading.active_count()} threads", file=sys.stderr
        )
        return 1
    # What import made stays as it is in every kernel: the collector leaves it alone, so the
    # kernels do not copy the pages it would touch (Python's advice for servers that fork).
    gc.freeze()
    server = _Server(path, key, family, idle, note)
    try:
        sys.stdout.buffer.write(READY)
        sys.stdout.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)  # the starting command's pipe is closed: it reads until end of file
        os.close(null)
        with selectors.DefaultSelector() as sel:
            sel.register(server.listener, selectors.EVENT_READ)
            while not server.done():
                ready = sel.select(TICK_S)
                server.reap()
                if ready:
                    conn, _ = server.listener.accept()
                    with conn, contextlib.suppress(OSError, ValueError):
                        server.answer(conn, sel)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    path, key, family, idle, note = sys.argv[1:6]
    sys.exit(_serve(Path(path), key, family, float(idle), Path(note)))
