"""The kernel server: one background process imports ipykernel, pandas, matplotlib and the library
once, and every kernel of a build is a fork of it instead of a new interpreter importing them all
again; it stays for a while after the build, so that the next one (a price edit, a scenario) finds
it ready.

Why: a kernel with the library imported costs ~0.8 s of CPU and ~1.1 s of wall time, almost all of
it Python starting and importing (docs/performance.md); a price change re-runs six sections in two
such kernels. A forked kernel answers in ~0.1-0.2 s. A server started by each command would gain
nothing (it imports on one core what two kernels import on two), so it outlives the command that
started it, like a build tool's daemon, and ends on its own after :data:`IDLE_S` seconds without a
request (``GPUCOMPARE_KERNEL_SERVER_IDLE_S``; ``0`` turns the server off: kernels start as new
interpreters, as before).

How (Linux; elsewhere kernels start as before, :func:`supported`):

* :func:`connect` finds the server for this build's inputs, or starts it and waits until it is
  ready: :mod:`gpucompare.report.forkserver_process` detaches itself (its own session, no
  terminal, standard streams closed), imports what a kernel imports (the section modules), listens
  on a Unix socket in a folder only this user can enter (:func:`runtime_dir`), and says
  ``ready``.
* The kernel manager (jupyter_client) starts :mod:`gpucompare.report.fork_launcher` as the
  kernel's process, a ~10 ms script that sends the server its kernel arguments, working directory,
  environment and standard streams. The server forks; the child takes those over and runs
  ipykernel's kernel application as ``ipykernel_launcher`` would, while
  the launcher passes signals on and ties the two lifetimes together (see its docstring).
* Anything wrong (no server, a failed start, a kernel that does not come up) and the kernel starts
  as a new interpreter instead (:func:`gpucompare.report.kernels.start_kernel`): the server can make
  a build faster, never fail it.

Sameness: a forked kernel shares with the server only what importing did; the server imports
modules and reads no data or parameters (the section modules compute nothing on import, which the
warm kernels' set-up already relies on). It refuses to serve if an import started a thread or
loaded IPython's matplotlib backend (which configures itself for the shell that exists when it
loads; the server has none). Its key (:func:`server_key`) covers everything importing may have
read: the build's inputs fingerprint (data, library code, versions), the interpreter, the installed
packages, the working directory and the environment (:func:`server_key`); a server of the same
family (:func:`family_key`) for other inputs is told to stop. ``tests/test_forkserver.py`` checks that sections give the same outputs in
forked kernels as in stock ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import socket
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from gpucompare.core import filecache, paths

#: The launcher script the kernel manager starts (by path: it imports nothing of the package).
LAUNCHER = Path(__file__).with_name("fork_launcher.py")
#: Seconds without a request after which a server with no kernel left ends.
IDLE_S = 600
#: Environment variable overriding :data:`IDLE_S` (``0``: no server, kernels start as before).
IDLE_ENV = "GPUCOMPARE_KERNEL_SERVER_IDLE_S"
#: The server's own code, run as ``python -m`` (:mod:`gpucompare.report.forkserver_process`).
SERVER_MODULE = "gpucompare.report.forkserver_process"
#: Seconds to wait for a new server to import everything and say it is ready.
READY_TIMEOUT_S = 60
#: Seconds to wait for a server's answer to a question (it answers between two forks).
ANSWER_TIMEOUT_S = 10
#: What a new server writes on its standard output once it listens.
READY = b"ready\n"
#: Seconds the server's loop sleeps at most between two looks for ended kernels and idleness.
TICK_S = 0.5
#: Seconds a server of the same family for other inputs may stay idle once a newer one started (it
#: may still serve a build of those inputs running now).
STALE_GRACE_S = 60
#: The lock file held while a server starts (one for the user: starts are rare).
START_LOCK = "start.lock"
#: Environment variables left out of the key: they change from one command (or test) to the next
#: and nothing reads them on import (jupyter_client sets JPY_* for each kernel; the kernel gets
#: the launcher's own values).
VOLATILE_ENV = (
    "JPY_PARENT_PID",
    "JPY_SESSION_NAME",
    "PYTEST_CURRENT_TEST",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    "COLUMNS",  # set by terminal tools (pytest's workers); read when printing
    "LINES",
    "MAKEFLAGS",  # set by make for its recipes: `make report` and the command line share
    "MAKELEVEL",
    "MFLAGS",
    "MAKEOVERRIDES",
    "OLDPWD",
    "PWD",
    "SHLVL",
    "_",
    IDLE_ENV,
    # Read when used, never on import: builds with their own cache share a server, and the data
    # folder's content is in the key through the inputs fingerprint.
    paths.CACHE_DIR_ENV,
    paths.DATA_DIR_ENV,
)


def supported() -> bool:
    """Whether kernels are forked here: on Linux (Unix sockets that pass file descriptors,
    ``fork``). Not on macOS, where a process that loaded Apple's frameworks (numpy's Accelerate
    BLAS, through the server's imports) must not fork without exec; Python's multiprocessing
    spawns there for the same reason."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def idle_s() -> float:
    """Seconds a server waits idle before it ends (:data:`IDLE_ENV`, else :data:`IDLE_S`)."""
    value = os.environ.get(IDLE_ENV, "")
    try:
        return max(0.0, float(value)) if value else float(IDLE_S)
    except ValueError:
        return float(IDLE_S)


def runtime_dir() -> Path | None:
    """``<temp>/gpucompare-<uid>``, made if missing, only if it is a folder of this user's that no
    one else can enter (the socket in it runs code as this user); else None (no server). Not the
    cache folder: a Unix socket's path is limited to ~100 characters."""
    folder = Path(tempfile.gettempdir()) / f"gpucompare-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    try:
        st = folder.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077
    return folder if private else None


def _site_packages() -> str:
    """The installed distributions (their ``*.dist-info`` names carry the versions)."""
    names = []
    for key in ("purelib", "platlib"):
        with contextlib.suppress(OSError):
            names += sorted(os.listdir(sysconfig.get_path(key)))
    return "\n".join(names)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def family_key() -> str:
    """What a server's imports may depend on besides the build's inputs: the interpreter, the
    installed packages, the working directory and the environment (but :data:`VOLATILE_ENV`).
    Servers of one family differ only by their inputs (an edited data file)."""
    volatile = {*VOLATILE_ENV, *_make_variables()}
    env = {k: v for k, v in os.environ.items() if k not in volatile}
    return _digest(sys.executable, _site_packages(), os.getcwd(), json.dumps(env, sort_keys=True))


def _make_variables() -> set[str]:
    """Variables set on make's command line (``make report OUT=...``): make exports them to its
    recipes, and lists them in ``MAKEFLAGS`` after `` -- ``; they are make's, not the library's."""
    _, _, assigned = os.environ.get("MAKEFLAGS", "").partition(" -- ")
    return {word.split("=", 1)[0] for word in assigned.split() if "=" in word}


def server_key(inputs: str, family: str | None = None) -> str:
    """A server's key: its family (:func:`family_key`) and the build's ``inputs`` fingerprint."""
    return _digest(family or family_key(), inputs)


def _send(sock: socket.socket, message: dict) -> None:
    """One framed message: its length (4 bytes, network order), then its JSON (the launcher sends
    its request, with its standard streams, the same way)."""
    body = json.dumps(message).encode("utf-8", "surrogateescape")
    sock.sendall(struct.pack("!I", len(body)) + body)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the connection closed")
        data += chunk
    return data


def _receive(sock: socket.socket, first: bytes | None = None) -> dict:
    """One framed message (its start ``first`` when already read)."""
    data = sock.recv(1 << 16) if first is None else first
    if len(data) < 4:
        data += _exactly(sock, 4 - len(data))
    (size,) = struct.unpack("!I", data[:4])
    body = data[4:]
    if len(body) < size:
        body += _exactly(sock, size - len(body))
    return json.loads(body.decode("utf-8", "surrogateescape"))


def _ask(path: Path, message: dict) -> dict | None:
    """The server's answer to ``message``, or None (no server there, or no answer)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ANSWER_TIMEOUT_S)
            sock.connect(str(path))
            _send(sock, message)
            return _receive(sock)
    except (OSError, ValueError):
        return None


class ForkServer:
    """A running server's address, for kernels to ask it for a fork."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def kernel_argv(self) -> list[str]:
        """The kernel spec's command: the launcher, asking this server for a kernel."""
        return [
            sys.executable,
            "-S",
            str(LAUNCHER),
            str(self.socket_path),
            "-f",
            "{connection_file}",
        ]


_lock = threading.Lock()


def connect(inputs: str) -> ForkServer | None:
    """The server for this build's ``inputs`` fingerprint (module docstring), started if none
    answers; None where there can be none or it did not start (kernels then start as before).
    Asking counts as a request: the server then stays at least :func:`idle_s` more seconds."""
    idle = idle_s()
    if not supported() or idle <= 0:
        return None
    folder = runtime_dir()
    if folder is None:
        return None
    family = family_key()
    key = server_key(inputs, family)
    name = key[:24]
    path = folder / f"{name}.sock"
    hello = {"op": "hello", "key": key}
    if (_ask(path, hello) or {}).get("key") == key:
        return ForkServer(path)
    # One start at a time, across threads and processes: the others then find it.
    with _lock, filecache.locked(folder / START_LOCK):
        if (_ask(path, hello) or {}).get("key") == key:
            return ForkServer(path)
        # Servers left by other inputs (an edited data file) end once idle for a minute.
        stop_servers(family, keep=name, grace_s=STALE_GRACE_S)
        if not _start(path, key, family, idle, folder / f"{name}.json"):
            return None
    return ForkServer(path) if (_ask(path, hello) or {}).get("key") == key else None


def _start(path: Path, key: str, family: str, idle: float, note: Path) -> bool:
    """Start a server and wait until it says it is ready (False if it does not)."""
    log = note.with_suffix(".log")
    try:
        err = open(log, "wb")  # noqa: SIM115 (the server writes to it after this returns)
    except OSError:
        err = subprocess.DEVNULL
    try:
        # ipykernel reads JPY_PARENT_PID when it is imported: the value jupyter_client gives the
        # kernels this process starts (any live parent will do: a kernel checks its own parent).
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, str(path), key, family, repr(idle), str(note)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "JPY_PARENT_PID": str(os.getpid())},
        )
    except OSError:
        return False
    finally:
        if err is not subprocess.DEVNULL:
            err.close()
    with process.stdout:
        process.wait()  # the first process only detaches the server and ends
        ready = _read_ready(process.stdout, READY_TIMEOUT_S)
    # A server that did not come up leaves its log (its error) beside its socket; the next
    # start for the same key writes over it.
    return ready


def _read_ready(stream, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    line = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left_s = deadline - time.monotonic()
            if left_s <= 0 or not sel.select(left_s):
                return False
            chunk = os.read(stream.fileno(), 64)
            if not chunk:
                return False
            line += chunk
    return line == READY


def stop_servers(family: str | None = None, keep: str | None = None, grace_s: float = 0.0) -> int:
    """Tell this user's servers of ``family`` (:func:`family_key`; None: this process's), but the
    one named ``keep``, to stop: each ends once no kernel of its own runs and it was asked nothing
    for ``grace_s`` seconds. Returns how many were told. What a server that did not end cleanly
    left (its note, socket and log) is removed on the way."""
    folder = runtime_dir() if supported() else None
    if folder is None:
        return 0
    family = family or family_key()
    told = 0
    for note in sorted(folder.glob("*.json")):
        try:
            facts = json.loads(note.read_text(encoding="utf-8"))
            socket_path = Path(facts["socket"])
            family_of_note = facts["family"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _listening(socket_path):
            # Of any family: a server that did not end cleanly (killed) left these behind.
            for leftover in (socket_path, note.with_suffix(".log"), note):
                if leftover.parent == folder and leftover.stem == note.stem:
                    with contextlib.suppress(OSError):
                        leftover.unlink()
        elif family_of_note == family and note.stem != keep:
            told += _ask(socket_path, {"op": "stop", "grace_s": grace_s}) is not None
    return told


def _listening(path: Path) -> bool:
    """Whether something listens on the Unix socket ``path`` (a busy server still does)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ANSWER_TIMEOUT_S)
            sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    except OSError:
        return True
    return True
    return True
