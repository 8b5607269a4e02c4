"""Escaping everywhere: text from data files and parameters never reaches a page as markup.

Ids in the data files are checked by ``gpucompare check-data`` (and before a build), every table
path escapes its cells, index labels, headers and caption, and every page escapes the title and
the data sources, while the HTML the library renders itself (page bodies, CSS) is not escaped twice.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import checkdata
from gpucompare.report import build, execute, preflight, provenance, render
from gpucompare.sections import display, figures

DATA = paths.repo_root() / "data"
NOTEBOOKS = paths.repo_root() / "notebooks"
IMG = "<img src=x onerror=alert(1)>"
IMG_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
SCRIPT = "<script>alert(1)</script>"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def data_copy(tmp_path: Path, monkeypatch, file: str, edit) -> Path:
    """A copy of data/ with ``edit`` applied to one YAML file; the library (and a CLI subprocess,
    which inherits the environment) reads the copy."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    raw = yaml.safe_load((data / file).read_text(encoding="utf-8"))
    edit(raw)
    (data / file).write_text(
        yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    return data


def add_model_with_id(model_id: str):
    def edit(raw):
        raw["models"].append({**raw["models"][0], "id": model_id})

    return edit


# --- (a) ids in data files --------------------------------------------------------------------------


def test_check_data_refuses_a_model_id_carrying_html(run_cli, tmp_path, monkeypatch):
    data = data_copy(tmp_path, monkeypatch, "models.yaml", add_model_with_id("x" + IMG))
    res = run_cli("check-data")
    assert res.returncode == 2, res.stdout + res.stderr
    last = len(yaml.safe_load((data / "models.yaml").read_text())["models"]) - 1  # the added one
    assert f"{data / 'models.yaml'}: models[{last}].id: 'x{IMG}' is not a valid id" in res.stdout
    assert "1 problem(s) in 1 data file(s)" in res.stderr


@pytest.mark.parametrize(
    ("file", "edit", "key"),
    [
        (
            "gpus.yaml",
            lambda raw: raw["sources"].update({"Bad Source": {"title": "t", "url": "https://x"}}),
            "sources.Bad Source",
        ),
        ("gpus.yaml", lambda raw: raw["gpus"][0]["specs"]["tdp_w"].update(source="a<b"), "source"),
        ("cloud_prices.yaml", lambda raw: raw["prices"][0].update(kind="On Demand"), "kind"),
        ("claims/specs.yaml", lambda raw: raw["claims"][0].update(id="spec<b>"), "claims[0].id"),
        (
            "architectures.yaml",
            lambda raw: raw["variants"][0]["applies_to"].append("A100"),
            "applies_to[1]",
        ),
    ],
)
def test_every_kind_of_id_is_checked(tmp_path, monkeypatch, file, edit, key):
    data = data_copy(tmp_path, monkeypatch, file, edit)
    found = [p for p in checkdata.id_problems() if "is not a valid id" in p.problem]
    assert len(found) == 1, found
    assert found[0].file == str(data / file) and key in found[0].key, found[0]


def test_measurement_csv_ids_are_checked(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    path = data / "measurements" / "kernels.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("h100-sxm", "H100<b>", 1)
    path.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    found = checkdata.id_problems()
    assert [(p.file, p.key) for p in found] == [(str(path), "row 2.gpu_id")]


def test_real_data_ids_match_the_pattern():
    assert checkdata.id_problems() == []


def test_a_build_refuses_an_id_carrying_html_before_anything_runs(tmp_path, monkeypatch):
    data = data_copy(tmp_path, monkeypatch, "models.yaml", add_model_with_id("x" + IMG))
    last = len(yaml.safe_load((data / "models.yaml").read_text())["models"]) - 1  # the added one
    with pytest.raises(InputError, match=rf"models\[{last}\]\.id: 'x<img"):
        preflight.preflight(params.make())


def test_notebook_names_are_checked(tmp_path):
    for name in ("00_summary.ipynb", "01_specs.ipynb", "scratch.ipynb", "README.md"):
        (tmp_path / name).write_text("{}")
    checkdata.check_notebook_names(tmp_path)  # all good: returns
    for name in ("02_Memory.ipynb", '03_x"><b>.ipynb', "4_short.ipynb"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(InputError) as exc:
        checkdata.check_notebook_names(tmp_path)
    lines = str(exc.value).splitlines()
    assert len(lines) == 3
    assert all("not a valid section notebook name" in line for line in lines)
    assert {line.split(": ", 1)[0] for line in lines} == {
        str(tmp_path / n) for n in ("02_Memory.ipynb", '03_x"><b>.ipynb', "4_short.ipynb")
    }
    checkdata.check_notebook_names(NOTEBOOKS)  # the project's own notebooks pass


# --- (b) tables and figures -----------------------------------------------------------------------


def hostile_frames() -> dict[str, pd.DataFrame]:
    return {
        "named index": pd.DataFrame(
            {IMG: [IMG, 1.5], "n": [1.0, 2.0]}, index=pd.Index([IMG, "b"], name="i" + IMG)
        ),
        "unnamed index": pd.DataFrame({IMG: [IMG, "x"], "n": [1.0, 2.0]}),
        "multi index": pd.DataFrame(
            {IMG: [IMG, "y"], "n": [1.0, 2.0]},
            index=pd.MultiIndex.from_tuples([(IMG, 1), ("b", 2)], names=["g", "h" + IMG]),
        ),
    }


@pytest.mark.parametrize("frame_kind", ["named index", "unnamed index", "multi index"])
@pytest.mark.parametrize(
    "options",
    [{}, {"cell_class": lambda v: "gc-good"}, {"highlight": {"n": "max"}}],
    ids=["to_html", "styler-cell_class", "styler-highlight"],
)
def test_table_escapes_cells_index_headers_and_caption(frame_kind, options):
    frame = hostile_frames()[frame_kind]
    data, _ = display.table(frame, "t", IMG, **options)._repr_mimebundle_()
    page = data["text/html"]
    assert "<img" not in page
    assert IMG_ESCAPED in page
    assert page.count(IMG_ESCAPED) >= 3  # a header, a cell and the caption at least
    assert "&amp;lt;" not in page, "escaped once, not twice"
    assert "<table" in page and 'id="table-t"' in page


def test_normal_tables_render_unchanged_text_on_both_paths():
    frame = pd.DataFrame(
        {"gpu": ["h100-sxm", "rtx-4090"], "price_usd": [30000.0, 1999.0]}
    ).set_index("gpu")
    for options in ({}, {"cell_class": lambda v: "gc-good"}):
        page = display.table(frame, "t", "A & B.", **options)._styled_html()
        # Catalog ids read as the catalog's names on the page (NVIDIA's product names).
        assert ">H100 SXM</td>" in page and ">30,000</td>" in page and ">1,999</td>" in page
        assert ">GPU</th>" in page and ">Price (USD)</th>" in page  # headers in words
        assert '<p class="gc-caption">A &amp; B.</p>' in page


def test_figure_escapes_caption_and_alt():
    fig, ax = figures.new("Title", "x (unit)", "y (unit)")
    ax.plot([1, 2], [3, 4])
    data, _ = display.figure(fig, "f", IMG, alt='"' + IMG)._repr_mimebundle_()
    page = data["text/html"]
    assert page.count("<img") == 1  # the figure's own image only
    assert f"<figcaption>{IMG_ESCAPED}</figcaption>" in page
    assert f'alt="&quot;{IMG_ESCAPED}"' in page


# --- (c) a title carrying HTML, on every page of a built report ----------------------------------


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    """A one-section report (01_specs) built with a title that carries a script."""
    root = tmp_path_factory.mktemp("escaping")
    nb_dir = root / "notebooks"
    nb_dir.mkdir()
    shutil.copy(NOTEBOOKS / "01_specs.ipynb", nb_dir)
    out = root / "report"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(paths.CACHE_DIR_ENV, str(root / "cache"))
        build.build(out, sets=[f"title={SCRIPT}"], nb_dir=nb_dir, jobs=1)
    return out


PAGES = ["index.html", "parameters.html", "print.html", "01_specs.html", "code/01_specs.html"]


@pytest.mark.parametrize("page", PAGES)
def test_title_is_escaped_on_every_page(hostile_report, page):
    text = (hostile_report / page).read_text(encoding="utf-8")
    assert SCRIPT not in text
    assert SCRIPT_ESCAPED in text
    assert "&amp;lt;script" not in text, "escaped once, not twice"


@pytest.mark.parametrize("page", PAGES)
def test_page_bodies_are_not_escaped_twice(hostile_report, page):
    text = (hostile_report / page).read_text(encoding="utf-8")
    assert "<table" in text and "&lt;table" not in text
    assert "&lt;div" not in text and "&lt;section" not in text and "&lt;style" not in text
    assert "<style" in text and "<nav" in text


def test_print_page_footer_title_is_css_escaped(hostile_report):
    text = (hostile_report / "print.html").read_text(encoding="utf-8")
    assert r'content: "\3c script\3e alert(1)\3c /script\3e "' in text


def test_the_library_templates_autoescape():
    env = render._jinja_env()
    assert env.from_string("{{ x }}").render(x=SCRIPT) == SCRIPT_ESCAPED
    # The shared macros escape in nbconvert's environment too, which does not autoescape.
    exporter_env = render._exporter().environment
    for e in (env, exporter_env):
        nav = e.get_template("report_macros.html.j2").module.nav(
            SCRIPT, [{"href": '"><b>', "label": IMG, "number": 1, "current": False}]
        )
        assert SCRIPT not in nav and "<img" not in nav and '"><b>' not in nav
        assert SCRIPT_ESCAPED in nav and IMG_ESCAPED in nav and 'href="&#34;&gt;&lt;b&gt;"' in nav


def test_hrefs_and_names_from_notebook_and_table_names_are_escaped_on_every_page():
    """Section hrefs come from notebook file names and download links from table names: text,
    escaped like everything else (check_notebook_names refuses such names; the templates do not
    rely on it). print.html is rendered from a section with a valid file name: the build prefixes
    the ids of each part with its name (build._print_part), which only the name check keeps safe."""
    prov = provenance.provenance("2024-01-01 00:00:00")
    p = params.make(title="Report " + SCRIPT)
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Title\n\nWhat?\n\n## One\n\nx\n\n## Two\n\ny")]
    )
    context = {"gc_title": p.title, "gc_version": "0", "gc_built_at": "2024-01-01 00:00:00"}
    pages = {}
    for stem in ('01_x"><img src=x onerror=alert(1)>', "01_specs"):
        section = execute.Section(Path(stem + ".ipynb"), "Title " + IMG, "Question " + IMG, [])
        section.tables = ['t"><img src=x onerror=alert(1)>']
        sections = [section]
        section_page = render.export_html(nb, section, sections, context)
        if stem == "01_specs":
            pages["print"] = render.render_print(p, sections, {stem: section_page}, prov)
            continue
        pages["index"] = render.render_index(p, {}, sections, prov)
        pages["parameters"] = render.render_parameters(p, sections, prov)
        pages["section"] = section_page
        pages["code"] = render.export_html(nb, section, sections, context, code=True)
    for name, page in pages.items():
        assert "<img" not in page and SCRIPT not in page, name
        assert IMG_ESCAPED in page, name
        assert "&amp;lt;" not in page, name


# --- (d) a data source carrying HTML, on the parameters and print pages ----------------------------


def test_source_title_note_and_publisher_are_escaped(tmp_path, monkeypatch):
    def edit(raw):
        first = next(iter(raw["sources"].values()))
        first.update(title="T" + IMG, note="N" + IMG, publisher="P" + IMG, date="D" + IMG)
        second = list(raw["sources"].values())[1]
        second.update(url='javascript:alert(1)//"><b>')

    data_copy(tmp_path, monkeypatch, "gpus.yaml", edit)
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    shutil.copy(NOTEBOOKS / "01_specs.ipynb", nb_dir)
    sections = execute.discover(nb_dir)
    prov = provenance.provenance("2024-01-01 00:00:00")
    p = params.make(title="Title " + SCRIPT)
    page = render.render_parameters(p, sections, prov)
    body = "<p>section body</p><table class='x'><tr><td>1</td></tr></table>"
    section_page = (
        f"<html><head><style>.x{{}}</style></head><body><!--gc:main-->{body}<!--gc:/main-->"
    )
    printed = render.render_print(p, sections, {"01_specs": section_page}, prov)
    for text in (page, printed):
        assert "<img" not in text and SCRIPT not in text
        for prefix in "TNPD":
            assert prefix + IMG_ESCAPED in text
        assert "javascript:" not in text, "only http(s) URLs become links"
        assert SCRIPT_ESCAPED in text
    assert body in printed, "the section body is trusted HTML: not escaped"
    assert "<style>.x{}</style>" in printed


def test_code_that_reads_as_markup_is_shown_as_text_on_the_code_page():
    # The code page shows each cell's source highlighted by Pygments, which escapes it (the
    # template does not pass it through bleach as well: tests/test_exporter.py, render time).
    from bs4 import BeautifulSoup

    source = f'x = "{SCRIPT}"  # {IMG}\n# </div></div><script>alert(2)</script>'
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Title\n\nWhat?"), nbformat.v4.new_code_cell(source)]
    )
    section = execute.Section(Path("01_x.ipynb"), "Title", "Question", [])
    context = {"gc_title": "T", "gc_version": "0", "gc_built_at": ""}
    page = render.export_html(nb, section, [section], context, code=True)
    assert SCRIPT not in page and "<script>alert(2)" not in page and "<img" not in page
    (editor,) = BeautifulSoup(page, features="html.parser").select(".jp-InputArea-editor")
    assert editor.select("script, img") == []
    assert editor.get_text().strip() == source  # the source, as text
