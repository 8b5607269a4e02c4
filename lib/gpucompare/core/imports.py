"""Imports the program keeps out of its processes because they cost time and serve it nothing.

**rfc3987_syntax.** ``nbformat`` (which papermill, nbconvert and nbval import) validates notebooks
with ``jsonschema``. At import, ``jsonschema/_format.py`` registers its optional string-format
checkers, and for the ``iri`` and ``iri-reference`` formats it imports ``rfc3987_syntax``
(https://github.com/willynilly/rfc3987-syntax) when it is installed. That package compiles about
38 lark grammars at import: ~1.4 s of CPU in every process that imports nbformat (``python -X
importtime -c "import nbformat"``). It is installed here only because ``jupyter-events``
(https://github.com/jupyter/jupyter_events, through ``jupyter_server``) requires
``jsonschema[format-nongpl]``.

Blocking it changes nothing the program uses: jsonschema imports it inside
``contextlib.suppress(ImportError)`` and then simply registers no ``iri`` checker
(https://github.com/python-jsonschema/jsonschema/blob/main/jsonschema/_format.py), as on any
machine without the package; a format without a checker is not checked. Format checks are opt-in
in jsonschema (a ``format_checker`` must be passed), nbformat passes none, and the notebook schemas
(``nbformat/v4/nbformat.v4*.schema.json``, nbformat 5.11) use no ``format`` keyword at all. A test
validates notebooks with the package blocked (``tests/core/test_imports.py``).
"""

from __future__ import annotations

import sys

#: Optional packages that an import made by the program would load for nothing (module docstring).
BLOCKED = ("rfc3987_syntax",)


def block_unused_optional_imports() -> None:
    """Make ``import rfc3987_syntax`` raise ImportError in this process (module docstring), unless
    something imported it already (then it is left as it is). Call it before importing nbformat,
    papermill or nbconvert; calling it again does nothing more."""
    for name in BLOCKED:
        # None in sys.modules is Python's documented way to make an import fail (ImportError).
        sys.modules.setdefault(name, None)
