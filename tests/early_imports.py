"""A pytest plugin loaded before every other (``-p tests.early_imports`` in pyproject.toml's
``addopts``): pytest imports ``-p`` plugins before the entry-point plugins such as nbval, which
imports nbformat at once. Blocking ``rfc3987_syntax`` here (``gpucompare.core.imports``) saves
~1.4 s of CPU in the main process and in each pytest-xdist worker; a conftest would come too late."""

from gpucompare.core import imports

imports.block_unused_optional_imports()
