"""The one view of a section's claims audit: its rows are the audit's, its caption counts them."""

from __future__ import annotations

import re

import pandas as pd

from gpucompare import audit
from gpucompare.sections import verdicts


def test_counts_text_lists_every_verdict_in_order_with_zeros():
    text = verdicts.verdict_counts_text(pd.Series(["wrong", "ok", "wrong"]))
    assert text == "1 ok, 2 wrong, 0 misleading, 0 unverifiable"


def test_caption_counts_the_rows_of_the_sections():
    t = verdicts.claims_table(["gemm", "throughput"], "x", "GEMM and throughput", note="Note.")
    rows = [r for r in audit.run() if r["section"] in ("gemm", "throughput")]
    assert len(t.frame) == len(rows)
    counts = {
        v: int(n) for n, v in re.findall(r"(\d+) (ok|wrong|misleading|unverifiable)", t.caption)
    }
    for verdict in audit.VERDICTS:
        assert counts[verdict] == sum(r["verdict"] == verdict for r in rows), verdict
    assert t.caption.startswith(f"Of the article's {len(rows)} GEMM and throughput figures: ")
    assert t.caption.endswith(" Note.")
    assert list(t.frame.columns) == verdicts.COLUMNS
