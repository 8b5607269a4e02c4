"""Claim checks of the specifications section: the article's spec-table figures against the
catalog's datasheets, and its per-SM derivation of peak throughput against its own totals."""

from __future__ import annotations

from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.model.specs import whitepaper_fma_per_clock_per_sm

#: Relative tolerance for a spec figure to count as the datasheet's (datasheets round to 3 digits).
SPEC_TOLERANCE = 0.02


def _check_spec(c: Claim) -> Finding:
    """A spec-table figure against the catalog's datasheet value; a figure that matches another
    field instead (``check.alternatives``) is misleading: right number, wrong quantity."""
    gpu = catalog.get_gpu(c.check["gpu"])
    field = c.check["field"]
    sheet = gpu.spec(field)
    if isinstance(sheet, bool) or isinstance(c.value, bool):
        verdict = "ok" if sheet == c.value else "wrong"
        note = getattr(gpu.specs, field).note
        return Finding(
            sheet,
            verdict,
            f"datasheet: {field} = {sheet} for {gpu.name}" + (f" ({note})" if note else ""),
        )
    verdict = relative_verdict(float(c.value), float(sheet), SPEC_TOLERANCE)
    if verdict == "wrong":
        for alt in c.check.get("alternatives", []):
            alt_value = gpu.spec(alt)
            if (
                alt_value
                and relative_verdict(float(c.value), float(alt_value), SPEC_TOLERANCE) == "ok"
            ):
                return Finding(
                    sheet,
                    "misleading",
                    f"{c.value} is {gpu.name}'s {alt} ({alt_value}), not its {field} ({sheet})",
                )
    return Finding(sheet, verdict, f"datasheet {field} of {gpu.name}: {sheet}")


def _check_derivation(c: Claim) -> Finding:
    """The article's SMs x rate x clock x 2 with its own inputs, against the total it states."""
    chk = c.check
    computed = units.peak_tflops(chk["sm_count"], chk["fma_per_clock_per_sm"], chk["clock_mhz"])
    sheet = catalog.get_gpu(chk["gpu"]).spec(chk["field"])
    rate = whitepaper_fma_per_clock_per_sm(chk["gpu"], chk["field"])
    return Finding(
        computed,
        relative_verdict(float(c.value), computed, SPEC_TOLERANCE),
        f"its inputs give {computed:.1f} TFLOPS, {c.value / computed:.1f}x less than it states; the datasheet's "
        f"{sheet} needs the whitepaper's per-SM rate ({rate:.0f} FMA/clock/SM)",
    )


CLAIM_CHECKS = {"spec": _check_spec, "derivation": _check_derivation}
