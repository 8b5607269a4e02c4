"""Layer 5: the claims audit: one module of claim checks per section and the runner that dispatches
and tabulates them. Imports ``model``, ``params``, ``data``, ``core``."""

from gpucompare.audit.finding import VERDICTS, Finding, Verdict, relative_verdict
from gpucompare.audit.runner import audit_table, checks, run, verdict_counts

__all__ = [
    "VERDICTS",
    "Finding",
    "Verdict",
    "audit_table",
    "checks",
    "relative_verdict",
    "run",
    "verdict_counts",
]
