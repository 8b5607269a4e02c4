"""Layer 7: building the published report: resolve -> plan (cache keys) -> execute -> render ->
publish, plus comparison, PDF and progress. Imports every layer below; only ``cli`` imports it."""

from gpucompare.core import imports

# Before any report module imports nbformat, papermill or nbconvert: ~1.4 s saved per process.
imports.block_unused_optional_imports()
