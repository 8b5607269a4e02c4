"""Claim checks of the reliability section: error rates and counts against the field data, sustained
fractions against measured large matmuls, and MIG figures against the catalog and the memory formulas."""

from __future__ import annotations

from gpucompare import params
from gpucompare.audit.finding import Finding, relative_verdict
from gpucompare.core import units
from gpucompare.core.errors import InputError, unknown
from gpucompare.data import catalog
from gpucompare.data.claims import Claim
from gpucompare.data.reliability import data, field_study
from gpucompare.model import memory
from gpucompare.model.ecc import (
    duration_years,
    error_rates_per_gpu_year,
    per_year,
    study_per_device_year,
    study_per_gb_year,
)
from gpucompare.model.mig import (
    max_batch_in_budget,
    mig_peak_tflops,
    mig_profile,
    mig_sm_count,
    with_memory_gib,
)
from gpucompare.model.sustained import PEAK_FIELD, measured_fraction
from gpucompare.params import Params

#: A field rate and a claimed rate agree when within this factor of each other (field rates of one
#: memory generation spread by more than that between fleets; an assumption of this report).
FIELD_RATE_FACTOR = 2.0
#: Relative tolerance for the article's own arithmetic (it rounds to one or two digits).
ARITHMETIC_TOLERANCE = 0.10
#: Relative tolerance for a sustained fraction or a MIG figure.
FIGURE_TOLERANCE = 0.05


def within_factor(a: float, b: float, factor: float) -> bool:
    """Both positive and at most ``factor`` apart (either way)."""
    return a > 0 and b > 0 and max(a / b, b / a) <= factor


def default_params() -> Params:
    """The validated ``params/default.yaml`` (claims are judged at the defaults)."""
    return params.validate(params.defaults_dict(), str(params.default_file()))


def _check_error_rate(c: Claim) -> Finding:
    """A claimed error rate against field data: ``per_gb`` rates against the default correctable study,
    ``per_gpu`` rates against ``check.field_study``; not comparable (no study of that memory) -> unverifiable."""
    chk = c.check
    claimed = per_year(c.value, chk.get("per", "year"))
    if chk["basis"] == "per_gb":
        study = field_study(data().defaults.correctable)
        field = study_per_gb_year(study)
        unit = "errors per GB-year"
    elif chk["basis"] == "per_gpu":
        study = field_study(chk["field_study"])
        field = study_per_device_year(study)
        unit = "per GPU-year"
    else:
        raise unknown("rate basis", "check.basis", chk["basis"], ["per_gb", "per_gpu"])
    ratio = claimed / field
    what = f"the article's {claimed:g} {unit} is {ratio:.2f}x the {study.label} ({field:.3g})"
    if not chk.get("comparable", True):
        lo = min(study_per_gb_year(s) for s in data().field_studies if s.kind == "correctable")
        hi = max(study_per_gb_year(s) for s in data().field_studies if s.kind == "correctable")
        return Finding(
            field,
            "unverifiable",
            f"{what}; no field study of this memory was found: published correctable rates span "
            f"{lo:.2f} to {hi:,.0f} per GB-year, and the consumer-GPU study (Haque & Pande 2010) gives no per-GB rate. "
            + chk.get("why", ""),
        )
    verdict = "ok" if within_factor(claimed, field, FIELD_RATE_FACTOR) else "wrong"
    return Finding(
        field, verdict, what + f" (agreement within {FIELD_RATE_FACTOR:g}x counts as ok)"
    )


def _check_error_count(c: Claim) -> Finding:
    """An expected error count: the article's own rate x memory x GPUs x duration (its arithmetic), then
    the field model for the same GPU (ECC state at the defaults) to judge the premise."""
    chk = c.check
    years = duration_years(chk["duration"], chk["duration_unit"])
    own = per_year(chk["rate"], chk.get("per", "year")) * chk["memory_gb"] * chk["gpus"] * years
    p = default_params()
    r = error_rates_per_gpu_year(p, chk["gpu"])
    field = r[chk["outcome"]] * chk["gpus"] * years
    if relative_verdict(float(c.value), own, ARITHMETIC_TOLERANCE) != "ok":
        return Finding(
            field,
            "wrong",
            f"its own inputs give {own:,.0f}, not {c.value:,}: the printed figure is {c.value / own:.1f}x its arithmetic; "
            f"the field model gives {field:,.0f}",
        )
    why = f"follows from its own rate ({own:,.0f}); the field model gives {field:,.0f}"
    if not within_factor(float(c.value), field, FIELD_RATE_FACTOR):
        extra = chk.get("why", "")
        return Finding(
            field,
            "misleading",
            why + f", {c.value / field:.0f}x less" + (f"; {extra}" if extra else ""),
        )
    return Finding(field, "ok", why)


def _check_sustained(c: Claim) -> Finding:
    """A claimed sustained / peak fraction against the measured fraction of the same GPU."""
    chk = c.check
    ms = [m for m in data().sustained_measurements if m.gpu == chk["gpu"]]
    if not ms:
        raise InputError(f"claim {c.id}: no sustained measurement for GPU '{chk['gpu']}'")
    best = max(measured_fraction(m) for m in ms)
    gpu = catalog.get_gpu(chk["gpu"])
    if not chk.get("comparable", True):
        peak = gpu.spec(chk["rated_field"])
        measured = max(m.measured_tflops for m in ms)
        return Finding(
            None,
            "unverifiable",
            f"its rated {c.check['rated_tflops']:g} TFLOPS is {chk['gpu']}'s {chk['rated_field']} ({peak:g}); "
            f"no public sustained measurement of that mode was found. Frameworks' FP16 GEMMs accumulate in FP32 "
            f"and measure up to {measured:g} TFLOPS, {best:.0%} of the {gpu.spec(PEAK_FIELD):g} TFLOPS FP32-accumulate peak "
            f"({measured / peak:.0%} of {peak:g}). " + chk.get("why", ""),
        )
    verdict = relative_verdict(float(c.value), best, FIGURE_TOLERANCE)
    return Finding(
        best,
        verdict,
        f"the best published large-matmul measurement reaches {best:.1%} of the dense peak "
        f"({', '.join(f'{m.measured_tflops:g} TFLOPS ({m.source})' for m in ms)}); the article claims {c.value:.0%}",
    )


def _check_mig(c: Claim) -> Finding:
    """A MIG figure recomputed from the catalog's profiles, the SM counts and the memory formulas."""
    chk = c.check
    g, prof = chk["gpu"], chk["profile"]
    m = mig_profile(g, prof)
    q = chk["quantity"]
    gpu = catalog.get_gpu(g)
    if q == "instances":
        computed = m.instances_max
        why = f"the MIG user guide lists {computed} x {prof}"
    elif q == "memory_gb":
        computed = m.memory_gib
        why = f"{prof} has {computed:g} GiB nominal ({units.gib_to_gb(computed):.2f} GB)"
    elif q == "compute_fraction":
        computed = mig_sm_count(g, prof) / gpu.spec("sm_count")
        verdict = relative_verdict(float(c.value), computed, FIGURE_TOLERANCE)
        return Finding(
            computed,
            "misleading" if verdict != "ok" else "ok",
            f"{prof} is 1 of 7 compute slices, but a slice has {mig_sm_count(g, prof)} of the {gpu.spec('sm_count')} SMs "
            f"({computed:.1%}); the seven slices together use {7 * mig_sm_count(g, prof)} SMs",
        )
    elif q == "peak_tflops":
        computed = mig_peak_tflops(g, prof)
        why = (
            f"{mig_sm_count(g, prof)} of {gpu.spec('sm_count')} SMs x {gpu.spec(PEAK_FIELD):g} TFLOPS = {computed:.1f} "
            f"TFLOPS dense FP16; the article divides the whole GPU by 7 ({gpu.spec(PEAK_FIELD) / 7:.1f})"
        )
    elif q == "cost_per_tenant_usd":
        computed = gpu.price.value_usd / m.instances_max
        why = f"catalog price {gpu.price.value_usd:,.0f} USD / {m.instances_max} instances"
    elif q == "weights_gb":
        computed = (
            memory.weights_bytes(catalog.get_model(chk["model"]), chk["weights"])
            / units.BYTES_PER_GB
        )
        why = f"{chk['model']} {chk['weights']} weights are {computed:.2f} GB"
    elif q == "need_gb":
        p = default_params()
        ov = memory.Overheads.from_params(p)
        usable = (
            memory.usable_bytes(
                with_memory_gib(gpu, m.memory_gib),
                ov.gpu_memory_utilization,
                ov.activation_reserve_gib,
            )
            / units.BYTES_PER_GB
        )
        batch = max_batch_in_budget(
            chk["model"], chk["weights"], chk["kv"], chk["context_tokens"], m.memory_gib, ov, g
        )
        verdict = "ok" if float(c.value) <= usable else "wrong"
        return Finding(
            usable,
            verdict,
            f"{c.value:g} GB per instance against {usable:.2f} GB usable in {prof} (capacity x "
            f"{ov.gpu_memory_utilization:g} - {ov.activation_reserve_gib:g} GiB); at {chk['context_tokens']:,} tokens "
            f"a slice holds {batch} sequence(s) of {chk['model']} {chk['weights']}",
        )
    else:
        raise unknown(
            "MIG quantity",
            "check.quantity",
            q,
            [
                "compute_fraction",
                "cost_per_tenant_usd",
                "instances",
                "memory_gb",
                "need_gb",
                "peak_tflops",
                "weights_gb",
            ],
        )
    return Finding(computed, relative_verdict(float(c.value), computed, FIGURE_TOLERANCE), why)


CLAIM_CHECKS = {
    "error_rate": _check_error_rate,
    "error_count": _check_error_count,
    "sustained": _check_sustained,
    "mig": _check_mig,
}
