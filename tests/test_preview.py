"""``gpucompare preview``: the report served on localhost, rebuilt when a watched file changes, open
pages told to reload through the version endpoint; a bad edit keeps the last good report; stopping
leaves nothing half-written.

The builds use the specs section alone (it reads ``price_usd``: its bandwidth per thousand USD
depends on the price), so each edit costs one notebook run (~4 s here), not the whole report."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gpucompare.cli import preview as preview_cli
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.report import pdf, preview

#: Long enough for a cold notebook run on a loaded 2-core machine; a hang fails instead of waiting.
WAIT_S = 240
GPU = "rtx-4090"


def _params(path: Path, price_usd: int) -> None:
    path.write_text(f"price_usd: {{{GPU}: {price_usd}}}\n", encoding="utf-8")


def _bandwidth_per_kusd_gb_s(price_usd: float) -> float:
    """Computed here from the catalog, not by the library under test: GB/s per thousand USD."""
    return catalog.get_gpu(GPU).spec("memory_bandwidth_gb_s") / (price_usd / 1e3)


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _status(url: str) -> dict:
    return json.loads(_get(url + preview.VERSION_PATH.lstrip("/"))[1])


def _wait_version(url: str, after: int) -> dict:
    """Poll the endpoint like an open page does until the version moves past ``after``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = _status(url)
        if status["version"] > after and not status["building"]:
            return status
        time.sleep(0.05)
    raise AssertionError(f"the version stayed at {after} for {WAIT_S} s: {_status(url)}")


def _bandwidth_cell(page: str) -> str:
    """The bandwidth-per-thousand-USD cell of the GPU's row in the specs page's bandwidth table
    (the row's seventh cell: name, GiB, GB, GB/s, GB/s per GiB, ms, GB/s per kUSD)."""
    name = re.escape(catalog.get_gpu(GPU).name)
    found = re.search(
        name + r'</td>(?:<td class="gc-num">[^<]*</td>){5}<td class="gc-num">([^<]*)</td>', page
    )
    assert found, "no bandwidth row for the GPU in the page"
    return found.group(1)


def _price_cell(page: str) -> str:
    """The GPU's price in the spec table's ``price (USD)`` row (its second GPU column)."""
    found = re.search(
        r'price \(USD\)</td><td class="gc-num">[^<]*</td><td class="gc-num">([^<]*)</td>', page
    )
    assert found, "no price row in the page"
    return found.group(1)


def _leftovers(parent: Path) -> list[str]:
    if not parent.exists():
        return []
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture
def specs_only(tmp_path) -> Path:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    shutil.copy(paths.notebooks_dir() / "01_specs.ipynb", nbs)
    return nbs


@pytest.fixture
def running(tmp_path, specs_only):
    """A preview of the specs section with ``price_usd.rtx-4090 = 1999``, its first build done."""
    params_file = tmp_path / "prices.yaml"
    _params(params_file, 1999)
    out = tmp_path / "reports" / "preview"
    pv = preview.Preview(out, [params_file], nb_dir=specs_only, port=0, jobs=1).start()
    try:
        status = _wait_version(pv.url, 0)
        assert status["error"] is None, status["error"]
        yield pv, params_file
    finally:
        pv.stop(timeout_s=WAIT_S)


def test_a_price_edit_reaches_the_open_page(running):
    pv, params_file = running
    status, page = _get(pv.url + "01_specs.html")
    assert status == 200
    assert _price_cell(page) == "1,999"
    assert _bandwidth_cell(page) == f"{_bandwidth_per_kusd_gb_s(1999):,.3g}" == "504"
    # The reload script is in what is served, not in the report on disk.
    assert preview.VERSION_PATH in page
    assert preview.VERSION_PATH not in (pv.out / "01_specs.html").read_text(encoding="utf-8")

    before = _status(pv.url)["version"]
    edited = time.perf_counter()
    _params(params_file, 2999)
    _wait_version(pv.url, before)
    visible_s = time.perf_counter() - edited
    print(f"\nprice edit -> new version on the endpoint: {visible_s:.2f} s")

    _, page = _get(pv.url + "01_specs.html")
    assert _price_cell(page) == "2,999"
    assert _bandwidth_cell(page) == f"{_bandwidth_per_kusd_gb_s(2999):,.3g}" == "336"
    # The full-precision table behind it, served from the same folder.
    _, table = _get(pv.url + "tables/bandwidth_per_capacity.csv")
    rows = {r["gpu"]: r for r in csv.DictReader(io.StringIO(table))}
    row = rows[catalog.get_gpu(GPU).name]
    assert float(row["bandwidth_per_kusd_gb_s"]) == pytest.approx(
        _bandwidth_per_kusd_gb_s(2999), rel=1e-12
    )
    _, parameters = _get(pv.url + "parameters.html")
    assert "2999" in parameters.replace(",", "")


def _ask_waiting(url: str, version: int, building: int, into: dict) -> threading.Thread:
    """A request as an open page makes it (it shows ``version``), answered in a thread."""
    query = f"?version={version}&building={building}"

    def ask() -> None:
        into.update(json.loads(_get(url + preview.VERSION_PATH.lstrip("/") + query)[1]))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def test_the_page_is_told_of_a_new_build_as_it_happens_not_at_its_next_poll(running):
    pv, params_file = running
    now = _status(pv.url)
    # A page showing another state is answered at once.
    other: dict = {}
    _ask_waiting(pv.url, now["version"] + 7, 0, other).join(5)
    assert other["version"] == now["version"]
    # A page showing the current state is answered when it changes: held while nothing happens,
    # answered once an edit starts a build.
    seen: dict = {}
    waiting = _ask_waiting(pv.url, now["version"], 0, seen)
    time.sleep(1.0)
    assert waiting.is_alive() and seen == {}
    _params(params_file, 2599)
    waiting.join(WAIT_S)
    assert not waiting.is_alive()
    assert seen["building"] or seen["version"] > now["version"]
    # Stopping the preview answers a request still waiting (nothing is left hanging).
    status = _wait_version(pv.url, now["version"])
    last: dict = {}
    held = _ask_waiting(pv.url, status["version"], 0, last)
    time.sleep(0.3)
    pv.stop(timeout_s=30)
    held.join(10)
    assert not held.is_alive()


def test_binds_to_loopback_and_answers_only_for_localhost(running):
    pv, _ = running
    assert pv.host == "127.0.0.1"
    assert pv.url == f"http://127.0.0.1:{pv.port}/"
    assert _get(pv.url, host=f"localhost:{pv.port}")[0] == 200
    # A page on another site reaching the port through DNS rebinding names its own host.
    assert _get(pv.url, host=f"attacker.example:{pv.port}")[0] == 403
    # The command's default too.
    sub = argparse.ArgumentParser().add_subparsers()
    preview_cli.add_cli(sub)
    args = sub.choices["preview"].parse_args([])
    assert (args.host, args.port, args.out) == ("127.0.0.1", 8000, "reports/preview")


def test_a_bad_edit_keeps_the_last_good_report_and_shows_the_error(running):
    pv, params_file = running
    before = _status(pv.url)["version"]
    on_disk = (pv.out / "01_specs.html").read_bytes()
    params_file.write_text(f"price_usd: {{{GPU}: [2999\n", encoding="utf-8")

    status = _wait_version(pv.url, before)
    assert "malformed YAML" in status["error"] and str(params_file) in status["error"]
    assert status["has_report"]
    assert (pv.out / "01_specs.html").read_bytes() == on_disk
    assert json.loads((pv.out / "manifest.json").read_text())["parameters"]["price_usd"] == {
        GPU: 1999
    }
    _, page = _get(pv.url + "01_specs.html")
    assert _bandwidth_cell(page) == "504"
    assert 'id="gc-preview-error"' in page and "malformed YAML" in page

    # Fixed: the banner goes (the report itself was never replaced).
    _params(params_file, 1999)
    status = _wait_version(pv.url, status["version"])
    assert status["error"] is None
    _, page = _get(pv.url + "01_specs.html")
    assert 'id="gc-preview-error"' not in page and _bandwidth_cell(page) == "504"


def test_stop_joins_the_threads_and_closes_the_port(running):
    pv, _ = running
    pv.stop(timeout_s=30)
    assert pv._threads and not any(t.is_alive() for t in pv._threads)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", pv.port)):
        pass
    assert _leftovers(pv.out.parent) == []
    assert (pv.out / "index.html").is_file()


def test_a_data_edit_is_seen_by_the_checks_of_the_running_process(
    tmp_path, specs_only, monkeypatch
):
    """The data loaders remember files for the life of the process: the preview forgets them when
    the data folder changes, so its checks see the edit (here: a GPU left without a cloud price)."""
    data = tmp_path / "data"
    shutil.copytree(paths.data_dir(), data)
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(data))
    params_file = tmp_path / "prices.yaml"
    _params(params_file, 1999)
    pv = preview.Preview(tmp_path / "out", [params_file], nb_dir=specs_only, jobs=1).start()
    try:
        status = _wait_version(pv.url, 0)
        assert status["error"] is None, status["error"]
        prices = data / "cloud_prices.yaml"
        lines = prices.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [x for x in lines if not x.lstrip().startswith(f"- {{gpu: {GPU},")]
        assert len(kept) < len(lines)
        prices.write_text("".join(kept), encoding="utf-8")
        status = _wait_version(pv.url, status["version"])
        assert f"no on_demand or marketplace price for GPU '{GPU}'" in (status["error"] or "")
    finally:
        pv.stop(timeout_s=WAIT_S)


def test_kernels_start_for_the_first_edit_when_no_section_ran(tmp_path, specs_only):
    """A preview of inputs built before finds its report up to date (or in the report store) and
    runs no section; its kernels start anyway, so that the first edit does not wait for them."""
    params_file = tmp_path / "prices.yaml"
    _params(params_file, 2468)
    out = tmp_path / "reports" / "preview"
    first = preview.Preview(out, [params_file], nb_dir=specs_only, jobs=1).start()
    try:
        assert _wait_version(first.url, 0)["error"] is None
    finally:
        first.stop(timeout_s=WAIT_S)
    again = preview.Preview(out, [params_file], nb_dir=specs_only, jobs=1).start()
    try:
        assert _wait_version(again.url, 0)["error"] is None
        deadline = time.monotonic() + 60  # a kernel starts in seconds, even on a loaded machine
        while again.kernels.started < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (again.kernels.started, again.kernels.reused) == (1, 0)  # started, no section run
    finally:
        again.stop(timeout_s=WAIT_S)


def test_refuses_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="refusing to replace it"):
        preview.Preview(out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_busy_port_is_bad_input(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(InputError, match="is in use"):
            preview.Preview(tmp_path / "out", port=taken.getsockname()[1])


# --- the command: signals ------------------------------------------------------------------------

#: ``gpucompare`` with the preview command registered (until ``cli/__init__.py`` does it itself):
#: the real ``cli.main``, so the exit codes are the command line's own.
_PROBE = """
import argparse, faulthandler, signal, sys
faulthandler.register(signal.SIGUSR1)  # a test that waits too long asks for every thread's stack
# Ctrl-C reaches a command run in a terminal's foreground. A test session started in the
# background by a non-interactive shell (`make test &`, nohup) ignores SIGINT, this command
# inherits that, and Python then leaves SIGINT ignored: restore what a terminal gives.
signal.signal(signal.SIGINT, signal.default_int_handler)
from gpucompare import cli
from gpucompare.cli import preview
make_parser = cli.parser
def parser():
    top = make_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    if "preview" not in sub.choices:
        preview.add_cli(sub)
    return top
cli.parser = parser
sys.exit(cli.main(sys.argv[1:]))
"""


def _start_command(tmp_path: Path, nbs: Path, price_usd: int):
    params_file = tmp_path / "prices.yaml"
    _params(params_file, price_usd)
    out = tmp_path / "reports" / "preview"
    args = ["preview", "--params", str(params_file), "--out", str(out), "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROBE, *args, "--notebooks", str(nbs), "--jobs", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    # Both pipes are read as the command writes them: a pipe nobody reads fills (64 KiB) and then
    # blocks the command's next write, which would look like a preview that does not stop.
    proc.err_lines = []
    proc.err_reader = threading.Thread(
        target=lambda: [proc.err_lines.append(x) for x in proc.stderr], daemon=True
    )
    proc.err_reader.start()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, _stderr(proc)
            continue
        if found := re.search(r"at (http://127\.0\.0\.1:\d+/)", line):
            return proc, found.group(1), out
    proc.kill()
    raise AssertionError("the preview printed no URL")


def _stderr(proc: subprocess.Popen) -> str:
    """What the command of :func:`_start_command` wrote to stderr (all of it once it has ended)."""
    if proc.poll() is not None:
        proc.err_reader.join(timeout=10)
    return "".join(proc.err_lines)


def _exit_code(proc: subprocess.Popen, timeout_s: float) -> int:
    """The command's exit code; if it has not ended within ``timeout_s``, the failure shows where
    each of its threads was (``faulthandler``, registered by :data:`_PROBE`) and what it wrote."""
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        masks = {who: _signal_masks(pid) for who, pid in (("command", proc.pid), ("test", "self"))}
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        proc.wait()
        raise AssertionError(
            f"no exit within {timeout_s} s; signal masks {masks}; its stderr:\n{_stderr(proc)}"
        ) from None


def _signal_masks(pid) -> str:
    """The blocked, ignored and caught signal masks of a process (Linux; elsewhere nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ""
    return " ".join(
        line for line in status.splitlines() if line[:6] in {"SigBlk", "SigIgn", "SigCgt"}
    )


def test_ctrl_c_stops_the_command_with_130(tmp_path, specs_only):
    proc, url, out = _start_command(tmp_path, specs_only, 1999)
    try:
        _wait_version(url, 0)
        proc.send_signal(signal.SIGINT)
        assert _exit_code(proc, 60) == 130
    finally:
        proc.kill()
    assert "interrupted" in _stderr(proc)
    assert (out / "index.html").is_file() and _leftovers(out.parent) == []


def test_sigterm_during_a_build_leaves_nothing_half_written(tmp_path, specs_only):
    # A price no other test uses: the section has to run, so the signal lands inside the build.
    proc, _, out = _start_command(tmp_path, specs_only, 2345)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _leftovers(out.parent) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _leftovers(out.parent), "no build started"
        proc.send_signal(signal.SIGTERM)
        assert _exit_code(proc, WAIT_S) == 130
    finally:
        proc.kill()
    assert _leftovers(out.parent) == []
    # Either no report yet or a complete one; never a partial folder.
    assert not out.exists() or (out / "manifest.json").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".failed")]
    assert os.listdir(out.parent) in ([], [out.name])


# --- the open page, in a real browser ---------------------------------------------------------------

#: The bandwidth-per-thousand-USD cell of the GPU's row, read from the live DOM (see _bandwidth_cell).
_CELL_JS = """(name) => {
  const row = [...document.querySelectorAll("tr")]
    .find(r => r.cells.length === 7 && r.cells[0].textContent.trim() === name);
  return row ? row.cells[6].textContent.trim() : null;
}"""


def test_the_open_page_reloads_itself_with_the_new_price(running):
    """Headless Chromium (as in tests/test_browser.py) keeps 01_specs.html open; the injected script
    alone must bring the new number, with no console error and no request leaving the machine."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = pdf.find_chromium()
    if chromium is None:
        pytest.skip("headless Chromium is not installed here (Debian: apt-get install chromium)")
    pv, params_file = running
    name = catalog.get_gpu(GPU).name
    errors, outside = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
            page.on(
                "request",
                lambda r: (
                    r.url.startswith(("http:", "https:"))
                    and not r.url.startswith(pv.url)
                    and outside.append(r.url)
                ),
            )
            page.goto(pv.url + "01_specs.html")
            assert page.evaluate(_CELL_JS, name) == "504"
            # A price no other test uses, so that the section really runs again.
            expected = f"{_bandwidth_per_kusd_gb_s(2799):,.3g}"
            edited = time.perf_counter()
            _params(params_file, 2799)
            page.wait_for_function(
                f"() => ({_CELL_JS})({json.dumps(name)}) === {json.dumps(expected)}",
                timeout=WAIT_S * 1000,
            )
            print(
                f"\nprice edit -> new number in the open page: {time.perf_counter() - edited:.2f} s"
            )
            assert page.evaluate("document.getElementById('gc-preview-status').hidden")
        finally:
            browser.close()
    assert errors == [], errors
    assert outside == [], outside
