"""The audit of the article's GEMM TFLOPS figures (``data/claims/gemm.yaml``): against the
datasheet roofline, the committed measurements and the roofline with the default achievable
fractions (``gpucompare.model.gemm``)."""

from __future__ import annotations

import statistics

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.model.gemm import measured_tflops, roofline
from gpucompare.model.sustained import sustained_fraction

#: A claim within this fraction of a measurement of the same GEMM on the same GPU is "ok".
MEASURED_TOLERANCE = 0.15
#: A claim within this fraction of the roofline prediction is "ok" (no measurement of that GEMM).
ROOFLINE_TOLERANCE = 0.25


def _check_gemm(c: Claim) -> Finding:
    """A GEMM TFLOPS figure: wrong if above the datasheet roofline; else against the median of the
    measurements of that GEMM on that GPU, if any; else against the roofline with the default
    achievable fractions, where a figure far below it is unverifiable (a kernel can fall short of
    the roofline; only a measurement can refute it)."""
    p = params.validate(params.defaults_dict())
    chk = c.check
    m, n, k, gid, prec = chk["m"], chk["n"], chk["k"], chk["gpu"], chk["precision"]
    claimed = float(c.value)
    hard = roofline(m, n, k, gid, prec)
    est = roofline(m, n, k, gid, prec, sustained_fraction(p, gid), p.achievable_bandwidth_fraction)
    shape = f"{m}x{n}x{k} on the {catalog.get_gpu(gid).name}"
    if claimed > hard.tflops * (1 + ROOFLINE_TOLERANCE):
        return Finding(
            hard.tflops,
            "wrong",
            f"{claimed:g} TFLOPS exceeds the datasheet roofline of {hard.tflops:.3g} ({hard.bound}-bound) for {shape}",
        )
    meas = measured_tflops(gid, m, n, k, prec)
    if meas:
        med = statistics.median([x["tflops"] for x in meas])
        listed = "; ".join(
            f"{x['tflops']:g} ({x['precision']}, {x['source']}, {x['date']})" for x in meas
        )
        return Finding(
            med,
            relative_verdict(claimed, med, MEASURED_TOLERANCE),
            f"measured {listed}; the article's {claimed:g} is {claimed / med:.0%} of the median "
            f"{med:.0f}; roofline {est.tflops:.0f} ({est.bound}-bound)",
        )
    verdict = relative_verdict(claimed, est.tflops, ROOFLINE_TOLERANCE)
    why = (
        f"roofline {est.tflops:.3g} TFLOPS ({est.bound}-bound, intensity "
        f"{est.intensity_flop_per_byte:.0f} FLOP/byte vs ridge {est.ridge_flop_per_byte:.0f}) for {shape}; "
        f"the article's {claimed:g} is {claimed / est.tflops:.0%} of it"
    )
    if verdict == "wrong" and claimed < est.tflops:
        verdict = "unverifiable"
        why += "; no measurement of this GEMM on this GPU settles it"
    return Finding(est.tflops, verdict, why)


CLAIM_CHECKS = {"gemm": _check_gemm}
