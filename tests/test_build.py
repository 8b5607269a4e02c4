"""End to end: the report builds into a temporary directory with every promised file, offline;
bad input writes nothing; a failing notebook leaves the previous report untouched."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import BuildError
from gpucompare.report import build, pdf, render
from tests.conftest import SHARED_RTX4090_PRICE

#: The one parameter the report of these tests changes from the defaults.
PRICE = SHARED_RTX4090_PRICE
PRICE_SET = f"price_usd.rtx-4090={PRICE}"


@pytest.fixture(scope="module")
def report(price_report, tmp_path_factory) -> tuple[Path, dict]:
    """A report built with the RTX 4090's price changed: the session's shared build
    (tests/conftest.py), copied into a folder of this module, since some tests build into it."""
    shared, manifest = price_report
    out = tmp_path_factory.mktemp("rep") / "latest"
    shutil.copytree(shared, out, symlinks=True)
    return out, manifest


def test_report_files(report):
    out, manifest = report
    assert (out / "index.html").is_file()
    assert (out / "manifest.json").is_file()
    for s in manifest["sections"]:
        assert (out / s["html"]).is_file()
        assert (out / s["executed_notebook"]).is_file()
        for t in s["tables"]:
            assert (out / t).is_file()
    assert any(t.endswith("spec_table.csv") for s in manifest["sections"] for t in s["tables"])
    # Nothing left behind next to the report: the cache has its own home.
    assert sorted(p.name for p in out.parent.iterdir()) == ["latest"]
    assert json.loads((out / "manifest.json").read_text())["generator"] == "gpucompare"


def test_index_links_sections_and_marks_non_defaults(report):
    out, manifest = report
    html = (out / "index.html").read_text()
    assert 'href="01_specs.html"' in html
    assert manifest["non_default_parameters"] == ["price_usd"]
    assert re.search(r'<tr class="gc-nondefault"><th><code>price_usd</code>', html)
    prov = manifest["provenance"]
    assert {f["name"] for f in prov["data_files"]} >= {"gpus.yaml", "models.yaml"}
    assert all(len(f["sha256"]) == 64 for f in prov["data_files"])


def test_front_page_opens_with_the_summary_answer_and_the_verdict(report):
    out, _ = report
    index = (out / "index.html").read_text()
    summary = (out / "00_summary.html").read_text()
    # The same answer table and verdict list as the summary page, before the contents.
    for marker in ('data-table="answer"', 'data-table="article_verdict"'):
        start = index.index(marker)
        assert start < index.index('id="contents"')
        block = re.search(
            rf'<div class="gc-table-wrap" {marker}.*?</div>|<ul [^>]*{marker}.*?</ul>', index, re.S
        )
        # nbconvert rewrites entities (&#x27; -> '): compare the text the reader gets.
        assert block and html.unescape(block.group(0)) in html.unescape(summary)
    answer = pd.read_csv(out / "tables" / "answer.csv")
    for service in answer["Service"]:
        assert html.escape(service) in index


def test_pages_are_offline_and_codeless(report):
    out, manifest = report
    for s in manifest["sections"]:
        page = (out / s["html"]).read_text()
        assert not re.search(r'<script[^>]+src="https?:', page), s["html"]
        assert not re.search(r'<link[^>]+href="https?:', page), s["html"]
        assert "from gpucompare import" not in page, "code cells must be hidden"
        assert "data:image/png;base64," in page or "figure" not in s["html"]


def test_tables_csv_carry_the_parameter_override(report):
    out, _ = report
    csv = (out / "tables" / "spec_table.csv").read_text()
    price_row = next(line for line in csv.splitlines() if line.startswith("price (USD)"))
    assert str(PRICE) in price_row


def test_rebuild_gives_identical_tables(report, tmp_path):
    out, _ = report
    again = tmp_path / "again"
    build.build(again, sets=[PRICE_SET], jobs=2)
    first = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}
    second = {p.name: p.read_bytes() for p in (again / "tables").iterdir()}
    assert first == second
    # Section pages are identical too, timestamps aside (a fresh cache: every section re-ran).
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
    for page in sorted(out.glob("[0-9][0-9]_*.html")):
        assert stamp.sub("T", page.read_text()) == stamp.sub(
            "T", (again / page.name).read_text()
        ), page.name


def test_failed_build_keeps_previous_report(report, tmp_path):
    out, _ = report
    before = (out / "index.html").read_text()
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    shutil.copy(paths.notebooks_dir() / "01_specs.ipynb", nb_dir)
    bad = nbformat.v4.new_notebook()
    bad.cells = [
        nbformat.v4.new_markdown_cell("# Broken\n\nA section that raises."),
        nbformat.v4.new_code_cell("gpus = ['h100-sxm']  # ids", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('boom in cell two')"),
    ]
    nbformat.write(bad, nb_dir / "09_broken.ipynb")
    with pytest.raises(
        BuildError,
        match=r"09_broken.ipynb: cell \d+ .*raise RuntimeError.*RuntimeError: boom in cell two",
    ):
        build.build(out, nb_dir=nb_dir, jobs=2)
    assert (out / "index.html").read_text() == before
    kept = out.with_name("latest.failed") / "09_broken.ipynb"
    assert kept.is_file() and "boom in cell two" in kept.read_text()
    # No temporary folders left behind.
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    shutil.rmtree(out.with_name("latest.failed"))


def test_a_section_that_times_out_keeps_what_it_ran(tmp_path):
    # Warm kernels write the executed notebook once at the end, not after every cell as papermill
    # does by default; a cell that times out must still leave the cells before it on disk.
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    slow = nbformat.v4.new_notebook()
    slow.cells = [
        nbformat.v4.new_markdown_cell("# Slow\n\nA section whose second cell never ends."),
        nbformat.v4.new_code_cell("gpus = ['h100-sxm']  # ids", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('the first cell ran')"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(600)"),
    ]
    nbformat.write(slow, nb_dir / "01_slow.ipynb")
    out = tmp_path / "latest"
    with pytest.raises(BuildError, match=r"01_slow\.ipynb"):
        build.build(out, nb_dir=nb_dir, jobs=1, timeout_s=2)
    assert not out.exists()
    kept = out.with_name("latest.failed") / "01_slow.ipynb"
    assert kept.is_file() and "the first cell ran" in kept.read_text()


def test_cli_bad_input_exits_2_and_writes_nothing(run_cli, tmp_path):
    out = tmp_path / "r"
    res = run_cli("report", "--out", str(out), "--set", "gpus=[h100]")
    assert res.returncode == 2
    assert "gpus: unknown GPU 'h100'" in res.stderr and "allowed:" in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    res = run_cli("report", "--out", str(out), "--bogus")
    assert res.returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("pue: [1.2\n")
    res = run_cli("report", "--out", str(out), "--params", str(bad))
    assert res.returncode == 2 and "malformed YAML" in res.stderr
    assert not out.exists()


def test_cli_lists_catalogs(run_cli):
    res = run_cli("gpus", "--json")
    assert res.returncode == 0
    ids = [row["gpu_id"] for row in json.loads(res.stdout)]
    assert "h100-sxm" in ids and "rtx-4090" in ids
    res = run_cli("models", "--json")
    assert res.returncode == 0
    models = {row["model_id"]: row for row in json.loads(res.stdout)}
    assert models["llama-2-70b"]["num_key_value_heads"] == 8


# --- pages: parameters, sections, code, print version; helpers; --pdf without Chromium ---------


def test_parameters_page_has_every_parameter_its_default_and_the_sources(report):
    out, _ = report
    page = (out / "parameters.html").read_text()
    for name in params.Params.model_fields:
        assert f"<code>{name}</code>" in page, name
    # The changed parameter: highlighted, badged, its default ({} = no override) shown.
    row = re.search(r'<tr class="gc-nondefault"><th><code>price_usd</code>.*?</tr>', page).group(0)
    assert (
        "changed" in row
        and f"{{rtx-4090: {PRICE}.0}}" in row
        and '<pre class="gc-value">{}</pre>' in row
    )
    assert page.count('class="gc-nondefault"') == 1
    # Every data file with a `sources:` table, read here independently, with every link.
    for path in sorted(paths.data_dir().glob("*.yaml")):
        sources = (yaml.safe_load(path.read_text()) or {}).get("sources") or {}
        if sources:
            assert f'id="sources-{path.stem}"' in page, path.name
        for source_id, s in sources.items():
            assert f"<code>{source_id}</code>" in page
            if str(s.get("url", "")).startswith("https://"):
                assert f'href="{html.escape(s["url"])}"' in page, source_id
    assert page.index('id="sources-gpus"') < page.index('id="sources-models"')


def test_section_pages_have_contents_navigation_and_a_show_code_link(report):
    out, manifest = report
    for s in manifest["sections"]:
        page = (out / s["html"]).read_text()
        assert '<nav class="gc-toc' in page and "On this page" in page
        for other in manifest["sections"]:
            assert f'href="{other["html"]}"' in page
        assert 'href="parameters.html"' in page
        assert f'<a class="gc-button" href="{s["code_html"]}">Show code</a>' in page
        code = (out / s["code_html"]).read_text()
        code_text = re.sub(r"<[^>]+>", "", code)
        assert "from gpucompare import" in code_text, "the code page shows the code"
        assert 'href="../index.html"' in code and f'href="../{s["html"]}"' in code
    # Figures carry their size in CSS pixels (crisp at 2 device pixels per CSS pixel).
    specs = (out / "01_specs.html").read_text()
    assert re.search(r'<img width="\d+"[^>]* src="data:image/png;base64,', specs)


def test_print_version_has_every_section_and_unique_ids(report):
    out, manifest = report
    page = (out / "print.html").read_text()
    positions = [
        page.index(f'<section class="gc-print-part" id="{s["html"][:-5]}"')
        for s in manifest["sections"]
    ]
    assert positions == sorted(positions)
    assert page.index('id="parameters"') > positions[-1]
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids are prefixed per part"
    assert not re.search(r'href="0\d_[a-z_]+\.html', page), (
        "section links point inside the document"
    )


def test_cli_pdf_without_chromium_exits_2_and_keeps_the_report(report, run_cli, monkeypatch):
    out, _ = report
    before = {p: p.read_bytes() for p in (out / "index.html", out / "manifest.json")}
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(out / "no-such-chromium"))
    res = run_cli("report", "--out", str(out), "--pdf")
    assert res.returncode == 2
    assert (
        "--pdf: headless Chromium is needed" in res.stderr
        and "apt-get install chromium" in res.stderr
    )
    assert {p: p.read_bytes() for p in before} == before
    assert not (out / "report.pdf").exists()


def test_add_toc_lists_the_h2_headings_with_their_h3():
    page = (
        '<nav class="gc-nav"><a href="x.html">x</a></nav><main><h1 id="T">Title</h1><!--gc:toc-->'
        '<h2 id="a">First<a class="anchor-link" href="#a">¶</a></h2><h3 id="a1">Inner</h3>'
        '<h2 id="b">Second <code>x</code></h2></main>'
    )
    done = render.add_toc(page)
    toc = re.search(r'<nav class="gc-toc[^"]*".*?</nav>', done).group(0)
    assert re.findall(r'href="#([^"]+)"', toc) == ["a", "a1", "b"]
    assert "¶" not in toc and "Second <code>x</code>" in toc
    assert done.index(toc) < done.index('<h2 id="a">')
    # One heading is no contents: no table of contents, marker removed.
    single = render.add_toc('<main><!--gc:toc--><h2 id="a">Only</h2></main>')
    assert "gc-toc" not in single and "<!--" not in single


def test_png_css_width_is_the_size_in_inches_at_96_px():
    fig = Figure(figsize=(3.0, 1.0))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200)
    b64 = base64.b64encode(buf.getvalue()).decode()
    # 3 in at 200 dpi = 600 px; shown at 96 CSS px per inch: 3 * 96 = 288 px.
    assert render.png_css_width(b64) == 288
    sized = render.size_figures(f'<img src="data:image/png;base64,{b64}" alt="a">')
    assert sized.startswith('<img width="288" src=')


def test_data_sources_reads_any_yaml_with_a_sources_table(tmp_path):
    (tmp_path / "b.yaml").write_text(
        "sources:\n  s1: {title: Doc one, url: 'https://example.org/1', publisher: P, date: 2024-01,"
        " verified: true}\n  s2: {title: Doc two, url: 'javascript:alert(1)', publisher: Q,"
        " verified: false}\n"
    )
    (tmp_path / "a.yaml").write_text("no_sources: here\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("sources: {s3: {title: Three}}\n")
    files = render.data_sources(tmp_path)
    assert [f["name"] for f in files] == ["b.yaml", "sub/c.yaml"]
    s1, s2 = files[0]["sources"]
    assert (s1["id"], s1["url"], s1["date"], s1["verified"]) == (
        "s1",
        "https://example.org/1",
        "2024-01",
        True,
    )
    assert s2["url"] == "", "only http(s) URLs become links"
    assert files[1]["slug"] == "sub-c" and files[1]["sources"][0]["title"] == "Three"


#: The price of the rebuild below. The section store is shared by the whole test session (all
#: workers), so a section another test built with this price would be reused, not run: no other
#: test may use it (the preview tests once used the same 2999 and made this test order-dependent).
UNSHARED_RTX4090_PRICE = 2611


def test_unchanged_inputs_are_up_to_date_and_a_price_change_reruns_only_cost_sections(report):
    from gpucompare import params
    from gpucompare.report import cache

    out, _ = report
    p, _ = params.resolve(sets=[PRICE_SET])
    assert cache.up_to_date(out, p.model_dump(mode="json"), p.title, pdf=False) is not None
    changed = f"price_usd.rtx-4090={UNSHARED_RTX4090_PRICE}"
    q, _ = params.resolve(sets=[changed])
    assert cache.up_to_date(out, q.model_dump(mode="json"), q.title, pdf=False) is None
    notebooks = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    declares = {nb.name for nb in notebooks if "price_usd" in cache.parameter_names(nb)}
    keys = cache.section_keys(notebooks, q.model_dump(mode="json"))
    stored_before = {
        f"{stem}.ipynb" for stem, key in keys.items() if cache.sections_store().has(stem, key)
    }
    assert not stored_before & declares, (
        f"another test built {UNSHARED_RTX4090_PRICE}: {stored_before}"
    )
    again = build.build(out, sets=[changed], jobs=2)
    executed = {s["notebook"] for s in again["sections"] if not s["cached"]}
    assert {s["notebook"] for s in again["sections"]} == {nb.name for nb in notebooks}
    assert executed == declares
    assert "02_memory.ipynb" not in executed
    price_row = next(
        line
        for line in (out / "tables" / "spec_table.csv").read_text().splitlines()
        if line.startswith("price (USD)")
    )
    assert str(UNSHARED_RTX4090_PRICE) in price_row
