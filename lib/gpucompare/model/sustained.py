"""Sustained against peak tensor throughput.

Sustained throughput = fraction x the datasheet's dense FP16/BF16 tensor peak with FP32 accumulate
(``PEAK_FIELD``, TFLOPS); the fraction is a parameter per market segment, its defaults the lowest
measured large-matmul fraction of the segment in ``data/reliability.yaml`` (measured TFLOPS / the
catalog's peak of the same data type).
"""

from __future__ import annotations

from gpucompare.core.errors import InputError
from gpucompare.data import catalog
from gpucompare.data.reliability import SustainedMeasurement, data
from gpucompare.params import Params

#: The datasheet peak that a sustained fraction multiplies.
PEAK_FIELD = "fp16_tensor_fp32acc_tflops"


def measured_fraction(m: SustainedMeasurement) -> float:
    """Measured TFLOPS / the catalog's dense peak of the same data type."""
    return m.measured_tflops / catalog.get_gpu(m.gpu).spec(m.peak_field)


def segment_measured_fraction(segment: str) -> float:
    """The lowest measured fraction among the measurements of GPUs in ``segment`` (the parameter default)."""
    found = [
        measured_fraction(m)
        for m in data().sustained_measurements
        if catalog.get_gpu(m.gpu).segment == segment
    ]
    if not found:
        raise InputError(
            f"segment: no sustained measurement for '{segment}' in data/reliability.yaml; allowed: "
            + ", ".join(
                sorted({catalog.get_gpu(m.gpu).segment for m in data().sustained_measurements})
            )
        )
    return min(found)


def sustained_fraction(p: Params, gpu_id: str) -> float:
    """Sustained / peak tensor throughput of ``gpu_id`` for its market segment (parameters
    ``sustained_fraction_datacenter`` and ``sustained_fraction_consumer``; dimensionless, may exceed 1
    where a card runs above the clock its peak was computed at)."""
    segment = catalog.get_gpu(gpu_id, "gpu_id").segment
    by_segment = {
        "datacenter": p.sustained_fraction_datacenter,
        "consumer": p.sustained_fraction_consumer,
    }
    if segment not in by_segment:
        raise InputError(
            f"gpu_id: {gpu_id} is a '{segment}' GPU; sustained fractions exist for segments: "
            + ", ".join(sorted(by_segment))
        )
    return by_segment[segment]


def sustained_tflops(p: Params, gpu_id: str) -> float:
    """Sustained dense FP16 tensor TFLOPS with FP32 accumulate = fraction x datasheet peak."""
    return sustained_fraction(p, gpu_id) * catalog.get_gpu(gpu_id).spec(PEAK_FIELD)
