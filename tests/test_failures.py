"""Failures during a build: a killed build and a failing write leave the previous report intact,
complete, and no temporary folder behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from gpucompare.core import paths
from gpucompare.core.errors import BuildError
from gpucompare.report import build, execute
from tests.tiny_sections import write_section

ROOT = paths.repo_root()


def _previous_report(out: Path) -> None:
    """A report folder as gpucompare writes it (its manifest carries the marker)."""
    out.mkdir(parents=True)
    (out / "manifest.json").write_text('{"generator": "gpucompare", "kind": "report"}\n')
    (out / "index.html").write_text("previous report")


def _small_notebooks(folder: Path, slow_s: float = 0) -> Path:
    """The specs section, plus (with ``slow_s``) a section that sleeps, to be interrupted."""
    folder.mkdir()
    shutil.copy(paths.notebooks_dir() / "01_specs.ipynb", folder)
    if slow_s:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        }
        nb.cells = [
            nbformat.v4.new_markdown_cell("# Slow\n\nA section that takes its time."),
            nbformat.v4.new_code_cell(
                "gpus: list[str] = ['h100-sxm']  # ids", metadata={"tags": ["parameters"]}
            ),
            nbformat.v4.new_code_cell(f"import time\ntime.sleep({slow_s})"),
        ]
        nbformat.write(nb, folder / "09_slow.ipynb")
    return folder


def _tiny_notebooks(folder: Path) -> Path:
    """One tiny section (tests/tiny_sections.py): for the tests whose point is the build's machinery
    (its cache, its kernel start), not what a section shows; its kernel starts and runs in about a
    second, where the specs section takes several."""
    folder.mkdir()
    write_section(folder, "01_tiny.ipynb", "Tiny", "years: float = 3")
    return folder


def _leftovers(parent: Path) -> list[str]:
    return sorted(
        p.name for p in parent.iterdir() if ".tmp-" in p.name or p.name.endswith(".failed")
    )


def test_a_failing_write_keeps_the_previous_report(tmp_path, monkeypatch):
    out = tmp_path / "reports" / "latest"
    _previous_report(out)
    nbs = _small_notebooks(tmp_path / "nbs")
    real_write = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == "manifest.json":
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(BuildError, match=r"writing the report failed: No space left on device"):
        build.build(out, nb_dir=nbs, jobs=1)
    assert (out / "index.html").read_text() == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "manifest.json"]
    assert _leftovers(out.parent) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_build_keeps_the_previous_report(tmp_path, sig):
    out = tmp_path / "reports" / "latest"
    _previous_report(out)
    nbs = _small_notebooks(tmp_path / "nbs", slow_s=5)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpucompare",
            "report",
            "--out",
            str(out),
            "--notebooks",
            str(nbs),
            "--jobs",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(".tmp-" in p.name for p in out.parent.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.1)
    time.sleep(2)  # the notebooks are running now
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert (out / "index.html").read_text() == "previous report"
    assert _leftovers(out.parent) == []


# --- Output safety: --out is new, empty, or a report gpucompare wrote; anything else is refused ---


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` (links as their target, files as bytes): to prove nothing changed."""
    if root.is_symlink() or root.is_file():
        return {".": os.readlink(root) if root.is_symlink() else root.read_bytes()}
    shot: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        shot[rel] = (
            "link:" + os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
        )
    return shot


def _refused(res, *patterns: str) -> None:
    assert res.returncode == 2, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    assert res.stderr.count("gpucompare: error:") == 1 and "Traceback" not in res.stderr
    for pattern in patterns:
        assert re.search(pattern, res.stderr), f"{pattern!r} not in {res.stderr!r}"


def _user_folder(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / "precious.txt").write_text("a year of work\n")
    (folder / "sub" / "notes.md").write_text("# notes\n")
    return folder


def test_a_folder_that_is_not_a_report_is_refused_and_untouched(run_cli, tmp_path):
    userdir = _user_folder(tmp_path / "userdir")
    before = _snapshot(tmp_path)
    res = run_cli("report", "--out", str(userdir))
    _refused(res, re.escape(str(userdir)), "not a gpucompare report")
    assert _snapshot(tmp_path) == before


def test_dot_inside_another_project_is_refused(run_cli, tmp_path):
    project = _user_folder(tmp_path / "project")
    (project / ".git").mkdir()
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('hi')\n")
    before = _snapshot(tmp_path)
    res = run_cli("report", "--out", ".", cwd=project)
    _refused(res, r"--out \.")
    assert _snapshot(tmp_path) == before


def test_a_symlink_is_never_followed_into_a_swap(run_cli, tmp_path):
    real = tmp_path / "realdir"
    _previous_report(real)  # even a real report behind the link stays as it is
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = _snapshot(tmp_path)
    res = run_cli("report", "--out", str(link))
    _refused(res, "symbolic link")
    assert _snapshot(tmp_path) == before and link.is_symlink()


def test_a_file_is_refused(run_cli, tmp_path):
    afile = tmp_path / "afile.txt"
    afile.write_text("keep me\n")
    before = _snapshot(tmp_path)
    res = run_cli("report", "--out", str(afile))
    _refused(res, "is a file")
    assert _snapshot(tmp_path) == before  # no hidden copy beside it either


@pytest.mark.parametrize("where", ["/", "home", "repo", "data"])
def test_root_home_and_the_project_are_refused(run_cli, tmp_path, where):
    home = _user_folder(tmp_path / "home")
    out = {"/": "/", "home": "~", "repo": str(ROOT), "data": str(ROOT / "data" / "x")}[where]
    env_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)  # run_cli's subprocess inherits it
    try:
        before = _snapshot(home)
        res = run_cli("report", "--out", out)
    finally:
        os.environ["HOME"] = env_home or ""
    _refused(res, "refusing")
    assert _snapshot(home) == before
    assert not (ROOT / "data" / "x").exists()


def test_scenario_names_are_sanitised(run_cli, tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "keep.txt").write_text("mine\n")
    dots = tmp_path / "...yaml"  # its stem is '..': a folder above the comparison's
    dots.write_text("title: dots\n")
    other = tmp_path / "b.yaml"
    other.write_text("title: [not, a, title]\n")  # invalid: nothing may be built
    before = _snapshot(tmp_path)
    res = run_cli("report", "--compare", str(dots), str(other), "--out", str(base / "sub"))
    _refused(res, "title")
    assert _snapshot(tmp_path) == before
    from gpucompare.report import compare

    assert compare.folder_name("..") == "scenario"
    assert compare.folder_name(".hidden") == "hidden"
    assert compare.folder_name("prices 2026/q4") == "prices-2026-q4"


def test_a_failed_folder_that_is_not_ours_is_never_deleted(tmp_path):
    out = tmp_path / "reports" / "latest"
    theirs = out.with_name("latest.failed")
    _user_folder(theirs)
    before = _snapshot(theirs)
    nbs = _small_notebooks(tmp_path / "nbs")
    build.build(out, nb_dir=nbs, jobs=1)  # a successful build used to delete <out>.failed
    assert _snapshot(theirs) == before
    assert (out / "01_specs.html").is_file()


def test_leftovers_of_killed_builds_are_cleaned_and_others_kept(tmp_path):
    from gpucompare.report import publish

    out = tmp_path / "reports" / "latest"
    _previous_report(out)
    ours = out.with_name(".latest.tmp-killed")
    ours.mkdir()
    publish.mark_owned(ours, "temporary")
    (ours / "index.html").write_text("half a report")
    theirs = out.with_name(".latest.tmp-someone-elses")
    _user_folder(theirs)
    removed = publish.clean_leftovers(out)
    assert removed == [ours] and not ours.exists()
    assert (theirs / "precious.txt").read_text() == "a year of work\n"
    assert (out / "index.html").read_text() == "previous report"


def test_a_report_moved_aside_by_an_unfinished_swap_is_put_back(tmp_path):
    from gpucompare.report import publish

    out = tmp_path / "reports" / "latest"
    _previous_report(out)
    aside = out.with_name(".latest.old-4242")
    os.replace(out, aside)  # the process died between the two renames of the fallback swap
    publish.clean_leftovers(out)
    assert (out / "index.html").read_text() == "previous report" and not aside.exists()


def test_the_swap_exchanges_atomically_without_moving_the_report_aside(tmp_path, monkeypatch):
    from gpucompare.report import publish

    out = tmp_path / "latest"
    _previous_report(out)
    new = publish.new_temp_folder(out)
    (new / "index.html").write_text("new report")
    (new / "manifest.json").write_text('{"generator": "gpucompare", "kind": "report"}\n')
    real_replace = os.replace

    def no_window(src, dst, *a, **k):
        # Moving the report away would open a moment with no report at --out.
        assert Path(src) != out, "the report was moved aside"
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", no_window)
    publish.swap_into_place(new, out)
    assert (out / "index.html").read_text() == "new report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def test_the_fallback_swap_restores_the_report_when_the_second_rename_fails(tmp_path, monkeypatch):
    from gpucompare.report import publish

    out = tmp_path / "latest"
    _previous_report(out)
    new = publish.new_temp_folder(out)
    monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    real_replace = os.replace

    def fail_second(src, dst, *a, **k):
        if Path(src) == new:
            raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(OSError):
        publish.swap_into_place(new, out)
    assert (out / "index.html").read_text() == "previous report"


def test_a_second_build_of_the_same_out_is_refused_naming_the_first(run_cli, tmp_path):
    from gpucompare.report import publish

    out = tmp_path / "latest"
    _previous_report(out)
    before = _snapshot(tmp_path)
    with publish.exclusive(out.resolve()):
        res = run_cli(
            "report", "--out", str(out), "--notebooks", str(_small_notebooks(tmp_path / "nbs"))
        )
    _refused(res, "another gpucompare build", rf"pid {os.getpid()}")
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("nbs")} == before


def test_a_truncated_cache_entry_is_rebuilt_and_said(run_cli, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("GPUCOMPARE_CACHE_DIR", str(cache_dir))
    nbs = _tiny_notebooks(tmp_path / "nbs")
    out = tmp_path / "latest"
    args = ("report", "--out", str(out), "--notebooks", str(nbs), "--jobs", "1")
    assert run_cli(*args).returncode == 0
    (entry,) = (cache_dir / "sections" / "01_tiny").glob("*.ipynb")
    entry.write_bytes(entry.read_bytes()[:1000])
    res = run_cli(*args, "--set", "title=another title")  # not up to date: the build runs
    assert res.returncode == 0, res.stderr
    assert "re-ran 01_tiny.ipynb" in res.stdout and "corrupt" in res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sections"][0]["cache_repaired"] is True


def test_a_kernel_that_fails_to_start_is_tried_once_more(tmp_path, monkeypatch):
    import papermill
    import zmq

    calls = []
    real = papermill.execute_notebook

    def port_race(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise zmq.error.ZMQError(98, "Address already in use (addr='tcp://127.0.0.1:5555')")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", port_race)
    monkeypatch.setenv("GPUCOMPARE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "latest"
    build.build(out, nb_dir=_tiny_notebooks(tmp_path / "nbs"), jobs=1)
    assert len(calls) == 2 and (out / "01_tiny.html").is_file()


def test_a_cell_error_is_not_retried():
    from papermill.exceptions import PapermillExecutionError

    cell_error = PapermillExecutionError(3, 3, "RuntimeError", "address already in use", [], "x")
    assert not execute.kernel_failed_to_start(cell_error)
    assert execute.kernel_failed_to_start(
        RuntimeError("Kernel died before replying to kernel_info")
    )
    assert not execute.kernel_failed_to_start(KeyError("usd_per_mtok"))


def test_two_builds_give_byte_identical_pages_notebooks_and_tables(tmp_path, monkeypatch):
    nbs = _small_notebooks(tmp_path / "nbs")
    outs = []
    for name in ("a", "b"):
        monkeypatch.setenv("GPUCOMPARE_CACHE_DIR", str(tmp_path / f"cache-{name}"))
        outs.append(tmp_path / name)
        build.build(outs[-1], nb_dir=nbs, jobs=1, force=True)
    first, second = (_snapshot(o) for o in outs)
    assert first.keys() == second.keys()
    differ = sorted(k for k in first if first[k] != second[k])
    # Only the build's own record may differ: the manifest (time, durations), the front page
    # and the whole-document pages that print the build time.
    assert set(differ) <= {"manifest.json", "index.html", "parameters.html", "print.html"}, differ


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_stop_signal_while_the_temporary_folder_is_made_leaves_nothing(
    tmp_path, monkeypatch, when
):
    # The signal lands between making the temporary folder and marking it as the build's own: an
    # unmarked folder is one nothing may remove. The build holds the signal back until the folder
    # is marked, then stops and removes it.
    from gpucompare.report import publish

    real = publish.mark_owned

    def interrupted(folder, kind):
        if kind == "temporary" and when == "before":
            signal.raise_signal(signal.SIGINT)
        real(folder, kind)
        if kind == "temporary" and when == "after":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(publish, "mark_owned", interrupted)
    monkeypatch.setenv("GPUCOMPARE_CACHE_DIR", str(tmp_path / "cache"))
    nbs = _tiny_notebooks(tmp_path / "nbs")
    out = tmp_path / "reports" / "latest"
    out.parent.mkdir()
    with pytest.raises(KeyboardInterrupt):
        build.build(out, nb_dir=nbs, jobs=1)
    assert os.listdir(out.parent) == []
