"""The shape of the package: layers with imports pointing down only (import-linter's contract in
``pyproject.toml``), no import cycle, no module over about 500 lines, no imports hidden inside
functions except the documented ones."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpucompare.core import paths

ROOT = paths.repo_root()
PACKAGE = ROOT / "lib" / "gpucompare"
#: "About 500 lines": the longest module may run a little over while it reads as one concern.
MAX_LINES = 520
#: Where an import inside a function is allowed, and why.
LAZY_IMPORTS_ALLOWED = {
    # Optional heavy dependencies (the `measure` and `kvcheck` extras), absent on most machines.
    "torch": "optional extra",
    "transformers": "optional extra",
    # The calibration's least squares (0.2-0.5 s to import): fits are read from the disk cache,
    # so one-line commands never load it (issue 21, docs/performance.md).
    "scipy": "only when a fit runs",
    # Tables and arrays (0.2-0.5 s to import): the one-line commands answer from the catalogs and
    # the cached fit in plain Python, so only the functions that build frames or arrays load them
    # (issue 21, docs/performance.md).
    "pandas": "only where a frame or an array is built",
    "numpy": "only where a frame or an array is built",
    # The notebook exporter (~1 s with nbformat): a comparison page and a restored report render
    # no section page (issue 21, docs/performance.md).
    "nbconvert": "only when a section page is rendered",
    # The tables' search and sort (it imports pandas): only when a page with a long table is
    # rendered, not by a build whose pages all come from the cache (issue 21).
    "itables": "only when a page with a long table is rendered",
    "nbformat": "only when a section page is rendered",
    # The code pages' syntax highlighting, with nbconvert (report/exporter.py).
    "pygments": "only when a section page is rendered",
    "ipython_pygments_lexers": "only when a section page is rendered",
    # The YAML parser (~10 ms): a text parsed before comes from the parsed-YAML cache
    # (core/yamlcache.py), so a warm one-line command never loads it (issue 21).
    "yaml": "only for a YAML text not in the parsed-YAML cache",
}
#: The command line defers the report stack (papermill, nbconvert) to the commands that build.
LAZY_MODULES = {
    "gpucompare/cli/__init__.py",
    "gpucompare/cli/options.py",
    "gpucompare/cli/speed.py",
    "gpucompare/cli/train.py",
    "gpucompare/cli/listing.py",
    "gpucompare/cli/models.py",
    "gpucompare/cli/preview.py",
    # A comparison of two reports built before restores both without the build stack.
    "gpucompare/report/compare.py",
    # Tables without matplotlib (the comparison page): the figure cache loads it for a figure.
    "gpucompare/sections/display.py",
    # The audit (and pandas) only when the data's own checks run, not for a price edit.
    "gpucompare/report/preflight.py",
}
SUBPACKAGES = ("core", "data", "model", "audit", "sections", "report")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """``(imported gpucompare module, inside a function?)`` for every import of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1])
                    base = f"{base}.{child.module}" if child.module else base
                found.extend((f"{base}.{a.name}", in_function) for a in child.names)
                found.append((base, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name, _ in _imports(path, module):
            if name in modules and name != module:
                graph[module].add(name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # A package's __init__ re-exporting its own modules is not a cycle through them.
            if nxt == node.rpartition(".")[0] and nxt in stack:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_at_least_five_layer_subpackages():
    present = [s for s in SUBPACKAGES if (PACKAGE / s / "__init__.py").is_file()]
    assert len(present) >= 5, present


def test_no_import_cycle_module_or_function_level():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_cycle_scan_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_over_about_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_imports_inside_functions_only_where_documented():
    hidden = []
    for module, path in _modules().items():
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for name, inside in _imports(path, module):
            top = name.split(".")[0]
            if inside and rel not in LAZY_MODULES and top not in LAZY_IMPORTS_ALLOWED:
                hidden.append(f"{rel}: {name}")
    assert not hidden, sorted(set(hidden))


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contract_holds():
    res = _lint_imports(PACKAGE.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 1 kept, 0 broken" in res.stdout


def test_the_layer_contract_fails_when_a_lower_layer_imports_a_higher_one(tmp_path):
    copy = tmp_path / "gpucompare"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    units = copy / "core" / "units.py"
    units.write_text(units.read_text() + "\nfrom gpucompare.report import build  # noqa\n")
    res = _lint_imports(tmp_path)
    assert res.returncode != 0
    assert "gpucompare.core.units -> gpucompare.report.build" in res.stdout


@pytest.mark.parametrize("layer", SUBPACKAGES)
def test_tests_mirror_the_layers(layer):
    """Each layer with formulas, checks or pages has its tests under ``tests/<layer>/``."""
    if layer in ("core", "report"):
        pytest.skip("core and report are tested by the files named after their behaviour")
    assert any((ROOT / "tests" / layer).glob("test_*.py")), layer
