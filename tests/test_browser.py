"""The published report in a real browser: headless Chromium (the Debian package, driven by
Playwright; no browser is downloaded) opens every page of a freshly built default report from
disk and checks what a reader would meet: no console error, every image loaded, every internal
link and #anchor resolving, tables of contents pointing at the page's headings, every section
reachable from index.html, light and dark colours, print rules, and not one request leaving the
machine. The PDF (``--pdf``) is checked for every section, each starting on its own page.

A screenshot of every page (light, and dark for the section pages) is saved under the test's
tmp dir (printed at the end of the run with ``-rA``, or see ``pytest --basetemp``).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from gpucompare.report import build, pdf

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
})"""


def _luminance(css_color: str) -> float:
    """Relative luminance (0 black .. 1 white) of a computed ``rgb(...)``/``rgba(...)`` colour."""
    parts = css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")
    r, g, b = (float(x) / 255 for x in parts[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("browser") / "latest"
    manifest = build.build(out, jobs=4, pdf=True)
    return out, manifest


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def visits(report, browser, tmp_path_factory) -> dict:
    """Open every HTML page of the report once, recording what the tests check."""
    out, _ = report
    shots = tmp_path_factory.mktemp("screenshots")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    offsite: list[str] = []

    def only_local(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
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
        facts = page.evaluate(PAGE_FACTS_JS)
        page.screenshot(path=str(shots / f"{rel.replace('/', '__')}.png"), full_page=True)
        pages[rel] = {"errors": errors, **facts}
        page.close()
    context.close()
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


def test_light_and_dark_colours_and_print_rules(report, browser, tmp_path_factory):
    out, manifest = report
    shots = tmp_path_factory.mktemp("screenshots-dark")
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
                page.screenshot(path=str(shots / f"{rel}.dark.png"), full_page=True)
            page.emulate_media(media="print")
            seen["print-" + scheme, rel] = page.evaluate(style_js)
            page.close()
        context.close()
    for rel in ("index.html", "parameters.html", section):
        light, dark = seen["light", rel], seen["dark", rel]
        assert _luminance(light["bg"]) > 0.9 and _luminance(light["fg"]) < 0.1, (rel, light)
        assert _luminance(dark["bg"]) < 0.05 and _luminance(dark["fg"]) > 0.5, (rel, dark)
        for scheme in ("light", "dark"):
            printed = seen["print-" + scheme, rel]
            assert printed["nav"] == "none", "no navigation bar on paper"
            assert _luminance(printed["bg"]) > 0.9, "paper is white, also in dark mode"


def test_pdf_has_every_section_each_from_a_new_page(report):
    out, manifest = report
    assert manifest["pages"]["pdf"] == "report.pdf"
    reader = PdfReader(out / "report.pdf")
    titles = [s["title"] for s in manifest["sections"]]
    assert len(reader.pages) >= len(titles) + 2  # cover, sections, parameters
    # NFKC: the PDF's text uses ligatures ("ﬁ").
    text = unicodedata.normalize("NFKC", "\n".join(page.extract_text() for page in reader.pages))
    for title in [*titles, "Parameters and sources", "Provenance"]:
        assert title in text
    # The outline (bookmarks) has each section's title; each starts on a later page.
    first_page = {}

    def walk(items) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            elif item.title in titles and item.title not in first_page:
                first_page[item.title] = reader.get_destination_page_number(item)

    walk(reader.outline)
    assert list(first_page) == titles
    starts = [first_page[t] for t in titles]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert starts[0] > 0, "the cover page comes first"
