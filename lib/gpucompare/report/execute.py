"""Running the section notebooks: discovery (title, question, declared parameters), papermill
execution in this process with a per-cell timeout and one retry of a kernel that failed to start,
volatile metadata stripped, tables harvested, and ``gpucompare notebooks`` (re-executing the
committed notebooks with the default parameters).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import papermill
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

from gpucompare import params
from gpucompare.core import paths
from gpucompare.core.errors import BuildError
from gpucompare.data import checkdata
from gpucompare.report import cache
from gpucompare.report.kernels import START_TIMEOUT_S, KernelPool, WarmKernel, kernel_config
from gpucompare.sections import META_KEY

#: Per-cell timeout in seconds (papermill's default is to wait forever).
CELL_TIMEOUT_S = 300
#: Notebooks that are report sections: ``NN_name.ipynb``.
SECTION_GLOB = "[0-9][0-9]_*.ipynb"


@dataclass(eq=False)
class Section:
    """One report section: a notebook, its title and the parameters its ``parameters`` cell declares."""

    path: Path
    title: str
    question: str
    parameter_names: list[str]
    #: The notebook's metadata says it takes long (``{"gpucompare": {"runs_long": true}}``): a
    #: build with no timing of it yet starts it first.
    runs_long: bool = False
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
        runs_long = bool(nb.metadata.get("gpucompare", {}).get("runs_long", False))
        sections.append(Section(path, title, question, names, runs_long))
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


def execute(
    section: Section,
    values: dict[str, Any] | None,
    out_path: Path,
    timeout_s: int,
    kernels: KernelPool | None = None,
    key: str = "",
) -> nbformat.NotebookNode:
    """Run one notebook with papermill; ``values=None`` injects nothing (the notebook's own
    defaults). With ``kernels``, in a warm kernel of that pool started for inputs ``key``
    (:mod:`gpucompare.report.kernels`); otherwise in a kernel of its own."""
    injected = None if values is None else {k: values[k] for k in section.parameter_names}
    common = {
        "parameters": injected,
        "kernel_name": "python3",
        "language": "python",
        "progress_bar": False,
        "log_output": False,
        "execution_timeout": timeout_s,
    }
    start = time.perf_counter()
    try:
        for attempt in range(1 + KERNEL_START_RETRIES):
            try:
                if kernels is not None:
                    nb = _execute_warm(section, out_path, kernels, key, common)
                    break
                with tempfile.TemporaryDirectory(prefix="gpucompare-kernel-") as sockets:
                    nb = papermill.execute_notebook(
                        str(section.path),
                        str(out_path),
                        shutdown_kernel="immediate",
                        config=kernel_config(Path(sockets)),
                        **common,
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


def _execute_warm(
    section: Section, out_path: Path, kernels: KernelPool, key: str, common: dict[str, Any]
) -> nbformat.NotebookNode:
    """:func:`execute` in a warm kernel; the kernel goes back to the pool only if the section ran
    to its end (after an error or a timeout it is shut down)."""
    kernel = kernels.take(key, section.stem)
    ok = False
    try:
        # papermill writes (and validates) the whole notebook before and after every cell so that
        # a crashed run leaves its progress on disk; that is 0.1-0.5 s of this process's time per
        # section. The warm engine writes it once, and on a failure (``save_to``).
        nb = papermill.execute_notebook(
            str(section.path),
            str(out_path),
            engine_name=ENGINE,
            warm=kernel,
            save_to=out_path,
            request_save_on_cell_execute=False,
            **common,
        )
        ok = True
    finally:
        kernels.give_back(kernel, ok, section.stem)
    return nb


#: The engine name papermill looks up for a warm kernel (:class:`_WarmEngine`).
ENGINE = "gpucompare-warm"


class _WarmEngine(NBClientEngine):
    """papermill's nbclient engine, running in the warm kernel given as ``warm=``."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=START_TIMEOUT_S,
        execution_timeout=None,
        warm: WarmKernel | None = None,
        save_to: Path | None = None,
        **kwargs,
    ):
        """Run ``nb_man``'s notebook in ``warm``; when a cell fails, times out or the kernel dies,
        the notebook as far as it ran is written to ``save_to`` (the build keeps it under
        ``<out>.failed/``), as papermill's saves after every cell would have left it."""
        if warm is None:
            raise TypeError(f"the {ENGINE!r} engine needs warm=<WarmKernel>")
        client = PapermillNotebookClient(
            nb_man,
            km=warm.km,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client.kc = warm.kc  # nbclient uses this client and leaves its channels to the pool
        try:
            return client.execute()
        except BaseException:
            if save_to is not None:
                with contextlib.suppress(Exception):  # the error itself is what matters
                    nbformat.write(nb_man.nb, save_to)
            raise


papermill_engines.register(ENGINE, _WarmEngine)


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
    if isinstance(exc, PapermillExecutionError):
        return False
    return bool(_KERNEL_START_FAILURE.search(f"{type(exc).__name__}: {exc}"))


def describe_failure(section: Section, exc: BaseException) -> str:
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


def harvest_index(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """``{name: index column names}`` of every table the notebook showed: the leading columns of
    its CSV that identify a row ("" for an unnamed level); recorded in the manifest so that the
    scenario comparison matches rows on every key column."""
    found: dict[str, list[str]] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get(META_KEY, {})
            if "table" in meta and "index" in meta:
                found[meta["table"]] = [str(n) for n in meta["index"]]
    return found


def harvest_html(nb: nbformat.NotebookNode, names: tuple[str, ...]) -> dict[str, str]:
    """``{name: HTML}`` of the outputs named ``names`` (tables or bulleted lists), as the notebook
    showed them: the front page repeats the summary's answer without recomputing it."""
    found: dict[str, str] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get(META_KEY, {}).get("table")
            if name in names and "text/html" in out.get("data", {}):
                found[name] = out["data"]["text/html"]
    return found


def refresh_notebooks(
    nb_dir: Path | None = None, timeout_s: int = CELL_TIMEOUT_S, only: list[str] = ()
) -> list[Path]:
    """Re-execute the committed notebooks in place with their default parameters (``make notebooks``);
    ``only`` restricts to notebooks whose file name contains one of the given strings."""
    done = []
    # One warm kernel for all of them: the outputs are those of a fresh kernel per notebook
    # (tests/test_kernels.py), which is how nbval runs them.
    with KernelPool(1) as kernels:
        inputs = cache.inputs_fingerprint()
        for s in discover(nb_dir):
            if only and not any(o in s.path.name for o in only):
                continue
            with tempfile.TemporaryDirectory() as tmpdir:
                out_path = Path(tmpdir) / s.path.name
                try:
                    execute(s, None, out_path, timeout_s, kernels, inputs)
                except Exception as exc:  # papermill's execution error, or a kernel failure
                    raise BuildError(describe_failure(s, exc)) from None
                nb = drop_image_bytes(nbformat.read(out_path, as_version=4))
                s.path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            done.append(s.path)
    return done


#: An embedded PNG in an HTML output; committed notebooks keep the placeholder ``PNG`` instead.
_PNG_DATA = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
PNG_PLACEHOLDER = "data:image/png;base64,PNG"


def drop_image_bytes(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Replace the figures' PNG bytes in a notebook's outputs by a placeholder: committed notebooks
    keep their text and tables (nbval's expected values; its sanitiser maps every PNG to the same
    placeholder) without megabytes of images in the history. The build and the browser tests check
    the figures themselves."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            for mime in ("text/html", "text/markdown"):
                if mime in data:
                    text = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                    data[mime] = _PNG_DATA.sub(PNG_PLACEHOLDER, text)
            data.pop("image/png", None)
            out.get("metadata", {}).pop("image/png", None)
    return nb
