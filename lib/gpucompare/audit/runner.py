"""The claims audit: recompute every claim of the article with the library and classify it.

Verdicts:

* ``ok``: the recomputed value agrees within the claim kind's tolerance;
* ``wrong``: the article's own formula or inputs, or the datasheet, give another number;
* ``misleading``: arithmetically right, but the conclusion does not follow or it mixes units
  (e.g. bidirectional vs per-direction bandwidth);
* ``unverifiable``: no way to recompute it from public data.

Each section module registers its recomputations in ``CLAIM_CHECKS`` (check kind -> function
of the claim returning a :class:`Finding`); this module only dispatches and tabulates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gpucompare.audit import (
    gemm,
    interconnect,
    memory,
    reliability,
    specs,
    tco,
    throughput,
    training,
)
from gpucompare.audit.finding import VERDICTS, Finding
from gpucompare.core import memo
from gpucompare.core.errors import InputError, unknown
from gpucompare.data import claims

if TYPE_CHECKING:
    import pandas as pd

#: The audit modules, one per section, each with its ``CLAIM_CHECKS``.
CHECK_MODULES = (specs, memory, tco, reliability, gemm, throughput, interconnect, training)


def checks() -> dict[str, Callable[[claims.Claim], Finding]]:
    """Every registered check kind and its recomputation."""
    registry: dict[str, Callable[[claims.Claim], Finding]] = {}
    for module in CHECK_MODULES:
        for kind, func in getattr(module, "CLAIM_CHECKS", {}).items():
            if kind in registry:
                raise RuntimeError(f"claim check kind '{kind}' registered twice")
            registry[kind] = func
    return registry


@memo.of_inputs(memo.copy_rows, keep="claims-audit")
def run(section: str | None = None) -> list[dict]:
    """Recompute every claim (optionally of one section): the ``gpucompare audit --json`` payload.
    Remembered per section and input files, in this process and for the next ones
    (:mod:`gpucompare.core.memo`): four sections show it, in each kernel of a build."""
    registry = checks()
    sections = sorted({c.section for c in claims.claims()})
    if section is not None and section not in sections:
        raise unknown("claims section", "--section", section, sections)
    rows = []
    for c in claims.claims(section=section):
        kind = c.check.get("kind")
        if kind not in registry:
            raise InputError(
                f"data/claims/{c.section}.yaml: claim {c.id}: unknown check kind '{kind}'; "
                f"allowed: {', '.join(sorted(registry))}"
            )
        f = registry[kind](c)
        if f.verdict not in VERDICTS:
            raise RuntimeError(f"{kind}: verdict {f.verdict!r} is not one of {VERDICTS}")
        rows.append(
            {
                "id": c.id,
                "section": c.section,
                "claim": c.quote,
                "seed_value": c.value,
                "computed_value": f.computed_value,
                "unit": c.unit,
                "verdict": f.verdict,
                "explanation": f.explanation,
            }
        )
    return rows


def audit_table(section: str | None = None) -> pd.DataFrame:
    """The audit as a table, one row per claim (index ``id``)."""
    import pandas as pd  # the build's pre-check runs the audit's checks, never its tables

    return pd.DataFrame(run(section)).set_index("id")


def verdict_counts(section: str | None = None) -> pd.DataFrame:
    """Number of claims per verdict (all four verdicts listed, zeros included)."""
    t = audit_table(section)
    counts = t["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    return counts.rename("claims").to_frame().rename_axis("verdict")
