"""Claim checks of the specifications section: the article's spec-table figures against the
catalog's datasheets, and its per-SM derivation of peak throughput against its own totals."""

from __future__ import annotations

from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.data import catalog, spec_labels
from gpucompare.data.claims import Claim
from gpucompare.model.specs import whitepaper_fma_per_clock_per_sm

#: Relative tolerance for a spec figure to count as the datasheet's (datasheets round to 3 digits).
SPEC_TOLERANCE = 0.02


def _check_spec(c: Claim) -> Finding:
    """A spec-table figure against the catalog's datasheet value; a figure that matches another
    field instead (``check.alternatives``) is misleading: right number, wrong quantity."""
    gpu = catalog.get_gpu(c.check["gpu"])
    field = c.check["field"]
    label = spec_labels.spec_label(field, [gpu.id])
    sheet = gpu.spec(field)
    if isinstance(sheet, bool) or isinstance(c.value, bool):
        verdict = "ok" if sheet == c.value else "wrong"
        note = getattr(gpu.specs, field).note
        shown = "yes" if sheet else "no"
        return Finding(
            sheet,
            verdict,
            f"{gpu.name}'s datasheet {label}: {shown}" + (f" ({note})" if note else ""),
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
                    f"{c.value} is {gpu.name}'s {spec_labels.spec_label(alt, [gpu.id])} ({alt_value}), "
                    f"not its {label} ({sheet})",
                )
    return Finding(sheet, verdict, f"{gpu.name}'s datasheet {label}: {sheet}")


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


def _clock_mhz(gpu_id: str) -> float:
    """The clock the datasheet's tensor peaks are computed at (``peak_tflops_clock_mhz``, else boost)."""
    gpu = catalog.get_gpu(gpu_id)
    return gpu.spec("peak_tflops_clock_mhz") or gpu.spec("boost_clock_mhz")


def net_factor(gpu_a: str, field_a: str, gpu_b: str, field_b: str) -> dict:
    """The article's decomposition of a peak ratio, with the whitepapers' per-SM rates: per-SM rate
    ratio x SM ratio x clock ratio = net (it equals the ratio of the two datasheet peaks)."""
    a, b = catalog.get_gpu(gpu_a), catalog.get_gpu(gpu_b)
    rate = whitepaper_fma_per_clock_per_sm(gpu_a, field_a) / whitepaper_fma_per_clock_per_sm(
        gpu_b, field_b
    )
    sms = a.spec("sm_count") / b.spec("sm_count")
    clock = _clock_mhz(gpu_a) / _clock_mhz(gpu_b)
    return {"rate": rate, "sms": sms, "clock": clock, "net": rate * sms * clock}


def _check_net_factor(c: Claim) -> Finding:
    """The article's 'net' factor (per-SM rate x SMs x clock) against the same product with the
    whitepapers' per-SM rates; the like-for-like product (both FP32 accumulate) is given too."""
    chk = c.check
    f = net_factor(chk["gpu_a"], chk["field_a"], chk["gpu_b"], chk["field_b"])
    like = net_factor(chk["gpu_a"], chk["field_a"], chk["gpu_b"], chk["like_for_like_field_b"])
    own = 1.0
    for x in chk["article_factors"]:
        own *= x
    verdict = relative_verdict(float(c.value), f["net"], SPEC_TOLERANCE)
    why = (
        f"its factors multiply to {own:.2f}, but the whitepapers' per-SM rates differ {f['rate']:g}x, not "
        f"{chk['article_factors'][0]:g}x: {f['rate']:g} x {f['sms']:.3f} SMs x {f['clock']:.3f} clock = {f['net']:.2f}x, "
        f"the ratio of the two datasheet peaks its own table shows; {like['net']:.2f}x with FP32 accumulate on both"
    )
    return Finding(f["net"], verdict, why)


CLAIM_CHECKS = {
    "spec": _check_spec,
    "derivation": _check_derivation,
    "net_factor": _check_net_factor,
}
