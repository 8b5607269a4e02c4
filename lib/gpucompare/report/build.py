"""Build the published report: validate parameters, run every section notebook with papermill
(in parallel, in this process), render standalone offline HTML, harvest tables, write the index
and manifest, and publish the result in one atomic swap (:mod:`gpucompare.report.publish`).

A failed build leaves the previous report untouched and keeps the executed notebook with its
traceback under ``<out>.failed/``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import nbformat

from gpucompare import __version__, params
from gpucompare.core import interrupts
from gpucompare.core.errors import BuildError, InputError
from gpucompare.report import cache, preflight, progress, publish
from gpucompare.report import store as store_module
from gpucompare.report.execute import (
    CELL_TIMEOUT_S,
    Section,
    describe_failure,
    discover,
    execute,
    harvest_html,
    harvest_index,
    harvest_tables,
    refresh_notebooks,
)
from gpucompare.report.kernels import KernelPool
from gpucompare.report.pdf import print_to_pdf, require_chromium
from gpucompare.report.provenance import provenance
from gpucompare.report.render import (
    PARAMETERS_PAGE,
    PDF_FILE,
    PRINT_PAGE,
    data_sources,
    export_html,
    page_key,
    render_index,
    render_parameters,
    render_print,
)

#: Outputs of the summary that the front page repeats: the answer, then the article's verdict.
FRONT_PAGE_OUTPUTS = ("answer", "article_verdict")


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
    resolved: tuple[params.Params, dict[str, Any]] | None = None,
    reuse: bool = False,
    kernels: KernelPool | None = None,
    release_kernels: bool = False,
    later: list[Callable[[], Any]] | None = None,
) -> dict[str, Any]:
    """Build the whole report into ``out``; returns the manifest. See the module docstring.
    With ``pdf``, also ``report.pdf``; without headless Chromium that stops before anything is
    written (InputError, exit code 2), so the previous report stays as it was. ``resolved`` is
    what :func:`gpucompare.report.preflight.resolve` returned for ``files`` and ``sets``, when the
    caller resolved them already (the parameters are then not resolved twice). With ``reuse``
    (and not ``force``), a report at ``out`` built from the same inputs is kept as it is, and one
    in the report store is restored (:func:`gpucompare.report.cache.restore`) instead of built.
    Sections run in warm kernels (:mod:`gpucompare.report.kernels`): those of ``kernels`` when
    given (``gpucompare preview`` keeps its pool between builds; with ``release_kernels`` that
    pool is closed once the sections ran, while the pages are written: the command line's pool
    serves one build), else of a pool of ``jobs`` kernels for this build only. With ``later``,
    the copy into the report store is appended to it instead of made (the preview makes it once
    the open page was told of the new report)."""
    out = publish.check_out(out)  # a folder that is not ours is refused before anything else
    # Bad input stops here, before anything is written.
    p, data = resolved or preflight.resolve(list(files), list(sets))
    values = p.model_dump(mode="json")  # plain JSON types: papermill injects tuples as strings
    chromium = require_chromium() if pdf else None  # before a report is kept or restored
    if reuse and not force:
        found = cache.up_to_date(out, values, p.title, pdf, nb_dir)
        found = found or cache.restore(out, values, p.title, pdf, nb_dir)
        if found is not None:
            return found
    sections = discover(nb_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with publish.exclusive(out):
        publish.clean_leftovers(out)
        return _build_locked(
            out,
            p,
            data,
            sections,
            values,
            jobs,
            timeout_s,
            chromium,
            force,
            show_progress,
            kernels,
            release_kernels,
            later,
        )


def _expected_s(store: store_module.Store, s: Section) -> float:
    """How long ``s`` is expected to run: its last run's seconds, else infinity for a notebook
    marked ``runs_long`` (metadata ``gpucompare``) and 0 for the others (the sort is stable: file
    order among equals)."""
    seen = store.last_seconds(s.stem)
    if seen is not None:
        return seen
    return math.inf if s.runs_long else 0.0


def _page(
    pages: store_module.Store,
    section_key: str,
    nb: nbformat.NotebookNode,
    s: Section,
    sections: list[Section],
    context: dict[str, Any],
    code: bool = False,
    force: bool = False,
) -> str:
    """The section's page (``code``: its code page), rendered once per :func:`page_key` (and
    again with ``force``): a price change re-renders only the sections it re-ran (nbconvert takes
    ~0.3-0.5 s a page)."""
    key = page_key(section_key, s, sections, context, code)
    name = f"{s.stem}.code" if code else s.stem
    found = None if force else pages.get(name, key)
    if found is not None:
        return found.read_text(encoding="utf-8")
    html = export_html(nb, s, sections, context, code=code)
    try:
        with tempfile.TemporaryDirectory(prefix="gpucompare-page-") as folder:
            rendered = Path(folder) / "page.html"
            rendered.write_text(html, encoding="utf-8")
            pages.put(name, key, rendered)
    except OSError:
        pass  # a cache that cannot be written costs a re-render next time, not the build
    return html


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
    kernels: KernelPool | None = None,
    release_kernels: bool = False,
    later: list[Callable[[], Any]] | None = None,
) -> dict[str, Any]:
    """:func:`build` once ``out`` is checked and locked."""
    pdf = chromium is not None
    failed_dir = out.with_name(f"{out.name}.failed")
    tmp: Path | None = None
    # Pages are rendered on one thread (nbconvert's exporter is not thread-safe) as soon as a
    # section's notebook is ready, while the kernels still run the others.
    renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpucompare-render")
    closing: list[threading.Thread] = []  # the kernels shut down while the pages are written
    try:
        # Ctrl-C or SIGTERM between making the folder and marking it as ours would leave a folder
        # that nothing may remove: the signal is held back until both are done (and the marked
        # folder is removed below).
        with interrupts.deferred() as caught:
            tmp = publish.new_temp_folder(out)
        caught.raise_if_caught()
        built_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        (tmp / "notebooks").mkdir()
        (tmp / "tables").mkdir()
        (tmp / "code").mkdir()
        jobs = max(1, jobs or os.cpu_count() or 1)
        store = cache.sections_store()
        keys = cache.section_keys([s.path for s in sections], values)
        shown = progress.Progress([s.stem for s in sections], enabled=show_progress)
        executed, failures, to_run = {}, [], []
        # Section and code pages carry no build time, so that the same inputs give the same bytes;
        # the front page and the manifest say when the report was built.
        context = {"gc_title": p.title, "gc_version": __version__, "gc_built_at": ""}
        # --force renders every page again too (and stores the fresh ones).
        page_store = store_module.pages_store()

        def render(s: Section, nb: nbformat.NotebookNode, ran: bool) -> tuple[str, dict[str, str]]:
            """The section's page and code page, written with its tables (``{name: csv}``); a
            section that ``ran`` goes into the section store. On the render thread, while the kernels
            run other sections, so that little is left to do once the last one ends."""
            page = _page(page_store, keys[s.stem], nb, s, sections, context, force=force)
            code = _page(page_store, keys[s.stem], nb, s, sections, context, code=True, force=force)
            (tmp / f"{s.stem}.html").write_text(page, encoding="utf-8")
            (tmp / "code" / f"{s.stem}.html").write_text(code, encoding="utf-8")
            tables = harvest_tables(nb)
            for name, csv in tables.items():
                (tmp / "tables" / f"{name}.csv").write_text(csv, encoding="utf-8")
            if ran:
                store.put(s.stem, keys[s.stem], tmp / "notebooks" / s.path.name, s.seconds)
            return page, tables

        def from_store(s: Section, hit: Path) -> tuple[str, dict[str, str]]:
            """A section from the section store: its notebook copied and read, then rendered."""
            shutil.copy2(hit, tmp / "notebooks" / s.path.name)
            executed[s.stem] = nbformat.read(hit, as_version=4)
            return render(s, executed[s.stem], False)

        # The parameters and print pages list every data file's sources (~0.4 s to read them
        # all): read while the kernels run.
        renderer.submit(data_sources)
        rendered: dict[str, Future[tuple[str, dict[str, str]]]] = {}
        for s in sections:
            hit = None if force else store.get(s.stem, keys[s.stem])
            if hit is None:
                if s.stem in store.discarded:
                    s.cache_repaired = True
                    shown.note(f"{s.stem}: its cache entry was corrupt; removed, running it again")
                to_run.append(s)
                continue
            # Read on the render thread (~20-50 ms a notebook): the kernels start first.
            rendered[s.stem] = renderer.submit(from_store, s, hit)
            s.cached = True
            shown.update(s.stem, "cached")

        # Longest first (by the last run's time, else the notebook's own "runs_long" mark), so
        # that a long section does not start last and leave the other kernels idle at the end.
        to_run.sort(key=lambda s: _expected_s(store, s), reverse=True)
        inputs = cache.inputs_fingerprint()  # a kernel started for other inputs is not reused
        own_pool = kernels is None and bool(to_run)
        close_pool = own_pool or (release_kernels and kernels is not None)
        if own_pool:
            kernels = KernelPool(min(jobs, len(to_run)))

        def run(s: Section) -> nbformat.NotebookNode:
            shown.update(s.stem, "running")
            try:
                nb = execute(s, values, tmp / "notebooks" / s.path.name, timeout_s, kernels, inputs)
            except BaseException:
                shown.update(s.stem, "failed")
                raise
            shown.update(s.stem, "done")
            rendered[s.stem] = renderer.submit(render, s, nb, True)
            return nb

        if to_run:
            pool = ThreadPoolExecutor(max_workers=min(jobs, len(to_run)))
            try:
                with interrupts.deferred() as caught:
                    futures = {s: pool.submit(run, s) for s in to_run}
                    while (
                        caught.signal is None
                        and wait(futures.values(), interrupts.CHECK_EVERY_S)[1]
                    ):
                        pass
                    # Interrupted (Ctrl-C, SIGTERM): start nothing new, let running cells end,
                    # clean up (the caller's handler removes the temporary folder).
                    pool.shutdown(wait=True, cancel_futures=caught.signal is not None)
            finally:
                if close_pool:
                    closing.append(threading.Thread(target=kernels.close, name="gpucompare-close"))
                    closing[-1].start()
            caught.raise_if_caught()
            for s, fut in futures.items():
                exc = fut.exception()
                if exc is None:
                    executed[s.stem] = fut.result()
                else:
                    failures.append((s, exc))
        if failures:
            wait(rendered.values())  # the sections that ran are stored for the next build
            failed_dir = publish.failed_folder(out)
            for s, _ in failures:
                partial = tmp / "notebooks" / s.path.name
                if partial.exists():
                    shutil.copy2(partial, failed_dir / s.path.name)
            lines = [describe_failure(s, e) for s, e in failures]
            raise BuildError(
                "report build failed; the previous report is untouched.\n  "
                + "\n  ".join(lines)
                + f"\n  executed notebooks with tracebacks: {failed_dir}"
            )

        all_tables: dict[str, str] = {}
        table_index: dict[str, list[str]] = {}
        pages: dict[str, str] = {}
        for s in sections:
            pages[s.stem], tables = rendered[s.stem].result()
            nb = executed[s.stem]
            clash = sorted(set(tables) & set(all_tables))
            if clash:
                raise BuildError(
                    f"{s.path.name}: table name(s) {clash} already used by another section"
                )
            all_tables.update(tables)
            table_index.update(harvest_index(nb))
            s.tables = sorted(tables)

        prov = provenance(built_at)
        pdf_name = PDF_FILE if pdf else None
        front = {}
        for s in sections:
            front.update(harvest_html(executed[s.stem], FRONT_PAGE_OUTPUTS))
        (tmp / "index.html").write_text(
            render_index(p, data, sections, prov, pdf=pdf_name, front=front), encoding="utf-8"
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
            # Each table's index columns (the leading CSV columns that identify a row).
            "table_index": dict(sorted(table_index.items())),
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        publish.swap_into_place(tmp, out)
        publish.remove_owned(failed_dir)
        # A copy in the report store: returning to these inputs later restores it (no rendering).
        keep = functools.partial(cache.store_report, out, values, manifest["build_key"])
        if later is None:
            keep()
        else:
            later.append(keep)
        return manifest
    except OSError as exc:
        # A failed write (full disk, permissions): the previous report is still in place.
        raise BuildError(
            f"writing the report failed: {exc.strerror or exc} ({exc.filename or out}); "
            "the previous report is untouched"
        ) from exc
    finally:
        renderer.shutdown(wait=True, cancel_futures=True)
        if tmp is not None:
            publish.remove_owned(tmp)
        for thread in closing:
            thread.join()


__all__ = ["InputError", "build", "discover", "refresh_notebooks"]
