"""Rendered pages are reused (issue 21): a build re-renders only the pages of the sections it ran
again, and a reused page has the same bytes as a fresh render. Two small section notebooks keep
the builds short: ``01_alpha`` reads ``years`` (changed between builds), ``02_beta`` reads ``pue``
(unchanged)."""

from __future__ import annotations

import pytest

from gpucompare.core import paths
from gpucompare.report import build
from tests.tiny_sections import write_section


@pytest.fixture
def setup(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_section(nbs, "01_alpha.ipynb", "Alpha", "years: float = 3")
    write_section(nbs, "02_beta.ipynb", "Beta", "pue: float = 1.3")
    for name, text in {
        "a": "years: 3\n",
        "b": "years: 5\n",
        "t": "years: 5\ntitle: Other\n",
    }.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    rendered: list[tuple[str, bool]] = []
    real = build.export_html

    def counting(nb, s, sections, context, code=False):
        rendered.append((s.stem, code))
        return real(nb, s, sections, context, code=code)

    monkeypatch.setattr(build, "export_html", counting)
    return tmp_path, nbs, rendered


def test_only_the_sections_that_ran_are_rendered_again(setup, monkeypatch):
    root, nbs, rendered = setup
    out = root / "out"
    build.build(out, [root / "a.yaml"], nb_dir=nbs, jobs=1)
    assert sorted(rendered) == [
        ("01_alpha", False),
        ("01_alpha", True),
        ("02_beta", False),
        ("02_beta", True),
    ]
    rendered.clear()
    manifest = build.build(out, [root / "b.yaml"], nb_dir=nbs, jobs=1)
    ran = sorted(s["notebook"] for s in manifest["sections"] if not s["cached"])
    assert ran == ["01_alpha.ipynb"]
    assert sorted(rendered) == [("01_alpha", False), ("01_alpha", True)]
    assert "years = 5" in (out / "01_alpha.html").read_text(encoding="utf-8")

    # The reused page is byte for byte what a fresh render (an empty cache) makes.
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(root / "fresh-cache"))
    fresh = root / "fresh"
    build.build(fresh, [root / "b.yaml"], nb_dir=nbs, jobs=1)
    for page in ("02_beta.html", "code/02_beta.html", "01_alpha.html"):
        assert (out / page).read_bytes() == (fresh / page).read_bytes(), page


def test_a_new_title_renders_every_page_again(setup):
    """The title is on every page (navigation): no section runs, every page is rendered."""
    root, nbs, rendered = setup
    out = root / "out"
    build.build(out, [root / "b.yaml"], nb_dir=nbs, jobs=1)
    rendered.clear()
    manifest = build.build(out, [root / "t.yaml"], nb_dir=nbs, jobs=1)
    assert all(s["cached"] for s in manifest["sections"])
    assert len(rendered) == 4
    assert "Other" in (out / "02_beta.html").read_text(encoding="utf-8")


def test_force_renders_every_page_again(setup):
    root, nbs, rendered = setup
    out = root / "out"
    build.build(out, [root / "b.yaml"], nb_dir=nbs, jobs=1)
    rendered.clear()
    build.build(out, [root / "b.yaml"], nb_dir=nbs, jobs=1, force=True)
    assert len(rendered) == 4


def test_the_tables_script_is_kept_and_read_back_without_itables(tmp_path, monkeypatch):
    # itables (and the pandas it imports) loads only to make the script the first time.
    from gpucompare.report import render

    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    render._itables_init.cache_clear()
    made = render._make_itables_init()
    assert render._itables_init() == made and made.endswith("</script>\n")

    def no_itables():
        raise AssertionError("itables was asked again although the script was kept")

    monkeypatch.setattr(render, "_make_itables_init", no_itables)
    render._itables_init.cache_clear()
    assert render._itables_init() == made
    # A damaged entry is made again, not served.
    (entry,) = (tmp_path / "cache" / "itables").glob("*.json")
    entry.write_text('{"generator": "gpucompare", "kind": "itables-init", "payload": 1}')
    monkeypatch.undo()
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    render._itables_init.cache_clear()
    assert render._itables_init() == made
    render._itables_init.cache_clear()
