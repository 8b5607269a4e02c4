"""The one view of a section's claims audit: the audit's rows for the section(s), the columns the
page shows, and a caption that counts the verdicts."""

from __future__ import annotations

import pandas as pd

from gpucompare import audit
from gpucompare.sections import display

#: What a section's claims table shows of each audited claim.
COLUMNS = ["seed_value", "computed_value", "unit", "verdict", "explanation"]


def verdict_counts_text(verdicts: pd.Series) -> str:
    """``"3 ok, 1 wrong, 0 misleading, 2 unverifiable"``: every verdict, in the audit's order."""
    counts = verdicts.value_counts()
    return ", ".join(f"{int(counts.get(v, 0))} {v}" for v in audit.VERDICTS)


def claims_table(
    sections: list[str], name: str, what: str, columns: list[str] = COLUMNS, note: str = ""
) -> display.Table:
    """The audit of the claims of ``sections`` as the report table ``name``, captioned "Of the
    article's N <what> figures: <counts>." and ``note``. Missing values show as "—"."""
    t = pd.concat([audit.audit_table(s) for s in sections])[columns].astype(object)
    t = t.where(t.notna(), None)
    caption = f"Of the article's {len(t)} {what} figures: {verdict_counts_text(t['verdict'])}."
    return display.table(t, name, caption + (f" {note}" if note else ""))
