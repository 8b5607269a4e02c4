"""What each section notebook shows with the default parameters, in order: every table, figure and
list, from the notebook's own calls run in this process the way tests/test_valid_params.py runs them
(the declared parameters injected, then each code cell), computed once per test session."""

from __future__ import annotations

import ast
import functools

from gpucompare import params
from gpucompare.sections import display
from tests.test_valid_params import CODE, DECLARED, _constants_cached

Shown = display.Table | display.Figure | display.Bullets


@functools.cache
def outputs() -> dict[str, list[Shown]]:
    """Notebook stem -> the tables, figures and lists its cells show, in order."""
    values = params.make().model_dump(mode="json")
    out: dict[str, list[Shown]] = {}
    with _constants_cached():
        for name in sorted(DECLARED):
            namespace: dict = {k: values[k] for k in DECLARED[name]}
            out[name] = []
            for source in CODE[name]:
                tree = ast.parse(source)
                last = (
                    tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                )
                exec(compile(tree, f"<{name}>", "exec"), namespace)
                if last is None:
                    continue
                value = eval(compile(ast.Expression(last.value), f"<{name}>", "eval"), namespace)
                if isinstance(value, (display.Table, display.Figure, display.Bullets)):
                    out[name].append(value)
    return out


def captions() -> dict[str, list[tuple[str, str]]]:
    """Notebook stem -> (table or figure name, caption) in the order the page shows them."""
    return {
        stem: [(x.name, x.caption) for x in shown if not isinstance(x, display.Bullets)]
        for stem, shown in outputs().items()
    }
