"""Build the published report: validate parameters, run every section notebook with
papermill (in parallel, in this process), export standalone offline HTML, harvest tables,
write the index and manifest, and swap the result into place atomically.

Pages (all offline, nothing fetched): ``index.html``; one page per section without code, with a
navigation bar, a table of contents from its ``##`` headings and a "show code" link to
``code/<section>.html`` (every cell, as executed); ``parameters.html`` (every parameter, its
default and description, and every data source); ``print.html``, the whole report as one
document, from which ``--pdf`` prints ``report.pdf`` with headless Chromium.

A failed build leaves the previous report untouched and keeps the executed notebook with
its traceback under ``<out>.failed/``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import nbformat
import yaml

from gpucompare import __version__, params
from gpucompare.core import paths
from gpucompare.core.errors import BuildError, InputError
from gpucompare.data import checkdata
from gpucompare.report import cache, progress, publish
from gpucompare.report.pdf import print_to_pdf, require_chromium
from gpucompare.sections.display import META_KEY

#: Per-cell timeout in seconds (papermill's default is to wait forever).
CELL_TIMEOUT_S = 300
#: Notebooks that are report sections: ``NN_name.ipynb``.
SECTION_GLOB = "[0-9][0-9]_*.ipynb"
#: Tags whose cells never appear in the published HTML.
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters", "remove-cell")
#: Every parameter with its default and description, and the data sources.
PARAMETERS_PAGE = "parameters.html"
#: The whole report as one document, for printing (and the source of the PDF).
PRINT_PAGE = "print.html"
#: The whole report as PDF (``gpucompare report --pdf``).
PDF_FILE = "report.pdf"


@dataclass(eq=False)
class Section:
    """One report section: a notebook, its title and the parameters its ``parameters`` cell declares."""

    path: Path
    title: str
    question: str
    parameter_names: list[str]
    seconds: float = 0.0
    cached: bool = False
    #: Its cache entry was corrupt (removed), so it ran again.
    cache_repaired: bool = False
    tables: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def label(self) -> str:
        """Short navigation label: the title without a leading number."""
        return self.title


def _title_and_question(nb: nbformat.NotebookNode, path: Path) -> tuple[str, str]:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
            if lines and lines[0].startswith("# "):
                question = next((ln for ln in lines[1:] if not ln.startswith("#")), "")
                return lines[0][2:].strip(), question
    raise BuildError(f"{path}: no '# Title' markdown cell; every section notebook needs one")


def parameter_names(nb: nbformat.NotebookNode) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` (literal assignments, one per line)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise BuildError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return re.findall(r"^([A-Za-z_]\w*)\s*(?::[^=]+)?=", cells[0].source, flags=re.M)


def discover(nb_dir: Path | None = None) -> list[Section]:
    """The report's sections in file-name order."""
    nb_dir = nb_dir or paths.notebooks_dir()
    # Section names become page names, ids and links: refuse odd ones before anything runs.
    checkdata.check_notebook_names(nb_dir)
    sections = []
    for path in sorted(nb_dir.glob(SECTION_GLOB)):
        nb = nbformat.read(path, as_version=4)
        title, question = _title_and_question(nb, path)
        try:
            names = parameter_names(nb)
        except BuildError as exc:
            raise BuildError(f"{path}: {exc}") from None
        unknown = [n for n in names if n not in params.Params.model_fields]
        if unknown:
            raise BuildError(f"{path}: parameters cell declares unknown parameter(s) {unknown}")
        sections.append(Section(path, title, question, names))
    if not sections:
        raise BuildError(f"{nb_dir}: no section notebooks ({SECTION_GLOB})")
    return sections


def strip_volatile(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove papermill's timings and timestamps so an unchanged rerun gives identical files."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id on every run
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    return nb


def _execute(
    section: Section, values: dict[str, Any] | None, out_path: Path, timeout_s: int
) -> nbformat.NotebookNode:
    """Run one notebook with papermill; ``values=None`` injects nothing (the notebook's own defaults)."""
    injected = None if values is None else {k: values[k] for k in section.parameter_names}
    start = time.perf_counter()
    try:
        import papermill  # heavy: imported only when a notebook really runs

        for attempt in range(1 + KERNEL_START_RETRIES):
            try:
                nb = papermill.execute_notebook(
                    str(section.path),
                    str(out_path),
                    parameters=injected,
                    kernel_name="python3",
                    language="python",
                    progress_bar=False,
                    log_output=False,
                    execution_timeout=timeout_s,
                    shutdown_kernel="immediate",
                )
                break
            except Exception as exc:
                if attempt == KERNEL_START_RETRIES or not kernel_failed_to_start(exc):
                    raise
    finally:
        section.seconds = round(time.perf_counter() - start, 2)
    nb = strip_volatile(nb)
    nbformat.write(nb, out_path)
    return nb


#: A kernel that fails to start (two kernels of a parallel build raced for a port) is tried again
#: this many times; a cell that raises is never retried.
KERNEL_START_RETRIES = 1
_KERNEL_START_FAILURE = re.compile(
    r"address already in use|kernel died before replying|kernel didn't respond|"
    r"kernel_info|failed to start the kernel",
    re.I,
)


def kernel_failed_to_start(exc: BaseException) -> bool:
    """True for the errors jupyter_client and zmq raise when a kernel cannot start (a port taken
    between choosing and binding it), as opposed to an error raised by a notebook cell."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return False
    return bool(_KERNEL_START_FAILURE.search(f"{type(exc).__name__}: {exc}"))


def _describe_failure(section: Section, exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        first_line = exc.source.strip().splitlines()[0] if exc.source.strip() else ""
        return (
            f"{section.path.name}: cell {exc.cell_index} (execution {exc.exec_count}, "
            f"'{first_line}') raised {exc.ename}: {exc.evalue}"
        )
    return f"{section.path.name}: {type(exc).__name__}: {exc}"


def harvest_tables(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{name: csv text}`` of every table the notebook showed through :func:`gpucompare.sections.display.table`."""
    tables: dict[str, str] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get(META_KEY, {})
            if "table" in meta and "text/csv" in out.get("data", {}):
                tables[meta["table"]] = out["data"]["text/csv"]
    return tables


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
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        extra_template_basedirs=[_templates_dir()],
        template_name="gpucompare",
        exclude_input=not code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
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


_TABLE = re.compile(r'<table\b[^>]*\bclass="[^"]*\bgc-table\b[^"]*"[^>]*>.*?</table>', re.S)
_ROW = re.compile(r"<tr\b[^>]*>.*?</tr>", re.S)
_CELL_OPEN = re.compile(r"<(td|th)\b([^>]*)>")
_CELL = re.compile(r"<(td|th)\b[^>]*>(.*?)</\1>", re.S)
_NUMBER = re.compile(r"^[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*[%x×]?$")
_MISSING = {"", "—", "–", "-", "nan", "NaN", "None", "n/a", "NA"}
#: Text columns whose longest cell is at most this many characters do not wrap.
NOWRAP_CHARS = 28
#: Tables with this many columns or more print in a smaller font (class ``gc-wide``).
WIDE_COLUMNS = 8
#: Tables with at most this many rows are not split across printed pages (class ``gc-short``).
SHORT_ROWS = 12


def _classify_table(table: str) -> str:
    """Mark each column of a report table ``gc-num`` (right-aligned) or ``gc-text`` (left), from
    its body cells; short text columns also ``gc-nowrap``."""
    if "colspan" in table or "rowspan" in table or "gc-left" in table.split(">", 1)[0]:
        return table
    body = table.split("<tbody", 1)[1] if "<tbody" in table else ""
    columns: dict[int, list[str]] = {}
    for row in _ROW.findall(body):
        for k, (_, inner) in enumerate(_CELL.findall(row)):
            columns.setdefault(k, []).append(html.unescape(re.sub(r"<[^>]+>", "", inner)).strip())
    if not columns:
        return table
    kinds = {}
    for k, cells in columns.items():
        present = [c for c in cells if c not in _MISSING]
        if present and sum(bool(_NUMBER.match(c)) for c in present) * 2 >= len(present):
            kinds[k] = "gc-num"  # mostly numbers (a spec column may hold a few names)
        elif max(map(len, cells)) <= NOWRAP_CHARS:
            kinds[k] = "gc-text gc-nowrap"
        else:
            kinds[k] = "gc-text"

    def mark_row(row: re.Match) -> str:
        column = itertools.count()

        def mark_cell(cell: re.Match) -> str:
            kind = kinds.get(next(column))
            tag, attrs = cell.groups()
            if kind is None:
                return cell.group(0)
            if 'class="' in attrs:
                attrs = attrs.replace('class="', 'class="' + kind + " ", 1)
                return f"<{tag}{attrs}>"
            return f'<{tag} class="{kind}"{attrs}>'

        return _CELL_OPEN.sub(mark_cell, row.group(0))

    table = _ROW.sub(mark_row, table)
    n_rows = max(len(cells) for cells in columns.values())
    size = [("gc-wide", len(kinds) >= WIDE_COLUMNS), ("gc-short", n_rows <= SHORT_ROWS)]
    if any(yes for _, yes in size):
        marks = " ".join(c for c, yes in size if yes)
        table = table.replace('class="', f'class="{marks} ', 1)
    # Let long snake_case headers break after underscores.
    return re.sub(
        r"<thead>.*?</thead>",
        lambda h: re.sub(
            r">([^<]+)<", lambda t: ">" + t.group(1).replace("_", "_<wbr>") + "<", h.group(0)
        ),
        table,
        flags=re.S,
    )


def classify_tables(page: str) -> str:
    """:func:`_classify_table` on every report table of a page (text and CSV outputs untouched)."""
    return _TABLE.sub(lambda m: _classify_table(m.group(0)), page)


def finish_page(page: str) -> str:
    """The build's last touches on a rendered page: table of contents, figure sizes, table columns."""
    return classify_tables(size_figures(add_toc(page)))


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
    nb = nbformat.from_dict(nb)
    what = "code and outputs" if code else context["gc_title"]
    nb.metadata["title"] = f"{section.title} — {what}"
    body, _ = _exporter(code).from_notebook_node(nb, resources=res)
    return finish_page(body)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=paths.repo_root(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=paths.repo_root(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def provenance(built_at: str) -> dict[str, Any]:
    """Package version, git commit, data-file hashes and build time."""
    data = paths.data_dir()
    files = sorted(
        p for p in data.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".csv"}
    )
    return {
        "version": __version__,
        "git_commit": _git_commit(),
        "built_at": built_at,
        "data_files": [{"name": str(p.relative_to(data)), "sha256": _sha256(p)} for p in files],
    }


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
    Only http(s) URLs become links."""
    data_dir = data_dir or paths.data_dir()
    files = []
    for path in sorted(data_dir.rglob("*.yaml")):
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
) -> str:
    """The report's front page: title, contents, changed parameters, downloads, provenance."""
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
    return size_figures(page)


def build(
    out: Path,
    files: list[Path] = (),
    sets: list[str] = (),
    jobs: int | None = None,
    timeout_s: int = CELL_TIMEOUT_S,
    nb_dir: Path | None = None,
    pdf: bool = False,
    force: bool = False,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Build the whole report into ``out``; returns the manifest. See the module docstring.
    With ``pdf``, also ``report.pdf``; without headless Chromium that stops before anything is
    written (InputError, exit code 2), so the previous report stays as it was."""
    out = publish.check_out(out)  # a folder that is not ours is refused before anything else
    p, data = params.resolve(
        list(files), list(sets)
    )  # bad input stops here, before anything is written
    chromium = require_chromium() if pdf else None
    sections = discover(nb_dir)
    values = p.model_dump(mode="json")  # plain JSON types: papermill injects tuples as strings
    out.parent.mkdir(parents=True, exist_ok=True)
    with publish.exclusive(out):
        publish.clean_leftovers(out)
        return _build_locked(
            out, p, data, sections, values, jobs, timeout_s, chromium, force, show_progress
        )


def _build_locked(
    out: Path,
    p: params.Params,
    data: dict[str, Any],
    sections: list[Section],
    values: dict[str, Any],
    jobs: int | None,
    timeout_s: int,
    chromium: str | None,
    force: bool,
    show_progress: bool,
) -> dict[str, Any]:
    """:func:`build` once ``out`` is checked and locked."""
    pdf = chromium is not None
    failed_dir = out.with_name(f"{out.name}.failed")
    tmp = publish.new_temp_folder(out)
    built_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    try:
        (tmp / "notebooks").mkdir()
        (tmp / "tables").mkdir()
        (tmp / "code").mkdir()
        jobs = max(1, jobs or os.cpu_count() or 1)
        store = cache.Store(paths.cache_dir() / "sections")
        keys = cache.section_keys([s.path for s in sections], values)
        shown = progress.Progress([s.stem for s in sections], enabled=show_progress)
        executed, failures, to_run = {}, [], []
        for s in sections:
            hit = None if force else store.get(s.stem, keys[s.stem])
            if hit is None:
                if s.stem in store.discarded:
                    s.cache_repaired = True
                    shown.note(f"{s.stem}: its cache entry was corrupt; removed, running it again")
                to_run.append(s)
                continue
            shutil.copy2(hit, tmp / "notebooks" / s.path.name)
            executed[s.stem] = nbformat.read(hit, as_version=4)
            s.cached = True
            shown.update(s.stem, "cached")

        def run(s: Section) -> nbformat.NotebookNode:
            shown.update(s.stem, "running")
            try:
                nb = _execute(s, values, tmp / "notebooks" / s.path.name, timeout_s)
            except BaseException:
                shown.update(s.stem, "failed")
                raise
            shown.update(s.stem, "done")
            return nb

        if to_run:
            pool = ThreadPoolExecutor(max_workers=min(jobs, len(to_run)))
            futures = {s: pool.submit(run, s) for s in to_run}
            try:
                wait(futures.values())
            except BaseException:
                # Interrupted (Ctrl-C, SIGTERM): start nothing new, let running cells end, clean up.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
            for s, fut in futures.items():
                exc = fut.exception()
                if exc is None:
                    executed[s.stem] = fut.result()
                    store.put(s.stem, keys[s.stem], tmp / "notebooks" / s.path.name)
                else:
                    failures.append((s, exc))
        if failures:
            failed_dir = publish.failed_folder(out)
            for s, _ in failures:
                partial = tmp / "notebooks" / s.path.name
                if partial.exists():
                    shutil.copy2(partial, failed_dir / s.path.name)
            lines = [_describe_failure(s, e) for s, e in failures]
            raise BuildError(
                "report build failed; the previous report is untouched.\n  "
                + "\n  ".join(lines)
                + f"\n  executed notebooks with tracebacks: {failed_dir}"
            )

        # Section and code pages carry no build time, so that the same inputs give the same bytes;
        # the front page and the manifest say when the report was built.
        context = {"gc_title": p.title, "gc_version": __version__, "gc_built_at": ""}
        all_tables: dict[str, str] = {}
        pages: dict[str, str] = {}
        for s in sections:
            nb = executed[s.stem]
            tables = harvest_tables(nb)
            clash = sorted(set(tables) & set(all_tables))
            if clash:
                raise BuildError(
                    f"{s.path.name}: table name(s) {clash} already used by another section"
                )
            all_tables.update(tables)
            s.tables = sorted(tables)
            for name, csv in tables.items():
                (tmp / "tables" / f"{name}.csv").write_text(csv, encoding="utf-8")
            pages[s.stem] = export_html(nb, s, sections, context)
            (tmp / f"{s.stem}.html").write_text(pages[s.stem], encoding="utf-8")
            (tmp / "code" / f"{s.stem}.html").write_text(
                export_html(nb, s, sections, context, code=True), encoding="utf-8"
            )

        prov = provenance(built_at)
        pdf_name = PDF_FILE if pdf else None
        (tmp / "index.html").write_text(
            render_index(p, data, sections, prov, pdf=pdf_name), encoding="utf-8"
        )
        (tmp / PARAMETERS_PAGE).write_text(render_parameters(p, sections, prov), encoding="utf-8")
        (tmp / PRINT_PAGE).write_text(render_print(p, sections, pages, prov), encoding="utf-8")
        if chromium:
            print_to_pdf(tmp / PRINT_PAGE, tmp / PDF_FILE, chromium)
        manifest = {
            **publish.marker_fields(),
            "build_key": cache.build_key(keys, pdf, p.title),
            "title": p.title,
            "provenance": prov,
            "parameters": values,
            "non_default_parameters": params.non_default_keys(p),
            "pages": {
                "index": "index.html",
                "parameters": PARAMETERS_PAGE,
                "print": PRINT_PAGE,
                "pdf": pdf_name,
            },
            "sections": [
                {
                    "notebook": s.path.name,
                    "title": s.title,
                    "html": f"{s.stem}.html",
                    "executed_notebook": f"notebooks/{s.path.name}",
                    "code_html": f"code/{s.stem}.html",
                    "tables": [f"tables/{t}.csv" for t in s.tables],
                    "seconds": s.seconds,
                    "cached": s.cached,
                    "cache_repaired": s.cache_repaired,
                }
                for s in sections
            ],
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        publish.swap_into_place(tmp, out)
        publish.remove_owned(failed_dir)
        return manifest
    except OSError as exc:
        # A failed write (full disk, permissions): the previous report is still in place.
        raise BuildError(
            f"writing the report failed: {exc.strerror or exc} ({exc.filename or out}); "
            "the previous report is untouched"
        ) from exc
    finally:
        publish.remove_owned(tmp)


def refresh_notebooks(
    nb_dir: Path | None = None, timeout_s: int = CELL_TIMEOUT_S, only: list[str] = ()
) -> list[Path]:
    """Re-execute the committed notebooks in place with their default parameters (``make notebooks``);
    ``only`` restricts to notebooks whose file name contains one of the given strings."""
    done = []
    for s in discover(nb_dir):
        if only and not any(o in s.path.name for o in only):
            continue
        with tempfile.TemporaryDirectory() as tmpdir:
            out_path = Path(tmpdir) / s.path.name
            try:
                _execute(s, None, out_path, timeout_s)
            except Exception as exc:  # papermill's execution error, or a kernel failure
                raise BuildError(_describe_failure(s, exc)) from None
            shutil.copy2(out_path, s.path)
        done.append(s.path)
    return done


__all__ = ["InputError", "build", "discover", "refresh_notebooks"]
