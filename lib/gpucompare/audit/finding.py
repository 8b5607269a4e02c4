"""What a claim check returns: the recomputed value, a verdict and its explanation.

Verdicts:

* ``ok``: the recomputed value agrees within the claim kind's tolerance;
* ``wrong``: the article's own formula or inputs, or the datasheet, give another number;
* ``misleading``: arithmetically right, but the conclusion does not follow or it mixes units
  (e.g. bidirectional vs per-direction bandwidth);
* ``unverifiable``: no way to recompute it from public data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["ok", "wrong", "misleading", "unverifiable"]
VERDICTS: tuple[Verdict, ...] = ("ok", "wrong", "misleading", "unverifiable")


@dataclass(frozen=True)
class Finding:
    """The recomputation of one claim."""

    computed_value: float | bool | None
    verdict: Verdict
    explanation: str


def relative_verdict(claimed: float, computed: float, tolerance: float) -> Verdict:
    """``ok`` when |claimed / computed - 1| <= tolerance, else ``wrong``."""
    if computed == 0:
        return "ok" if claimed == 0 else "wrong"
    return "ok" if abs(claimed / computed - 1) <= tolerance else "wrong"
