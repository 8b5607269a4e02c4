"""Build the published report: validate parameters, run every section notebook with
papermill (in parallel, in this process), export standalone offline HTML, harvest tables,
write the index and manifest, and swap the result into place atomically.

A failed build leaves the previous report untouched and keeps the executed notebook with
its traceback under ``<out>.failed/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import nbformat
import papermill
import yaml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from papermill.exceptions import PapermillExecutionError

from gpucompare import __version__, params, paths
from gpucompare.display import META_KEY
from gpucompare.errors import BuildError, InputError

#: Per-cell timeout in seconds (papermill's default is to wait forever).
CELL_TIMEOUT_S = 300
#: Notebooks that are report sections: ``NN_name.ipynb``.
SECTION_GLOB = "[0-9][0-9]_*.ipynb"
#: Tags whose cells never appear in the published HTML.
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters", "remove-cell")


@dataclass(eq=False)
class Section:
    """One report section: a notebook, its title and the parameters its ``parameters`` cell declares."""

    path: Path
    title: str
    question: str
    parameter_names: list[str]
    seconds: float = 0.0
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
    finally:
        section.seconds = round(time.perf_counter() - start, 2)
    nb = strip_volatile(nb)
    nbformat.write(nb, out_path)
    return nb


def _describe_failure(section: Section, exc: BaseException) -> str:
    if isinstance(exc, PapermillExecutionError):
        first_line = exc.source.strip().splitlines()[0] if exc.source.strip() else ""
        return (
            f"{section.path.name}: cell {exc.cell_index} (execution {exc.exec_count}, "
            f"'{first_line}') raised {exc.ename}: {exc.evalue}"
        )
    return f"{section.path.name}: {type(exc).__name__}: {exc}"


def harvest_tables(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{name: csv text}`` of every table the notebook showed through :func:`gpucompare.display.table`."""
    tables: dict[str, str] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get(META_KEY, {})
            if "table" in meta and "text/csv" in out.get("data", {}):
                tables[meta["table"]] = out["data"]["text/csv"]
    return tables


def _css() -> str:
    return (
        resources.files("gpucompare").joinpath("templates/report.css").read_text(encoding="utf-8")
    )


def _exporter() -> HTMLExporter:
    exporter = HTMLExporter(
        extra_template_basedirs=[str(resources.files("gpucompare").joinpath("templates"))],
        template_name="gpucompare",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags=HIDDEN_CELL_TAGS), enabled=True
    )
    return exporter


def export_html(
    nb: nbformat.NotebookNode, section: Section, sections: list[Section], context: dict[str, Any]
) -> str:
    """One standalone, offline HTML page for a section (no code, navigation bar, embedded figures)."""
    nav = [{"href": f"{s.stem}.html", "label": s.label, "current": s is section} for s in sections]
    res = {
        "metadata": {"name": section.title},
        "gc_nav": nav,
        "gc_css": _css(),
        "gc_notebook_href": f"notebooks/{section.path.name}",
        **context,
    }
    nb = nbformat.from_dict(nb)
    nb.metadata["title"] = f"{section.title} — {context['gc_title']}"
    body, _ = _exporter().from_notebook_node(nb, resources=res)
    return body


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


def render_index(
    p: params.Params, data: dict[str, Any], sections: list[Section], prov: dict[str, Any]
) -> str:
    """The report's front page: title, contents, parameters (non-defaults marked), provenance."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("gpucompare").joinpath("templates"))),
        autoescape=False,
        keep_trailing_newline=True,
    )
    rows = _parameter_rows(p)
    return env.get_template("report_index.html.j2").render(
        title=p.title,
        css=_css(),
        sections=[
            {
                "html": f"{s.stem}.html",
                "label": s.label,
                "title": s.title,
                "question": s.question,
                "notebook": f"notebooks/{s.path.name}",
                "tables": s.tables,
            }
            for s in sections
        ],
        parameters=rows,
        non_default=[r["name"] for r in rows if r["changed"]],
        provenance=prov,
    )


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp``: the old report is moved aside first and restored if the move fails."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(
    out: Path,
    files: list[Path] = (),
    sets: list[str] = (),
    jobs: int | None = None,
    timeout_s: int = CELL_TIMEOUT_S,
    nb_dir: Path | None = None,
) -> dict[str, Any]:
    """Build the whole report into ``out``; returns the manifest. See the module docstring."""
    p, data = params.resolve(
        list(files), list(sets)
    )  # bad input stops here, before anything is written
    sections = discover(nb_dir)
    values = p.model_dump()
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    failed_dir = out.with_name(f"{out.name}.failed")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    built_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    tmp.chmod(0o755)  # mkdtemp makes it private; a published report is world-readable
    try:
        (tmp / "notebooks").mkdir()
        (tmp / "tables").mkdir()
        jobs = max(1, jobs or os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=min(jobs, len(sections))) as pool:
            futures = {
                s: pool.submit(_execute, s, values, tmp / "notebooks" / s.path.name, timeout_s)
                for s in sections
            }
        executed, failures = {}, []
        for s, fut in futures.items():
            exc = fut.exception()
            if exc is None:
                executed[s.stem] = fut.result()
            else:
                failures.append((s, exc))
        if failures:
            shutil.rmtree(failed_dir, ignore_errors=True)
            failed_dir.mkdir()
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

        context = {"gc_title": p.title, "gc_version": __version__, "gc_built_at": built_at}
        all_tables: dict[str, str] = {}
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
            (tmp / f"{s.stem}.html").write_text(
                export_html(nb, s, sections, context), encoding="utf-8"
            )

        prov = provenance(built_at)
        (tmp / "index.html").write_text(render_index(p, data, sections, prov), encoding="utf-8")
        manifest = {
            "title": p.title,
            "provenance": prov,
            "parameters": values,
            "non_default_parameters": params.non_default_keys(p),
            "sections": [
                {
                    "notebook": s.path.name,
                    "title": s.title,
                    "html": f"{s.stem}.html",
                    "executed_notebook": f"notebooks/{s.path.name}",
                    "tables": [f"tables/{t}.csv" for t in s.tables],
                    "seconds": s.seconds,
                }
                for s in sections
            ],
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _swap_into_place(tmp, out)
        shutil.rmtree(failed_dir, ignore_errors=True)
        return manifest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
            except PapermillExecutionError as exc:
                raise BuildError(_describe_failure(s, exc)) from None
            shutil.copy2(out_path, s.path)
        done.append(s.path)
    return done


__all__ = ["InputError", "build", "discover", "refresh_notebooks"]
