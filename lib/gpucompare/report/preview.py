"""Live preview of the report (``gpucompare preview``): serve the output folder on localhost,
watch the parameters, the data and the notebooks, rebuild on a change, reload the open pages.

* **Serving**: a :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 unless told otherwise. HTML
  responses (not the files on disk) get a script that polls :data:`VERSION_PATH` and reloads the
  page when the build counter moves: no network access needed. On the loopback address, requests
  naming another host are refused (no reaching the preview from a web page by DNS rebinding).
* **Watching**: modification times, sizes and inodes of the files under ``params/``, the data
  folder and the notebooks folder, and of each ``--params`` file, polled every :data:`POLL_S`
  (no dependency; a few dozen files). A change is built once the files have stopped changing
  for :data:`SETTLE_S` (an editor's save is often several writes).
* **Building**: :func:`gpucompare.report.build.build` with ``reuse``: only the sections whose
  inputs changed run, earlier inputs are restored from the report store, and the new report
  replaces the old one in one atomic swap, so no page is served half-written. A failed build
  keeps the last good report; its message is shown on every page and passed to ``say``.
* **Kernels**: one pool of warm kernels (:mod:`gpucompare.report.kernels`) for the preview's
  life, so a rebuild pays no kernel start and no library import.
* **Stopping**: :meth:`Preview.run` builds in the calling thread, so Ctrl-C (or SIGTERM, which the
  command line turns into KeyboardInterrupt) interrupts the build itself, which removes its
  temporary folder. :meth:`Preview.start` and :meth:`Preview.stop` run the same loop in a
  background thread (tests, embedding).
"""

from __future__ import annotations

import datetime as dt
import errno
import ipaddress
import json
import os
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gpucompare import params
from gpucompare.core import caches, paths
from gpucompare.core.errors import GpucompareError, InputError
from gpucompare.report import build, cache, preflight, publish
from gpucompare.report.execute import CELL_TIMEOUT_S
from gpucompare.report.kernels import KernelPool
from gpucompare.report.reload import LONG_POLL_S, VERSION_PATH, State, inject, placeholder

#: The default address: this machine only. Another host is an explicit choice (``--host``).
LOOPBACK = "127.0.0.1"
#: Host names a browser on this machine uses for the loopback address (the Host header's name;
#: empty when a client sends none, which browsers always do).
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", ""})
#: How the build writes ``provenance.built_at`` (UTC, to the second).
BUILT_AT_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Seconds between two looks at the watched files.
POLL_S = 0.1
#: Seconds the watched files must stay unchanged before a build starts (an editor's save can be a
#: truncate then a write, or a write to a temporary file then a rename: milliseconds apart). A
#: save slower than this costs one more build: the half-written file fails or builds, and the
#: next look sees the rest and builds again.
SETTLE_S = 0.05
#: The longest wait for the files to settle: files that never stop changing still get built.
MAX_SETTLE_S = 2.0
#: Modules whose functools caches hold what was read from the data files (keyed by path, for the
#: life of the process): forgotten when the data folder changes, so that the in-process checks and
#: pages see the edit. The warm kernels are replaced when the data changes (their inputs
#: fingerprint), so they read the files anew. The report stack's own caches (templates,
#: exporters) depend on the library only, which is not watched. The calibration fit and the
#: planner memo (module dicts in ``model/``) are not used in this process: only the kernels call
#: them.
_DATA_MODULES = (
    "gpucompare.data",
    "gpucompare.params",
    "gpucompare.model",
    "gpucompare.audit",
    "gpucompare.sections",
)


def forget_loaded_data() -> int:
    """Clear every functools cache of the modules that read ``data/`` (:data:`_DATA_MODULES`);
    returns how many were cleared."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(_DATA_MODULES):
            continue
        for obj in list(vars(module).values()):
            clear = getattr(obj, "cache_clear", None)
            # Only the module's own caches: an imported one is cleared in its own module.
            if callable(clear) and getattr(obj, "__module__", None) == name:
                clear()
                cleared += 1
    return cleared


class _Handler(SimpleHTTPRequestHandler):
    """Files of the report folder; HTML pages with the reload script; the version endpoint."""

    def __init__(self, *args: Any, preview: Preview, **kwargs: Any) -> None:
        self.preview = preview  # set first: the base class handles the request in __init__
        super().__init__(*args, directory=str(preview.out), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        # Every open page polls twice a second: one line per request would drown the build messages.
        pass

    def end_headers(self) -> None:
        # A reload must fetch the new report, never a copy the browser kept.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def _host_ok(self) -> bool:
        if not self.preview.loopback:
            return True
        host = self.headers.get("Host", "").strip().lower()
        name = host[1 : host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
        if name in _LOOPBACK_NAMES:
            return True
        self.send_error(403, "the preview answers requests for localhost only")
        return False

    def _send(self, body: bytes, content_type: str, code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _page_file(self, url_path: str) -> Path | None:
        """The HTML file a request names (a folder's ``index.html``), if there is one."""
        local = Path(self.translate_path(url_path))
        if local.is_dir():
            if not url_path.endswith("/"):
                return None  # the base class redirects to the folder with a slash
            local = local / "index.html"
        return local if local.suffix == ".html" and local.is_file() else None

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        url_path = urllib.parse.urlsplit(self.path).path
        # Read the state before the page: if a swap lands in between, the page is newer than the
        # version it carries and reloads once more, never the other way round.
        state = self.preview.state
        if url_path == VERSION_PATH:
            shown = _shown_state(urllib.parse.urlsplit(self.path).query)
            if shown is not None:
                state = self.preview.wait_for_change(*shown, timeout_s=LONG_POLL_S)
            body = json.dumps(
                {
                    "version": state.version,
                    "building": state.building,
                    "error": state.error,
                    "has_report": state.has_report,
                    "last_build_s": state.last_build_s,
                }
            )
            self._send(body.encode(), "application/json")
            return
        page = self._page_file(url_path)
        if page is not None:
            try:
                body = page.read_bytes()
            except OSError:
                body = None  # gone between the check and the read: the base class answers 404
            if body is not None:
                self._send(inject(body, state), "text/html; charset=utf-8")
                return
        if url_path == "/favicon.ico" and not (self.preview.out / "favicon.ico").is_file():
            # Browsers ask for it on every load; the report has none (a 404 is a console error).
            self.send_response(204)
            self.end_headers()
            return
        if url_path in ("/", "/index.html") and not (self.preview.out / "index.html").is_file():
            self._send(inject(placeholder(state), state), "text/html; charset=utf-8")
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if self._host_ok():
            super().do_HEAD()


def _shown_state(query: str) -> tuple[int, bool] | None:
    """``(version, building)`` a page says it shows (``version=N&building=0|1``), or None (then
    the state is answered at once)."""
    asked = urllib.parse.parse_qs(query)
    try:
        return int(asked["version"][0]), asked["building"][0] == "1"
    except (KeyError, ValueError):
        return None


def _is_loopback(host: str) -> bool:
    """True for an address of this machine only (127.0.0.0/8, ::1, localhost); "" and 0.0.0.0 are
    every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request still being answered never holds the process open


class _Server6(_Server):
    address_family = socket.AF_INET6


class Preview:
    """The preview of one report folder. The constructor checks ``out``
    (:func:`gpucompare.report.publish.check_out`: a new folder, an empty one or a gpucompare report;
    anything else is refused with InputError before anything is touched) and binds the address
    (``port`` 0: any free port; see :attr:`url`). Then either :meth:`run` (blocks) or :meth:`start`
    and :meth:`stop`.

    ``files`` and ``sets`` are the ``--params`` files and ``--set`` values (the files are watched);
    ``say`` receives one line per build (``error`` True for a failure)."""

    def __init__(
        self,
        out: Path | str,
        files: list[Path] = (),
        sets: list[str] = (),
        *,
        nb_dir: Path | None = None,
        host: str = LOOPBACK,
        port: int = 0,
        jobs: int | None = None,
        timeout_s: int = CELL_TIMEOUT_S,
        poll_s: float = POLL_S,
        say: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.out = publish.check_out(out)
        self.files = [Path(os.path.abspath(f)) for f in files]
        self.sets = list(sets)
        self.nb_dir = nb_dir
        self.jobs, self.timeout_s, self.poll_s = jobs, timeout_s, poll_s
        # Kept between rebuilds: a price edit runs its sections in kernels that have the library
        # imported already (a kernel started for other data or code is replaced, not reused).
        self.kernels = KernelPool(jobs or os.cpu_count() or 1)
        self._say = say or (lambda message, error: None)
        self._data_root = os.path.join(paths.data_dir(), "")  # with the separator: no sibling
        self._roots = [
            paths.params_dir(),
            paths.data_dir(),
            Path(nb_dir) if nb_dir else paths.notebooks_dir(),
        ]
        self._state = State(has_report=(self.out / "index.html").is_file())
        # Guards the state; a request waiting for the state to change waits on it.
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._shown: str | None = None  # the signature of the report the pages show
        self._threads: list[threading.Thread] = []
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), self._handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"--port {port}: {host}:{port} is in use; give another port, or --port 0 for "
                    "any free one"
                ) from None
            raise InputError(
                f"--host {host}: cannot listen there ({exc.strerror or exc})"
            ) from None
        # What the socket is bound to (the port chosen when ``port`` is 0).
        self.host, self.port = self._server.server_address[:2]
        self.loopback = _is_loopback(host)

    def _handler(self, *args: Any) -> _Handler:
        return _Handler(*args, preview=self)

    @property
    def url(self) -> str:
        """The address of the report's front page."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)
            self._lock.notify_all()

    def wait_for_change(self, version: int, building: bool, timeout_s: float) -> State:
        """The state once its version or building flag differs from those given (what a page
        shows), or after ``timeout_s``, or when the preview stops."""
        with self._lock:
            self._lock.wait_for(
                lambda: (
                    (self._state.version, self._state.building) != (version, building)
                    or self._stop.is_set()
                ),
                timeout_s,
            )
            return self._state

    # --- running and stopping ------------------------------------------------------------------

    def _serve(self) -> threading.Thread:
        thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # stop() waits at most this long for the loop
            name="gpucompare-preview-http",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        return thread

    def run(self) -> None:
        """Serve and watch until :meth:`stop` or KeyboardInterrupt (which reaches a running build
        first: it removes its temporary folder and the previous report stays)."""
        self._serve()
        try:
            self._watch()
        finally:
            self._close_server()
            self.kernels.close()

    def start(self) -> Preview:
        """Serve and watch in background threads; returns at once (the first build follows)."""
        self._serve()
        watcher = threading.Thread(target=self._watch, name="gpucompare-preview-watch", daemon=True)
        watcher.start()
        self._threads.append(watcher)
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop watching (a build under way is finished first: a thread cannot be interrupted),
        stop serving, close the socket and join the threads."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()  # requests waiting for a change answer now
        self._close_server()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)
        self.kernels.close()

    def _close_server(self) -> None:
        if any(t.name == "gpucompare-preview-http" and t.is_alive() for t in self._threads):
            self._server.shutdown()
        self._server.server_close()

    # --- watching --------------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, tuple[int, int, int] | None]:
        """``path -> (mtime in ns, size in bytes, inode)`` of every watched file; a missing
        ``--params`` file maps to None (its return is a change too). Hidden files, editor backups
        (``name~``) and ``__pycache__`` are not watched."""
        found: dict[str, tuple[int, int, int] | None] = {}
        for root in self._roots:
            for folder, dirs, names in os.walk(root):
                dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
                for name in names:
                    if name.startswith(".") or name.endswith("~"):
                        continue
                    path = os.path.join(folder, name)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue  # removed while walking: the next poll sees it gone
                    found[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
        for f in self.files:
            try:
                st = os.stat(f)
                found[str(f)] = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                found[str(f)] = None
        return found

    def _settled(self, snapshot: dict) -> dict | None:
        """The snapshot once the files stop changing (None when stopping)."""
        deadline = time.monotonic() + MAX_SETTLE_S
        while not self._stop.wait(SETTLE_S):
            again = self._snapshot()
            if again == snapshot or time.monotonic() > deadline:
                return again
            snapshot = again
        return None

    def _watch(self) -> None:
        seen = self._snapshot()
        self._rebuild(data_changed=False)
        while not self._stop.wait(self.poll_s):
            now = self._snapshot()
            if now == seen:
                continue
            now = self._settled(now)
            if now is None:
                return
            changed = {k for k in seen.keys() | now.keys() if seen.get(k) != now.get(k)}
            seen = now
            self._rebuild(data_changed=any(k.startswith(self._data_root) for k in changed))

    # --- building --------------------------------------------------------------------------------

    def _rebuild(self, data_changed: bool) -> None:
        """Build once; publish the outcome in :attr:`state` (the version moves when the pages
        change: a new report, or an error shown or cleared)."""
        if data_changed:
            forget_loaded_data()
        self._update(building=True)
        started = time.perf_counter()
        started_at = dt.datetime.now(dt.UTC).strftime(BUILT_AT_FORMAT)
        error, manifest = None, None
        later: list = []  # what the build leaves until the page knows of the new report
        try:
            p, data = params.resolve(self.files, self.sets)
            cache.checked(p, preflight.preflight)  # skipped for inputs that passed it before
            manifest = build.build(
                self.out,
                self.files,
                self.sets,
                jobs=self.jobs,
                kernels=self.kernels,
                timeout_s=self.timeout_s,
                nb_dir=self.nb_dir,
                resolved=(p, data),
                reuse=True,
                later=later,
            )
            caches.flush()  # what this good build parsed and computed, for the next process
        except GpucompareError as exc:
            error = str(exc)
        except Exception:
            # A bug must not end the preview: the trace goes to the terminal and the page, and
            # the next edit is built again. KeyboardInterrupt is not caught: it stops the preview.
            error = traceback.format_exc()
        except BaseException:
            self._update(building=False)
            raise
        self._finish(manifest, error, time.perf_counter() - started, started_at)
        for step in later:  # the report store's copy, once the page was told
            step()
        if error is None:
            # Kernels ready for the next edit: a report restored from the store (or one up to
            # date) ran no section, and its first edit would also wait ~1-2 s for them to start.
            # Kernels already there count: none is started twice.
            self.kernels.prestart(cache.inputs_fingerprint(), self.kernels.size)

    def _finish(
        self, manifest: dict | None, error: str | None, seconds: float, started_at: str
    ) -> None:
        with self._lock:
            state = self._state
            signature = self._shown
            if manifest is not None:
                # The same inputs give the same build key and build time: nothing to reload.
                signature = json.dumps(
                    [
                        manifest.get("build_key"),
                        manifest.get("provenance"),
                        manifest.get("parameters"),
                    ],
                    sort_keys=True,
                    default=str,
                )
            changed = signature != self._shown or error != state.error
            self._shown = signature
            self._state = replace(
                state,
                version=state.version + changed,
                building=False,
                error=error,
                has_report=(self.out / "index.html").is_file(),
                last_build_s=seconds,
            )
            self._lock.notify_all()
        if error is not None:
            self._say(
                f"build failed after {seconds:.1f} s; still serving the last good report:\n{error}",
                True,
            )
        elif not changed:
            self._say(f"inputs unchanged ({seconds:.1f} s)", False)
        elif manifest["provenance"].get("built_at", "") < started_at:
            # Built before this build started: kept or restored from the report store.
            self._say(f"report ready in {seconds:.1f} s (built before from the same inputs)", False)
        else:
            ran = sum(not s.get("cached") for s in manifest["sections"])
            self._say(f"report updated in {seconds:.1f} s ({ran} section(s) run)", False)


__all__ = ["LOOPBACK", "VERSION_PATH", "Preview", "State", "forget_loaded_data", "inject"]
