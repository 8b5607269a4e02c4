"""Layer 6: one module per report section (tables, captions and figures, each computed once), with
the shared table display and figure style. Imports ``audit``, ``model``, ``params``, ``data``, ``core``."""

#: Output-metadata key under which the build finds a section's tables and figures (here, not in
#: :mod:`~gpucompare.sections.display`, so that the build reads it without importing pandas).
META_KEY = "gpucompare"
