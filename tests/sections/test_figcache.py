"""Figures kept by what they show (:mod:`gpucompare.sections.figcache`): the PNG served from memory
or disk is the PNG that drawing the figure gives, and the key follows what decides the pixels.

Expected PNGs come from :func:`savefig_png`, matplotlib's own ``savefig`` called here with the
arguments the report's figures are drawn with, on a separately built identical figure."""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import matplotlib as mpl
import matplotlib.ticker
import pytest

from gpucompare.core import paths
from gpucompare.sections import display, figcache

DPI = 60

#: Builds the test figure; run in this process and, as source, in a separate one (test 3).
BUILD_SRC = '''
from gpucompare.sections import figures


def build(y=2.0):
    """A small report-style figure: a line, a bar, a text label and a legend."""
    fig, ax = figures.new("Throughput", "batch (samples)", "rate (samples/s)")
    fig.set_size_inches(2, 1.5)
    ax.plot([0, 1, 2], [1, y, 3], label="A", **figures.series(0, 3))
    ax.bar([0.5, 1.5], [1, 2], width=0.3, color=figures.colour(1))
    ax.text(1, 2.5, "label")
    figures.legend(ax)
    return fig


def build_row(n=3):
    """``n`` panels sharing the y axis, a twin axis, a log scale, annotations and a row legend
    (more than three panels wrap onto a second row whose unused panels are removed)."""
    fig, axes = figures.new_row("Row", list("abcdef")[:n], "x (s)", "y (W)", panel_height_in=1.0)
    fig.set_size_inches(3, 2)
    for i, ax in enumerate(axes):
        ax.plot([0, 1, 2], [i + 1, i + 2, i + 4], label=f"s{i}", **figures.series(i, 3))
        ax.fill_between([0, 1, 2], [0.5, 0.5, 0.5], [1, 2, 1], alpha=0.2)
        ax.annotate("peak", (1, 2), xytext=(1.5, 3), arrowprops={"arrowstyle": "->"})
    axes[0].set_yscale("log")
    axes[1].twinx().plot([0, 2], [5, 6])
    figures.row_legend(fig, axes)
    return fig
'''
_ns: dict = {}
exec(compile(BUILD_SRC, "<figcache test figures>", "exec"), _ns)
build = _ns["build"]
build_row = _ns["build_row"]


def savefig_png(fig, dpi: int) -> bytes:
    """The PNG of ``fig`` drawn directly by matplotlib (the expected value of every test)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch, tmp_path) -> Path:
    """Every test: an empty cache folder of its own and an empty memory cache."""
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(figcache, "_memory", OrderedDict())
    assert paths.cache_dir() == tmp_path
    return tmp_path


@pytest.fixture
def draws(monkeypatch) -> list:
    """Counts the figures :mod:`figcache` draws (each call's dpi is recorded)."""
    calls: list[int] = []
    real = figcache.draw

    def counting(fig, dpi):
        calls.append(dpi)
        return real(fig, dpi)

    monkeypatch.setattr(figcache, "draw", counting)
    return calls


def forbid_drawing(monkeypatch) -> None:
    def fail(fig, dpi):
        raise AssertionError("figcache drew a figure that should have been served from its cache")

    monkeypatch.setattr(figcache, "draw", fail)


def entry_path(tmp_path: Path, name: str) -> Path:
    return tmp_path / "figures" / f"{name}.json"


# 1. Cached PNGs are the PNGs that drawing gives ---------------------------------------------------


def test_drawn_then_memory_then_disk_are_identical_to_direct_drawing(
    monkeypatch, fresh_cache, draws
):
    expected = savefig_png(build(), DPI)
    assert expected.startswith(b"\x89PNG\r\n\x1a\n")
    name = figcache.key(build(), DPI)

    # (a) first call: drawn, kept in memory and on disk.
    assert figcache.png_base64(build(), DPI) == b64(expected)
    assert draws == [DPI]
    assert list(figcache._memory) == [name]
    doc = json.loads(entry_path(fresh_cache, name).read_text())
    assert doc == {
        "generator": "gpucompare",
        "kind": "figure-png",
        "key": name,
        "payload": b64(expected),
    }

    # (b) a fresh, identical figure: served from memory (the disk entry set aside), nothing drawn.
    forbid_drawing(monkeypatch)
    path = entry_path(fresh_cache, name)
    aside = path.with_suffix(".aside")
    path.rename(aside)
    assert figcache.png_base64(build(), DPI) == b64(expected)
    assert not path.exists()  # a memory hit writes nothing

    # (c) a new process (empty memory): served from disk, and remembered.
    aside.rename(path)
    figcache._memory.clear()
    assert figcache.png_base64(build(), DPI) == b64(expected)
    assert list(figcache._memory) == [name]
    assert draws == [DPI]


def test_the_same_figure_object_asked_twice_is_drawn_once(draws):
    fig = build()
    first = figcache.png_base64(fig, DPI)
    second = figcache.png_base64(fig, DPI)
    assert first == second == b64(savefig_png(build(), DPI))
    assert draws == [DPI]


def test_the_same_figure_object_asked_twice_gives_the_same_png():
    fig = build()
    expected = b64(savefig_png(build(), DPI))
    assert [figcache.png_base64(fig, DPI) for _ in range(3)] == [expected] * 3


# 2. The key follows what the figure shows ----------------------------------------------------------


def _set_y(fig):
    fig.axes[0].lines[0].set_ydata([1, 2.5, 3])


def _set_title(fig):
    fig.axes[0].set_title("Latency")


def _set_colour(fig):
    fig.axes[0].lines[0].set_color("#D55E00")


def _set_limit(fig):
    fig.axes[0].set_ylim(0, 10)


def _set_text(fig):
    fig.axes[0].texts[0].set_text("lab3l")


def _set_size(fig):
    fig.set_size_inches(2.5, 1.5)


CHANGES = {
    "y value": _set_y,
    "title": _set_title,
    "line colour": _set_colour,
    "axis limit": _set_limit,
    "text label": _set_text,
    "figure size": _set_size,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_key_changes_with_what_the_figure_shows(change):
    changed = build()
    change(changed)
    base = figcache.key(build(), DPI)
    assert figcache.key(changed, DPI) != base
    # the change is one a reader sees (else a shared key would be harmless)
    changed_again = build()
    change(changed_again)
    assert savefig_png(changed_again, DPI) != savefig_png(build(), DPI)


def test_key_changes_with_dpi():
    fig = build()
    assert figcache.key(fig, DPI) != figcache.key(fig, DPI + 1)
    assert savefig_png(build(), DPI) != savefig_png(build(), DPI + 1)


def test_key_changes_with_a_tiny_data_change():
    assert figcache.key(build(2.0), DPI) != figcache.key(build(2.0000001), DPI)


@pytest.mark.parametrize("make", [build, build_row], ids=["one axes", "row of panels"])
def test_identical_figures_share_a_key(make):
    first = figcache.key(make(), DPI)
    assert first is not None and len(first) == 64
    assert figcache.key(make(), DPI) == first
    assert figcache.key(make(), 200) == figcache.key(make(), 200)


# 3. Deterministic within and across processes ------------------------------------------------------


@pytest.mark.parametrize("make", [build, build_row], ids=["one axes", "row of panels"])
def test_key_of_one_figure_twice_in_a_row(make):
    fig = make()
    keys = [figcache.key(fig, DPI) for _ in range(3)]
    assert keys[0] is not None and keys == [keys[0]] * 3


def test_callbacks_do_not_change_the_key():
    """Callback registries (and their counters) are left out: a callback draws nothing."""
    base = figcache.key(build(), DPI)
    fig = build()
    ax = fig.axes[0]
    for _ in range(3):  # advances the registries' id counters
        ax.callbacks.disconnect(ax.callbacks.connect("xlim_changed", lambda a: None))
        ax.xaxis.callbacks.disconnect(ax.xaxis.callbacks.connect("units", lambda: None))
    assert figcache.key(fig, DPI) == base
    ax.callbacks.connect("ylim_changed", lambda a: None)  # a lambda left connected
    assert figcache.key(fig, DPI) == base


def _keys_in_a_new_process(code: str, seed: str) -> list[str]:
    """The lines ``code`` prints, run after :data:`BUILD_SRC` in a new Python process."""
    script = BUILD_SRC + "\nfrom gpucompare.sections import figcache\n" + code
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("make", ["build", "build_row"])
def test_key_is_the_same_in_other_processes(make):
    # A bar chart made before (``ax.bar`` changes matplotlib's shared unit rectangle) changes
    # nothing: figures.new resets it (test_key_does_not_depend_on_figures_made_before).
    build()
    here = figcache.key(_ns[make](), 200)
    assert here is not None
    for seed in ("0", "4242"):
        there = _keys_in_a_new_process(f"build()\nprint(figcache.key({make}(), 200))\n", seed)
        assert there == [here], f"PYTHONHASHSEED={seed}"


def test_key_does_not_depend_on_figures_made_before():
    before, after = _keys_in_a_new_process(
        "print(figcache.key(build_row(), 200))\nbuild()\nprint(figcache.key(build_row(), 200))\n",
        "0",
    )
    assert before == after


def _key_before_and_after_collecting_garbage(make) -> tuple[str | None, str | None]:
    """The key of one figure, first while Python's cyclic garbage collector has not run since it
    was built, then after it ran (nothing about the figure changed in between)."""
    gc.disable()
    try:
        fig = make()
        before = figcache.key(fig, DPI)
    finally:
        gc.enable()
    gc.collect()
    return before, figcache.key(fig, DPI)


@pytest.mark.parametrize("make", [build, build_row], ids=["one axes", "row of panels"])
def test_key_does_not_depend_on_garbage_collection(make):
    before, after = _key_before_and_after_collecting_garbage(make)
    assert before is not None and before == after


def test_key_of_a_row_with_removed_panels_does_not_depend_on_garbage_collection():
    before, after = _key_before_and_after_collecting_garbage(lambda: build_row(4))
    assert before is not None and before == after


# 4. rcParams at drawing time are part of the key ---------------------------------------------------


@pytest.mark.parametrize(
    "rc",
    [{"lines.antialiased": False}, {"savefig.facecolor": "#FFEEDD"}, {"savefig.pad_inches": 0.3}],
    ids=lambda rc: next(iter(rc)),
)
def test_rcparams_that_change_drawing_change_the_key(rc):
    default_key = figcache.key(build(), DPI)
    default_png = figcache.png_base64(build(), DPI)
    assert default_png == b64(savefig_png(build(), DPI))
    fig, fig_expected = build(), build()  # built as before: only drawing sees the change
    with mpl.rc_context(rc):
        assert figcache.key(fig, DPI) != default_key
        got = figcache.png_base64(fig, DPI)
        expected = savefig_png(fig_expected, DPI)
    assert expected != base64.b64decode(default_png)  # the rcParam does change the pixels
    assert got == b64(expected)
    assert figcache.png_base64(build(), DPI) == default_png  # and back: the default again


# 5. A corrupt or foreign disk entry is a miss -------------------------------------------------------

BAD_ENTRIES = {
    "garbage": lambda name: b"\x00\xffnot json at all",
    "empty file": lambda name: b"",
    "json list": lambda name: b"[1, 2, 3]",
    "payload a number": lambda name: json.dumps(
        {"generator": "gpucompare", "kind": "figure-png", "key": name, "payload": 12345}
    ).encode(),
    "payload a list": lambda name: json.dumps(
        {"generator": "gpucompare", "kind": "figure-png", "key": name, "payload": ["iVBO"]}
    ).encode(),
    "another kind": lambda name: json.dumps(
        {"generator": "gpucompare", "kind": "other", "key": name, "payload": "iVBORw0KGgo="}
    ).encode(),
    "another generator": lambda name: json.dumps(
        {"generator": "someone", "kind": "figure-png", "key": name, "payload": "iVBORw0KGgo="}
    ).encode(),
    "another key": lambda name: json.dumps(
        {
            "generator": "gpucompare",
            "kind": "figure-png",
            "key": "0" * 64,
            "payload": "iVBORw0KGgo=",
        }
    ).encode(),
    "no payload": lambda name: json.dumps(
        {"generator": "gpucompare", "kind": "figure-png", "key": name}
    ).encode(),
}


@pytest.mark.parametrize("bad", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_corrupt_or_foreign_entry_is_a_miss(bad, fresh_cache, draws):
    expected = b64(savefig_png(build(), DPI))
    name = figcache.key(build(), DPI)
    assert figcache.png_base64(build(), DPI) == expected
    path = entry_path(fresh_cache, name)
    assert path.is_file()
    path.write_bytes(bad(name))
    figcache._memory.clear()
    assert figcache.png_base64(build(), DPI) == expected
    assert draws == [DPI, DPI]  # drawn again, not read
    assert list(figcache._memory) == [name]


def test_wrong_payload_is_replaced_by_the_drawn_png(monkeypatch, fresh_cache):
    expected = b64(savefig_png(build(), DPI))
    name = figcache.key(build(), DPI)
    path = entry_path(fresh_cache, name)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"generator": "gpucompare", "kind": "figure-png", "key": name, "payload": 7})
    )
    assert figcache.png_base64(build(), DPI) == expected
    figcache._memory.clear()
    forbid_drawing(monkeypatch)
    assert figcache.png_base64(build(), DPI) == expected  # from the rewritten entry


def test_unreadable_cache_folder_is_a_miss(fresh_cache, draws):
    (fresh_cache / "figures").write_text("a file where the folder should be")
    expected = b64(savefig_png(build(), DPI))
    assert figcache.png_base64(build(), DPI) == expected
    figcache._memory.clear()
    assert figcache.png_base64(build(), DPI) == expected
    assert draws == [DPI, DPI]


# 6. A figure that cannot be pickled is drawn every time ---------------------------------------------


def _with_lambda_formatter(fig):
    fig.axes[0].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:.0f}s"))
    return fig


def test_unpicklable_figure_is_drawn_every_time(fresh_cache, draws):
    assert figcache.key(_with_lambda_formatter(build()), DPI) is None
    expected = savefig_png(_with_lambda_formatter(build()), DPI)
    assert expected != savefig_png(build(), DPI)  # the formatter shows
    fig = _with_lambda_formatter(build())
    got = [figcache.png_base64(fig, DPI)] + [
        figcache.png_base64(_with_lambda_formatter(build()), DPI) for _ in range(2)
    ]
    assert got == [b64(expected)] * 3
    assert draws == [DPI] * 3
    assert not figcache._memory
    assert not list(fresh_cache.rglob("*.json"))


# 7. The memory cache is bounded ----------------------------------------------------------------------


def test_memory_keeps_the_last_entries_used(monkeypatch, fresh_cache):
    monkeypatch.setattr(figcache, "MEMORY_ENTRIES", 3)
    ys = [2.0, 2.2, 2.4, 2.6, 2.8]
    names = [figcache.key(build(y), DPI) for y in ys]
    assert len(set(names)) == 5
    for y in ys:
        figcache.png_base64(build(y), DPI)
    assert list(figcache._memory) == names[2:]
    assert names[0] not in figcache._memory and names[1] not in figcache._memory
    assert len(list((fresh_cache / "figures").glob("*.json"))) == 5  # the disk keeps them all

    forbid_drawing(monkeypatch)
    assert figcache.png_base64(build(ys[2]), DPI) == b64(savefig_png(build(ys[2]), DPI))
    assert list(figcache._memory) == [names[3], names[4], names[2]]  # a hit is the newest
    assert figcache.png_base64(build(ys[0]), DPI) == b64(savefig_png(build(ys[0]), DPI))
    assert list(figcache._memory) == [names[4], names[2], names[0]]  # from disk, remembered
    assert len(figcache._memory) == figcache.MEMORY_ENTRIES


# 8. Through display ------------------------------------------------------------------------------------


def test_display_figure_shows_the_drawn_png(monkeypatch):
    expected = savefig_png(build(), display.Figure.dpi)  # the report's 200 dpi
    data, _ = display.figure(build(), "fc1", "What it shows.")._repr_mimebundle_()
    assert data["image/png"] == b64(expected)
    assert f"data:image/png;base64,{b64(expected)}" in data["text/html"]
    forbid_drawing(monkeypatch)  # a rebuilt figure is served from the cache
    shown = display.figure(build(), "fc1", "What it shows.")
    assert shown.png_bytes() == expected
    assert shown._repr_mimebundle_()[0]["image/png"] == b64(expected)
