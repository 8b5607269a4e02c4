"""Layer 6: one module per report section (tables, captions and figures, each computed once), with
the shared table display and figure style. Imports ``audit``, ``model``, ``params``, ``data``, ``core``."""
