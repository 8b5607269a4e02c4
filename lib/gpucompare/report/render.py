"""Rendering the report's pages: section and code pages (nbconvert, offline template), the table
of contents, figure sizes, the front page, the parameters page and the one-document print page.

Pages (all offline, nothing fetched): ``index.html``; one page per section without code, with a
navigation bar, a table of contents from its ``##`` headings and a "show code" link to
``code/<section>.html`` (every cell, as executed); ``parameters.html`` (every parameter, its
default and description, and every data source); ``print.html``, the whole report as one
document, from which ``--pdf`` prints ``report.pdf`` with headless Chromium.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib.util
import json
import re
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import markupsafe
import yaml

from gpucompare import params
from gpucompare.core import filecache, paths
from gpucompare.report.exporter import exporter_class

if TYPE_CHECKING:  # annotations only: execute loads papermill and the kernel machinery
    import nbformat

    from gpucompare.report.execute import Section

#: Tags whose cells never appear in the published HTML.
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters", "remove-cell")
#: Every parameter with its default and description, and the data sources.
PARAMETERS_PAGE = "parameters.html"
#: The whole report as one document, for printing (and the source of the PDF).
PRINT_PAGE = "print.html"
#: The whole report as PDF (``gpucompare report --pdf``).
PDF_FILE = "report.pdf"


# --- HTML pages: section pages, code pages, index, parameters, print version -----------------


def _css() -> str:
    return (
        resources.files("gpucompare").joinpath("templates/report.css").read_text(encoding="utf-8")
    )


def _print_css() -> str:
    return (
        resources.files("gpucompare")
        .joinpath("templates/report-print.css")
        .read_text(encoding="utf-8")
    )


def _templates_dir() -> str:
    return str(resources.files("gpucompare").joinpath("templates"))


@functools.lru_cache(maxsize=2)
def _exporter(code: bool = False):
    """The section-page exporter (no code, hidden cells removed) or, with ``code``, the code-page
    exporter (every cell with its input). Cached: loading the templates costs more than a page."""
    # nbconvert (~1 s to import) only when a section page is rendered: a comparison page or a
    # restored report needs none.
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = exporter_class()(
        extra_template_basedirs=[_templates_dir()],
        template_name="gpucompare",
        exclude_input=not code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        # The notebook is validated once, after the preprocessors, instead of after each of the
        # twelve (most of them disabled): ~10 ms a validation, twice a section (its two pages).
        optimistic_validation=True,
    )
    if not code:
        exporter.register_preprocessor(
            TagRemovePreprocessor(remove_cell_tags=HIDDEN_CELL_TAGS), enabled=True
        )
    return exporter


@functools.lru_cache(maxsize=1)
def _dark_css() -> str:
    """JupyterLab's dark theme variables (the section pages wrap them in a dark-mode media query)."""
    for folder in _exporter().template_paths:
        path = Path(folder) / "static" / "theme-dark.css"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


def _section_infos(sections: list[Section]) -> list[dict[str, Any]]:
    """What the templates show of each section; every href is relative to the report's root."""
    infos = [
        {
            "number": i + 1,
            "count": len(sections),
            "stem": s.stem,
            "title": s.title,
            "label": s.label,
            "question": s.question,
            "html": f"{s.stem}.html",
            "code": f"code/{s.stem}.html",
            "notebook": f"notebooks/{s.path.name}",
            "tables": s.tables,
        }
        for i, s in enumerate(sections)
    ]
    for i, info in enumerate(infos):
        near = (infos[i - 1] if i else None, infos[i + 1] if i + 1 < len(infos) else None)
        info["prev"], info["next"] = (
            {"html": n["html"], "title": n["title"]} if n else None for n in near
        )
    return infos


def _nav_items(infos: list[dict[str, Any]], current: str = "", root: str = "") -> list[dict]:
    """The navigation bar: every section, then the parameters page; ``current`` is a page name."""
    items = [
        {
            "href": root + i["html"],
            "label": i["label"],
            "number": i["number"],
            "current": i["html"] == current,
        }
        for i in infos
    ]
    items.append(
        {
            "href": root + PARAMETERS_PAGE,
            "label": "Parameters & sources",
            "number": None,
            "current": current == PARAMETERS_PAGE,
        }
    )
    return items


_HEADING = re.compile(r'<h([23])\b[^>]*?\sid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_ANCHOR_LINK = re.compile(r'<a\b[^>]*class="anchor-link"[^>]*>.*?</a>', re.S)
TOC_MARKER = "<!--gc:toc-->"


def add_toc(page: str) -> str:
    """Insert the page's table of contents, generated from its ``##`` (and ``###``) headings, at
    ``<!--gc:toc-->`` or, in a notebook page, before the cell of the first ``##`` heading."""
    start = page.find("<main")
    if start < 0:
        return page.replace(TOC_MARKER, "")
    entries: list[tuple[str, str, list]] = []
    first_h2 = None
    for m in _HEADING.finditer(page, start):
        level, anchor, inner = m.groups()
        text = re.sub(r"</?a\b[^>]*>", "", _ANCHOR_LINK.sub("", inner)).strip()
        if level == "2":
            entries.append((anchor, text, []))
            first_h2 = m.start() if first_h2 is None else first_h2
        elif entries:
            entries[-1][2].append((anchor, text))
    if len(entries) < 2:
        return page.replace(TOC_MARKER, "")
    items = []
    for anchor, text, children in entries:
        sub = "".join(f'<li><a href="#{a}">{t}</a></li>' for a, t in children)
        items.append(f'<li><a href="#{anchor}">{text}</a>' + (f"<ol>{sub}</ol>" if sub else ""))
    nested = " gc-toc-nested" if any(children for _, _, children in entries) else ""
    toc = (
        f'<nav class="gc-toc{nested}" aria-label="On this page">'
        '<p class="gc-toc-title">On this page</p>'
        f"<ol>{'</li>'.join(items)}</li></ol></nav>\n"
    )
    if TOC_MARKER in page:
        return page.replace(TOC_MARKER, toc, 1)
    cell = page.rfind('<div class="jp-Cell', start, first_h2)
    at = cell if cell >= 0 else first_h2
    return page[:at] + toc + page[at:]


_PNG_IMG = re.compile(
    r'<img\b(?![^>]*\swidth=)([^>]*?)src="data:image/png;base64,([A-Za-z0-9+/=]+)"'
)


def png_css_width(b64: str) -> int | None:
    """The CSS width (px, 96 per inch) at which a base64 PNG shows its size in inches, from its
    IHDR width (pixels) and pHYs resolution (pixels per metre); ``None`` without a pHYs chunk."""
    head = base64.b64decode(b64[: 4 * 120])
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width_px = int.from_bytes(head[16:20], "big")
    at = head.find(b"pHYs")
    if at < 0 or len(head) < at + 13 or head[at + 12] != 1:
        return None
    px_per_m = int.from_bytes(head[at + 4 : at + 8], "big")
    return round(width_px * 96 / (px_per_m * 0.0254)) if px_per_m else None


def size_figures(page: str) -> str:
    """Give every embedded PNG its natural size in CSS pixels (width attribute): figures rendered at
    200 dpi then show at their size in inches with two device pixels per CSS pixel (crisp)."""

    def sized(m: re.Match) -> str:
        width = png_css_width(m.group(2))
        return m.group(0) if width is None else f'<img width="{width}"' + m.group(0)[4:]

    return _PNG_IMG.sub(sized, page)


#: The DataTables bundle that ships with itables (JavaScript and CSS), inlined in pages that
#: have long tables so that they stay offline.
DT_BUNDLE = Path(importlib.util.find_spec("itables").origin).parent / "html" / "dt_bundle.js"
_READY_VAR = re.compile(r"window\.(_itables_[0-9_]+)")
_READY_EVENT = re.compile(r'"(itables-[0-9.]+-ready)"')
#: DataTables options: no paging (every row stays in the page, for search, print and the PDF), the
#: table's own order first.
_DT_OPTIONS = "{paging: false, order: [], autoWidth: false, info: false}"


@functools.cache
def _itables_init() -> str:
    """itables' offline initialisation (the bundle, base64 inlined) and a module script that turns
    every ``table.gc-interactive`` into a searchable, sortable DataTable. Kept in the cache folder
    per itables version and bundle: itables imports pandas (~0.5 s), which a build's own process
    needs for nothing else."""
    key = filecache.digest(
        "itables-init", metadata.version("itables"), DT_BUNDLE.read_bytes(), _DT_OPTIONS
    )
    store = filecache.JsonCache(paths.cache_dir() / "itables", "itables-init", 2)
    kept = store.get(key)
    if isinstance(kept, str) and kept.endswith("</script>\n"):
        return kept
    made = _make_itables_init()
    store.put(key, made)
    return made


def _make_itables_init() -> str:
    from itables.javascript import generate_init_offline_itables_html

    init = generate_init_offline_itables_html(DT_BUNDLE)
    var, event = _READY_VAR.search(init).group(1), _READY_EVENT.search(init).group(1)
    start = (
        '<script type="module">\n(() => {\n'
        f"  const start = async () => {{\n    const {{ jQuery: $ }} = await window.{var};\n"
        "    document.querySelectorAll('table.gc-interactive').forEach("
        f"(t) => $(t).DataTable({_DT_OPTIONS}));\n  }};\n"
        f"  if (window.{var}) start(); else window.addEventListener('{event}', start);\n"
        "})();\n</script>\n"
    )
    return init + start


def interactive_tables(page: str) -> str:
    """Pages with long tables (class ``gc-interactive``) get itables' offline DataTables: search and
    sort without a network (nothing fetched); other pages stay free of JavaScript."""
    if 'class="gc-table' not in page or "gc-interactive" not in page:
        return page
    at = page.rfind("</body>")
    return page[:at] + _itables_init() + page[at:] if at >= 0 else page


def finish_page(page: str) -> str:
    """The build's last touches on a rendered page: table of contents, figure sizes and searchable
    long tables (tables come with their column classes from
    :class:`gpucompare.sections.display.Table`)."""
    return interactive_tables(size_figures(add_toc(page)))


def page_key(
    section_key: str,
    section: Section,
    sections: list[Section],
    context: dict[str, Any],
    code: bool = False,
) -> str:
    """A key of everything :func:`export_html` makes a page of: the section's cache key (notebook,
    parameters, data, library code and templates), what the page shows of every section
    (navigation, neighbours, tables) and the context (title, version); same key, same bytes."""
    shown = {"section": section.stem, "sections": _section_infos(sections), "code": code}
    return filecache.digest(section_key, json.dumps([shown, context], sort_keys=True, default=str))


def export_html(
    nb: nbformat.NotebookNode,
    section: Section,
    sections: list[Section],
    context: dict[str, Any],
    code: bool = False,
) -> str:
    """One standalone, offline HTML page for a section: no code (or, with ``code``, the code page
    ``code/<stem>.html`` with every cell), navigation bar, table of contents, embedded figures."""
    infos = _section_infos(sections)
    info = next(i for i in infos if i["stem"] == section.stem)
    root = "../" if code else ""
    res = {
        "metadata": {"name": section.title},
        "gc_nav": _nav_items(infos, info["html"], root),
        "gc_css": _css(),
        "gc_print_css": _print_css(),
        "gc_dark_css": _dark_css(),
        "gc_section": info,
        "gc_code": code,
        "gc_root": root,
        **context,
    }
    import nbformat  # with nbconvert: only when a section page is rendered

    nb = nbformat.from_dict(nb)
    what = "code and outputs" if code else context["gc_title"]
    nb.metadata["title"] = f"{section.title} — {what}"
    body, _ = _exporter(code).from_notebook_node(nb, resources=res)
    return finish_page(body)


def _show(value: Any) -> str:
    """A parameter value as compact YAML (one workload per line)."""
    return (
        yaml.safe_dump(value, default_flow_style=None, sort_keys=False, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _parameter_rows(p: params.Params) -> list[dict[str, Any]]:
    resolved = p.model_dump()
    defaults = params.validate(params.defaults_dict(), str(params.default_file())).model_dump()
    changed = set(params.non_default_keys(p))
    return [
        {
            "name": row["parameter"],
            "value": _show(resolved[row["parameter"]]),
            "default": _show(defaults[row["parameter"]]),
            "description": row["description"],
            "changed": row["parameter"] in changed,
        }
        for row in params.describe()
    ]


def _css_string(text: str) -> str:
    """``text`` safe inside a double-quoted CSS string (and inside a ``<style>`` element)."""
    return "".join(
        ch if ch.isalnum() or ch in " .,:;!?()-_'/+&" else f"\\{ord(ch):x} " for ch in str(text)
    )


@functools.lru_cache(maxsize=1)
def _jinja_env() -> jinja2.Environment:
    """The environment of the index, parameters and print pages: autoescaping, so every value a
    template prints (titles, parameter values, sources) is escaped unless the template marks it
    ``| safe`` (only HTML and CSS the library produced: stylesheets, rendered section bodies)."""
    env = jinja2.Environment(
        # report_macros.html.j2 lives beside the nbconvert template, which imports it too.
        loader=jinja2.FileSystemLoader(
            [_templates_dir(), str(Path(_templates_dir(), "gpucompare"))]
        ),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["css_string"] = _css_string
    return env


def data_sources(data_dir: Path | None = None) -> list[dict[str, Any]]:
    """The ``sources:`` table of every ``data/**/*.yaml`` that has one (file order kept), for the
    parameters page: ``[{name, slug, sources: [{id, title, url, publisher, date, verified, note}]}]``.
    Only http(s) URLs become links. Read once per state of the files (the parameters page and the
    print page both show it; the preview's process sees edits)."""
    data_dir = data_dir or paths.data_dir()
    found = sorted(data_dir.rglob("*.yaml"))
    stamp = tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in found)
    return copy.deepcopy(_data_sources(data_dir, stamp))


@functools.lru_cache(maxsize=4)
def _data_sources(data_dir: Path, stamp: tuple[tuple[str, int, int], ...]) -> list[dict[str, Any]]:
    files = []
    for path in (Path(name) for name, _, _ in stamp):
        doc = paths.load_yaml(path)
        table = doc.get("sources") if isinstance(doc, dict) else None
        if not isinstance(table, dict) or not table:
            continue
        rows = []
        for source_id, s in table.items():
            s = s if isinstance(s, dict) else {"title": s}
            url = str(s.get("url") or "")
            rows.append(
                {
                    "id": str(source_id),
                    "title": str(s.get("title") or source_id),
                    "url": url if url.startswith(("https://", "http://")) else "",
                    "publisher": str(s.get("publisher") or ""),
                    "date": "" if s.get("date") is None else str(s["date"]),
                    "verified": s.get("verified"),
                    "note": str(s.get("note") or ""),
                }
            )
        name = path.relative_to(data_dir).as_posix()
        slug = re.sub(r"[^a-z0-9_]+", "-", name.lower().removesuffix(".yaml")).strip("-")
        files.append({"name": name, "slug": slug, "sources": rows})
    return files


def render_index(
    p: params.Params,
    data: dict[str, Any],
    sections: list[Section],
    prov: dict[str, Any],
    pdf: str | None = None,
    front: dict[str, str] | None = None,
) -> str:
    """The report's front page: the summary's answer and the article's verdict (``front``: their
    HTML as the summary showed them, escaped by :mod:`gpucompare.sections.display`), contents,
    changed parameters, downloads, provenance."""
    front = front or {}
    rows = _parameter_rows(p)
    page = (
        _jinja_env()
        .get_template("report_index.html.j2")
        .render(
            title=p.title,
            css=_css(),
            print_css=_print_css(),
            nav=_nav_items(_section_infos(sections), "index.html"),
            sections=_section_infos(sections),
            parameters=rows,
            provenance=prov,
            pdf=pdf,
            answer=markupsafe.Markup(front.get("answer", "")),
            verdict=markupsafe.Markup(front.get("article_verdict", "")),
        )
    )
    return finish_page(page)


def render_parameters(p: params.Params, sections: list[Section], prov: dict[str, Any]) -> str:
    """``parameters.html``: every parameter (value, default, description; non-defaults
    highlighted) and the sources table of every data file."""
    rows = _parameter_rows(p)
    page = (
        _jinja_env()
        .get_template("report_parameters.html.j2")
        .render(
            title=p.title,
            css=_css(),
            print_css=_print_css(),
            nav=_nav_items(_section_infos(sections), PARAMETERS_PAGE),
            parameters=rows,
            non_default=[r["name"] for r in rows if r["changed"]],
            data_sources=data_sources(),
            provenance=prov,
        )
    )
    return finish_page(page)


_MAIN = re.compile(r"<!--gc:main-->(.*)<!--gc:/main-->", re.S)
#: The head styles print.html takes from a section page: not the dark theme (paper is light)
#: and not the print-only copy of report-print.css (print.html includes it for all media).
_HEAD_STYLES = re.compile(
    r'<style\b(?![^>]*id="gc-(?:dark-theme|print-css)")[^>]*>.*?</style>', re.S
)


def _print_part(page: str, part: str, targets: dict[str, str]) -> str:
    """A section page's content for the one-document version: every id prefixed with ``part-``,
    and links to report pages turned into links inside the document."""
    body = _MAIN.search(page).group(1)
    body = re.sub(r'(\s)id="([^"]+)"', lambda m: f'{m.group(1)}id="{part}-{m.group(2)}"', body)
    body = re.sub(r'href="#([^"]*)"', lambda m: f'href="#{part}-{m.group(1)}"', body)
    pattern = r'href="(' + "|".join(map(re.escape, targets)) + r')(?:#([^"]*))?"'

    def inside(m: re.Match) -> str:
        target = targets[m.group(1)]
        return f'href="#{target}-{m.group(2)}"' if m.group(2) else f'href="#{target}"'

    return re.sub(pattern, inside, body)


def render_print(
    p: params.Params, sections: list[Section], pages: dict[str, str], prov: dict[str, Any]
) -> str:
    """``print.html``: the whole report as one document (cover and contents, every section from a
    new page, parameters and sources, provenance), from which ``report.pdf`` is printed.
    ``pages`` maps each section's stem to its rendered section page."""
    infos = _section_infos(sections)
    targets = {i["html"]: i["stem"] for i in infos} | {PARAMETERS_PAGE: "parameters"}
    for i in infos:
        i["body"] = _print_part(pages[i["stem"]], i["stem"], targets)
    first = pages[infos[0]["stem"]]
    head_styles = "\n".join(_HEAD_STYLES.findall(first.split("</head>", 1)[0]))
    page = (
        _jinja_env()
        .get_template("report_print.html.j2")
        .render(
            title=p.title,
            head_styles=head_styles,
            print_css=_print_css(),
            # On this one page, the navigation bar jumps to its parts.
            nav=[{**item, "href": "#" + targets[item["href"]]} for item in _nav_items(infos)],
            sections=infos,
            parameters=_parameter_rows(p),
            data_sources=data_sources(),
            provenance=prov,
        )
    )
    # Printed tables stay plain: every row on paper, no search box (no DataTables here).
    return size_figures(page.replace(" gc-interactive", ""))
