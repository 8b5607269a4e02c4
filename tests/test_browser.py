"""The published report in a real browser: headless Chromium (the Debian package, driven by
Playwright; no browser is downloaded) opens every page of a freshly built default report from
disk and checks what a reader would meet: no console error, every image loaded, every internal
link and #anchor resolving, tables of contents pointing at the page's headings, every section
reachable from index.html, light and dark colours, print rules, and not one request leaving the
machine. The PDF (``--pdf``) is checked for every section, each starting on its own page.

With ``pytest --screenshots`` (``make screenshots``), a full-page screenshot of every page (light,
and dark for the section pages) is saved under the test's tmp dir (printed at the end of the run
with ``-rA``, or see ``pytest --basetemp``): pictures to look at, not checks, so a plain run
leaves them out (they took ~35 s of the browser tests' ~80).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from gpucompare.data import catalog, interconnect
from gpucompare.report import compare, pdf
from gpucompare.sections import labels
from tests.conftest import SHARED_RTX4090_PRICE

CHROMIUM = pdf.find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed here (Debian: apt-get install chromium); "
    ".ci/run installs it, so CI always runs these tests",
)

#: What the tests read from each page once it has loaded.
PAGE_FACTS_JS = """() => ({
  ids: [...document.querySelectorAll("[id]")].map(e => e.id),
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  images: document.images.length,
  brokenImages: [...document.images]
    .filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.alt || i.src.slice(0, 80)),
  missingAlt: [...document.images].filter(i => !i.alt).length,
  toc: [...document.querySelectorAll("nav.gc-toc a")].map(a => a.getAttribute("href")),
  h2: [...document.querySelectorAll("main h2[id]")].map(h => h.id),
  nav: [...document.querySelectorAll("nav.gc-nav a")].map(a => a.getAttribute("href")),
  codeCells: document.querySelectorAll(".jp-CodeCell .jp-InputArea-editor").length,
  sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  headers: [...document.querySelectorAll("main table th")].map(th => th.textContent.trim()),
  interactive: document.querySelectorAll("table.gc-interactive").length,
  searchBoxes: document.querySelectorAll(".dt-search input").length,
  overflowing: [...document.querySelectorAll(".gc-table-wrap")]
    .filter(d => d.querySelector("table") && d.querySelector("table").scrollWidth > d.clientWidth + 1)
    .map(d => `${d.dataset.table || d.querySelector("table").id}: ${d.querySelector("table").scrollWidth} px in ${d.clientWidth} px`),
  idCells: [...document.querySelectorAll("main table td, main table th")]
    .map(c => c.textContent.trim()),
})"""
#: Long tables become DataTables once itables' module has loaded (after the load event).
DATATABLES_READY_JS = """() => document.querySelectorAll("table.gc-interactive").length
  === document.querySelectorAll(".dt-search input").length"""


def _luminance(css_color: str) -> float:
    """Relative luminance (0 black .. 1 white) of a computed ``rgb(...)``/``rgba(...)`` colour."""
    parts = css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")
    r, g, b = (float(x) / 255 for x in parts[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


@pytest.fixture(scope="module")
def report(default_report) -> tuple[Path, dict]:
    """The default report with its PDF, built once per test session (tests/conftest.py)."""
    return default_report


@pytest.fixture(scope="module")
def screenshots(request, tmp_path_factory):
    """``shots(name)``: a new folder for screenshots with ``--screenshots``, else None."""

    def shots(name: str) -> Path | None:
        if not request.config.getoption("--screenshots"):
            return None
        return tmp_path_factory.mktemp(name)

    return shots


def _screenshot(page, folder: Path | None, name: str) -> None:
    if folder is not None:
        page.screenshot(path=str(folder / name), full_page=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def visits(report, browser, screenshots) -> dict:
    """Open every HTML page of the report once, recording what the tests check."""
    out, _ = report
    shots = screenshots("screenshots")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    offsite: list[str] = []

    def only_local(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):  # blob: in-page memory (itables)
            route.continue_()
        else:
            offsite.append(url)
            route.abort()

    context.route("**/*", only_local)
    pages = {}
    for path in sorted(out.rglob("*.html")):
        rel = path.relative_to(out).as_posix()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function(DATATABLES_READY_JS, timeout=20_000)
        facts = page.evaluate(PAGE_FACTS_JS)
        _screenshot(page, shots, f"{rel.replace('/', '__')}.png")
        pages[rel] = {"errors": errors, **facts}
        page.close()
    context.close()
    if shots is not None:
        print(f"\nscreenshots of every page: {shots}")
    return {"out": out, "pages": pages, "offsite": offsite, "shots": shots}


def test_every_page_opens_without_console_errors(visits):
    assert len(visits["pages"]) >= 5
    bad = {rel: v["errors"] for rel, v in visits["pages"].items() if v["errors"]}
    assert bad == {}


def test_no_page_scrolls_sideways(visits, report, browser):
    """Wide tables scroll inside their own box; the page itself fits the window, also on a phone."""
    pages = visits["pages"]
    assert {rel: v["sideways"] for rel, v in pages.items() if v["sideways"] > 1} == {}
    out, manifest = report
    context = browser.new_context(viewport={"width": 420, "height": 900})
    for rel in ("index.html", "parameters.html", *(s["html"] for s in manifest["sections"])):
        page = context.new_page()
        page.goto((out / rel).as_uri())
        sideways = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert sideways <= 1, f"{rel} scrolls sideways by {sideways} px at 420 px"
        page.close()
    context.close()


def test_section_pages_have_headers_in_words(visits, report):
    """No machine name (``cheapest_own``) as a column header on a page for readers."""
    _, manifest = report
    code_names = {
        s["html"]: [h for h in visits["pages"][s["html"]]["headers"] if labels.is_code_name(h)]
        for s in manifest["sections"]
    }
    assert {k: v for k, v in code_names.items() if v} == {}


def test_tables_fit_the_column_at_1280_px(visits):
    """Wide tables fit the page's column (fewer columns, wrapping, a smaller font) rather than
    scroll inside their box; the print page has its own layout (checked through the PDF)."""
    pages = visits["pages"]
    assert {
        rel: v["overflowing"]
        for rel, v in pages.items()
        if v["overflowing"] and rel != "print.html"
    } == {}


def test_rows_are_labelled_in_words(visits, report):
    """No cell or header of a section page is a bare catalog id (``rtx-4090``,
    ``pcie4-x16-host-staged``): the catalogs' names label rows ("RTX 4090", "PCIe 4.0 x16 via
    host"); the CSV files keep the ids."""
    _, manifest = report
    ids = set(catalog.gpu_ids()) | set(catalog.model_ids()) | set(interconnect.link_ids())
    bare = {
        s["html"]: sorted({c for c in visits["pages"][s["html"]]["idCells"] if c in ids})
        for s in manifest["sections"]
    }
    assert {k: v for k, v in bare.items() if v} == {}


def test_long_tables_are_searchable_and_sortable_offline(visits, report, browser):
    pages = visits["pages"]
    with_long = {rel: v for rel, v in pages.items() if v["interactive"]}
    assert "09_audit.html" in with_long
    assert all(v["searchBoxes"] == v["interactive"] for v in with_long.values())
    # Searching a claims table leaves only the matching rows.
    out, _ = report
    page = browser.new_page()
    page.goto((out / "09_audit.html").as_uri(), wait_until="load")
    page.wait_for_function(DATATABLES_READY_JS, timeout=20_000)
    table = page.locator("table.gc-interactive").first
    before = table.locator("tbody tr").count()
    box = page.locator(".dt-search input").first
    box.fill("zzzz-no-such-claim")
    assert table.locator("tbody tr").count() < before
    page.close()


def test_nothing_is_requested_from_the_network(visits):
    assert visits["offsite"] == []


def test_every_image_loads_and_has_alt_text(visits):
    pages = visits["pages"]
    assert {rel: v["brokenImages"] for rel, v in pages.items() if v["brokenImages"]} == {}
    assert {rel: v["missingAlt"] for rel, v in pages.items() if v["missingAlt"]} == {}
    assert sum(v["images"] for v in pages.values()) > 0, "the report shows at least one figure"


def test_every_internal_link_and_anchor_resolves(visits):
    out: Path = visits["out"]
    pages = visits["pages"]
    broken = []
    for rel, v in pages.items():
        for url in v["links"]:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "mailto"):
                continue  # external: a link for the reader, never fetched by the page
            assert parts.scheme == "file", f"{rel}: unexpected link {url}"
            target = Path(unquote(parts.path))
            if not target.is_file() or out not in target.parents:
                broken.append(f"{rel}: {url} (no such file in the report)")
                continue
            if parts.fragment:
                # As browsers do: the fragment as written, else percent-decoded, names an id.
                target_rel = target.relative_to(out).as_posix()
                ids = pages[target_rel]["ids"]
                if parts.fragment not in ids and unquote(parts.fragment) not in ids:
                    broken.append(f"{rel}: {url} (no such id on {target_rel})")
    assert broken == []


def test_tables_of_contents_point_at_the_headings(visits, report):
    _, manifest = report
    pages = visits["pages"]
    with_toc = [s["html"] for s in manifest["sections"]] + ["parameters.html"]
    for rel in with_toc:
        v = pages[rel]
        assert v["toc"], f"{rel} has no table of contents"
        anchors = [href.removeprefix("#") for href in v["toc"]]
        assert all(href.startswith("#") for href in v["toc"])
        assert set(anchors) <= set(v["ids"]), rel
        assert set(v["h2"]) <= set(anchors), f"{rel}: a ## heading is missing from the contents"


def test_every_section_is_reachable_from_the_index_without_jupyter(visits, report):
    out, manifest = report
    pages = visits["pages"]
    seen, todo = set(), ["index.html"]
    while todo:
        rel = todo.pop()
        if rel in seen or rel not in pages:
            continue
        seen.add(rel)
        for url in pages[rel]["links"]:
            parts = urlsplit(url)
            if parts.scheme == "file":
                target = Path(unquote(parts.path))
                if out in target.parents:
                    todo.append(target.relative_to(out).as_posix())
    for s in manifest["sections"]:
        assert s["html"] in seen and s["code_html"] in seen
        assert pages[s["html"]]["codeCells"] == 0, "section pages show no code"
        assert pages[s["code_html"]]["codeCells"] > 0, "code pages show the code"
        assert s["html"] in pages["index.html"]["nav"]
    from_index = {Path(unquote(urlsplit(u).path)).name for u in pages["index.html"]["links"]}
    assert {"parameters.html", "print.html", "report.pdf"} <= from_index


def test_light_and_dark_colours_and_print_rules(report, browser, screenshots):
    out, manifest = report
    shots = screenshots("screenshots-dark")
    section = manifest["sections"][0]["html"]
    style_js = """() => {
      const body = getComputedStyle(document.body), nav = document.querySelector(".gc-header");
      return {bg: body.backgroundColor, fg: body.color,
              nav: nav ? getComputedStyle(nav).display : "none"};
    }"""
    seen = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
        for rel in ("index.html", "parameters.html", section):
            page = context.new_page()
            page.goto((out / rel).as_uri())
            seen[scheme, rel] = page.evaluate(style_js)
            if scheme == "dark":
                _screenshot(page, shots, f"{rel}.dark.png")
            page.emulate_media(media="print")
            seen["print-" + scheme, rel] = page.evaluate(style_js)
            page.close()
        context.close()
    if shots is not None:
        print(f"\nscreenshots in dark mode: {shots}")
    for rel in ("index.html", "parameters.html", section):
        light, dark = seen["light", rel], seen["dark", rel]
        assert _luminance(light["bg"]) > 0.9 and _luminance(light["fg"]) < 0.1, (rel, light)
        assert _luminance(dark["bg"]) < 0.05 and _luminance(dark["fg"]) > 0.5, (rel, dark)
        for scheme in ("light", "dark"):
            printed = seen["print-" + scheme, rel]
            assert printed["nav"] == "none", "no navigation bar on paper"
            assert _luminance(printed["bg"]) > 0.9, "paper is white, also in dark mode"


#: The colour behind each cell of a page's long tables and its text: the first ancestor (the cell
#: included) that paints a background; DataTables wraps the table in containers of its own.
LONG_TABLE_COLOURS_JS = """() => [...document.querySelectorAll("table.gc-interactive tbody td")]
  .slice(0, 40).map(td => {
    // A see-through tint (a verdict's colour at 25%) shows what is under it: look further up.
    const opaque = (c) => !c.startsWith("rgba(") || parseFloat(c.split(",")[3]) >= 0.5;
    let e = td;
    while (e && !opaque(getComputedStyle(e).backgroundColor)) e = e.parentElement;
    const search = document.querySelector(".dt-search input");
    return {bg: e ? getComputedStyle(e).backgroundColor : "rgb(255, 255, 255)",
            fg: getComputedStyle(td).color,
            searchBg: getComputedStyle(search).backgroundColor};
  })"""


def test_long_tables_are_readable_in_dark_mode(report, browser):
    """DataTables' own styles (a white container, a white search box) must not put light text on a
    light background: cells and the search box follow the page's dark colours."""
    out, _ = report
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto((out / "09_audit.html").as_uri(), wait_until="load")
    page.wait_for_function(DATATABLES_READY_JS, timeout=20_000)
    cells = page.evaluate(LONG_TABLE_COLOURS_JS)
    context.close()
    assert cells, "the audit page has long tables"
    light_text = [c for c in cells if _luminance(c["fg"]) > 0.5]
    assert light_text, "dark mode writes light text"
    glaring = [
        c for c in light_text if _luminance(c["bg"]) > 0.2 or _luminance(c["searchBg"]) > 0.2
    ]
    assert glaring == []


def test_pdf_has_every_section_each_from_a_new_page(report):
    """The PDF's outline (bookmarks) has every section, then the parameters and provenance, each
    pointing at a page of its own after the cover, in order, and that page prints its title."""
    out, manifest = report
    assert manifest["pages"]["pdf"] == "report.pdf"
    reader = PdfReader(out / "report.pdf")
    titles = [s["title"] for s in manifest["sections"]]
    wanted = [*titles, "Parameters and sources", "Provenance"]
    assert len(reader.pages) >= len(titles) + 2  # cover, sections, parameters
    first_page = {}

    def walk(items) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            elif item.title in wanted and item.title not in first_page:
                first_page[item.title] = reader.get_destination_page_number(item)

    walk(reader.outline)
    assert list(first_page) == wanted
    starts = [first_page[t] for t in wanted]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert starts[0] > 0, "the cover page comes first"
    for title, number in first_page.items():
        # NFKC: the PDF's text uses ligatures ("ﬁ"); a long title may wrap.
        text = unicodedata.normalize("NFKC", reader.pages[number].extract_text())
        assert title in " ".join(text.split()), (title, number)


# --- the scenario comparison (gpucompare report --compare A.yaml B.yaml) ----------------------

#: Two scenarios that differ in one purchase price only: the catalog's list price (the default,
#: $1,599) and the price of the session's shared non-default report (tests/conftest.py).
COMPARE_SCENARIOS = {"list-price": None, f"rtx4090-{SHARED_RTX4090_PRICE}": SHARED_RTX4090_PRICE}
#: What the tests read from the comparison page: every highlighted cell with its table, column
#: and row keys, and the style the page is drawn with.
COMPARE_FACTS_JS = """() => ({
  changed: [...document.querySelectorAll("main [data-table] td.gc-changed")].map(td => ({
    table: td.closest("[data-table]").dataset.table,
    column: td.dataset.column,
    keys: [...td.parentElement.querySelectorAll("td.gc-key")].map(k => k.textContent.trim()),
  })),
  flips: [...document.querySelectorAll("#table-flips tbody tr")].map(
    tr => [...tr.cells].map(td => td.textContent.trim())),
  parameters: [...document.querySelectorAll("#table-parameter-changes tbody th")].map(
    th => th.textContent.trim()),
  oneSided: document.querySelectorAll("tr.gc-added, tr.gc-removed").length,
  tables: [...document.querySelectorAll("main [data-table]")].map(d => d.dataset.table),
  h2: [...document.querySelectorAll("main h2")].map(h => h.textContent.trim()),
  font: getComputedStyle(document.body).fontFamily,
  h1Font: getComputedStyle(document.querySelector("h1")).fontFamily,
  reportCss: [...document.querySelectorAll("style")].some(s => s.textContent.includes("--gc-font")),
  nav: [...document.querySelectorAll("nav.gc-nav a")].map(a => a.getAttribute("href")),
  navShown: getComputedStyle(document.querySelector(".gc-header")).display !== "none",
  ids: [...document.querySelectorAll("[id]")].map(e => e.id),
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  bg: getComputedStyle(document.body).backgroundColor,
})"""


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, report, price_report) -> Path:
    """``gpucompare report --compare`` of two scenarios differing only in the RTX 4090's price.
    Built after the session's default and price reports (tests/conftest.py): the list-price
    scenario's sections come from the build cache, and the other scenario's whole report is
    restored from the report store, as a comparison of scenarios built before is."""
    root = tmp_path_factory.mktemp("compare")
    files = []
    for name, price in COMPARE_SCENARIOS.items():
        files.append(root / f"{name}.yaml")
        files[-1].write_text(
            "price_usd: {}\n" if price is None else f"price_usd:\n  rtx-4090: {price}\n"
        )
    return compare.build_compare(root / "out", files, jobs=2)


@pytest.fixture(scope="module")
def compare_visit(comparison, browser, screenshots) -> dict:
    shots = screenshots("screenshots-compare")
    seen: dict = {"offsite": []}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})

        def only_local(route) -> None:
            if route.request.url.startswith(("file:", "data:", "blob:")):
                route.continue_()
            else:
                seen["offsite"].append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
        page.goto(comparison.as_uri(), wait_until="load")
        seen[scheme] = {"errors": errors, **page.evaluate(COMPARE_FACTS_JS)}
        _screenshot(page, shots, f"compare.{scheme}.png")
        page.close()
        context.close()
    if shots is not None:
        print(f"\nscreenshots of the comparison page: {shots}")
    return seen


def test_compare_page_has_the_report_style_and_navigation(compare_visit, comparison):
    facts = compare_visit["light"]
    assert facts["errors"] == [] and compare_visit["offsite"] == []
    assert facts["reportCss"], "the report's stylesheet is on the page"
    for font in (facts["font"], facts["h1Font"]):
        assert "sans-serif" in font and not font.lower().startswith(("serif", "times")), font
    assert facts["navShown"] and facts["sideways"] <= 1
    # The navigation bar: this page's tables, then both full reports.
    assert {f"{name}/index.html" for name in COMPARE_SCENARIOS} <= set(facts["nav"])
    assert {f"#{t}" for t in facts["tables"]} <= set(facts["nav"])
    # Every link resolves: anchors on this page, and the scenarios' pages and tables.
    out = comparison.parent
    for url in facts["links"]:
        parts = urlsplit(url)
        target = Path(unquote(parts.path))
        assert target.is_file() and out in [target, *target.parents], url
        if parts.fragment and target == comparison:
            assert parts.fragment in facts["ids"], url
        elif parts.fragment:
            assert f'id="{parts.fragment}"' in target.read_text(encoding="utf-8"), url
    # Headings in words, never table ids; the flipped verdicts come first.
    assert facts["h2"][0] == "Verdicts that flip"
    assert not any("_" in h for h in facts["h2"]), facts["h2"]
    assert set(facts["tables"]) == set(compare.HEADLINE_TABLES)
    dark = compare_visit["dark"]
    assert _luminance(facts["bg"]) > 0.9 and _luminance(dark["bg"]) < 0.05


def test_compare_of_one_price_highlights_only_cells_that_depend_on_it(compare_visit):
    facts = compare_visit["light"]
    changed = facts["changed"]
    assert facts["parameters"] == ["price_usd.rtx-4090"]
    assert facts["oneSided"] == 0, "both scenarios have the same rows"
    # The price itself, and the costs it feeds, are highlighted ...
    # Row keys read as the catalog's names on the page (data/gpus.yaml's short_name).
    rtx4090 = catalog.display_names()["rtx-4090"]
    assert {"table": "tco", "column": "price_usd", "keys": [rtx4090]} in changed
    assert any(c["table"] == "cost_per_token" for c in changed)
    # ... and nothing else: no specs, memory or audit table, no speed, no rent, no H100 cost.
    assert {c["table"] for c in changed} <= {
        "answer",
        "recommendation",
        "cost_winners",
        "tco",
        "cost_per_token",
    }, changed
    # A flipped winner brings its own latencies and reasons along; other rows change costs only.
    flipped = {(f[0], f[1]) for f in facts["flips"]}
    titles = {name: h.title for name, h in compare.HEADLINE_TABLES.items()}
    for c in changed:
        if (titles[c["table"]], " · ".join(c["keys"])) in flipped:
            continue
        column = c["column"].lower()
        assert "rent" not in column and "tokens_per_s" not in column, c
        assert any(w in column for w in ("usd", "$", "price", "own", "break_even")), c
        if c["table"] in ("tco", "cost_per_token"):
            assert rtx4090 in c["keys"], c  # rows matched on (workload, gpu): H100 rows same
    assert all(f[2] in ("Best to own", "Cheapest to own") for f in facts["flips"]), facts["flips"]


#: Per sources table of a page: its width, its columns' widths, and each note's font size beside
#: the table's.
SOURCES_TABLES_JS = """() => [...document.querySelectorAll("table.gc-sources")].map(t => ({
  id: t.id,
  width: t.getBoundingClientRect().width,
  columns: [...t.querySelectorAll("thead th")].map(th => th.getBoundingClientRect().width),
  tableFont: getComputedStyle(t).fontSize,
  noteFonts: [...t.querySelectorAll(".gc-note")].map(n => getComputedStyle(n).fontSize),
}))"""


def test_printed_sources_give_the_document_column_the_width(report, browser):
    """On paper (print.html, the PDF's source) a source's note prints at its table's size in the
    document column, the table's widest: each note had wrapped in a third of the page at a larger
    size than its table, one source a page (the PDF was 168 pages, 56 of them sources)."""
    out, _ = report
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.emulate_media(media="print")
    page.goto((out / "print.html").as_uri(), wait_until="load")
    tables = page.evaluate(SOURCES_TABLES_JS)
    context.close()
    assert len(tables) >= 5, "print.html has the sources table of every data file"
    assert any(t["noteFonts"] for t in tables)
    for t in tables:
        assert set(t["noteFonts"]) <= {t["tableFont"]}, t["id"]
        document = t["columns"][1]
        assert document == max(t["columns"]) and document >= 0.45 * t["width"], t
