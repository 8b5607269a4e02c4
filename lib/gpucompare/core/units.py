"""Units: the one place that defines unit factors.

Conventions used across the project (and in every name and column):

* ``_gb`` = 1e9 bytes (decimal gigabyte), ``_gib`` = 2**30 bytes (binary gibibyte).
* ``_gb_s`` = 1e9 bytes per second; a link figure says ``per_direction`` or ``total``
  (both directions added) in its name.
* ``_tflops`` = 1e12 floating-point operations per second; one FMA = 2 FLOPs.
* ``_mhz`` = 1e6 cycles per second; ``_w`` = watts; ``_usd`` = US dollars.

DRAM capacities are sold in binary units: a GPU "with 80 GB" has 80 GiB of DRAM.
"""

from __future__ import annotations

BYTES_PER_GB = 1e9
BYTES_PER_GIB = 2**30
BYTES_PER_MIB = 2**20
FLOPS_PER_TFLOPS = 1e12
HZ_PER_MHZ = 1e6
FLOPS_PER_FMA = 2
SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760.0  # 365 days; leap days ignored, as in most TCO models
HOURS_PER_DAY = 24.0
MONTHS_PER_YEAR = 12.0
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR
US_PER_S = 1e6  # microseconds per second
US_PER_MS = 1e3  # microseconds per millisecond
WATTS_PER_KW = 1000.0
BITS_PER_BYTE = 8
BITS_PER_MBIT = 2**20  # DRAM field studies quote FIT per binary megabit
DEVICE_HOURS_PER_FIT = 1e9  # 1 FIT = 1 failure per 1e9 device-hours


def gib_to_gb(gib: float) -> float:
    """Convert binary GiB (2**30 B) to decimal GB (1e9 B)."""
    return gib * BYTES_PER_GIB / BYTES_PER_GB


def gb_to_gib(gb: float) -> float:
    """Convert decimal GB (1e9 B) to binary GiB (2**30 B)."""
    return gb * BYTES_PER_GB / BYTES_PER_GIB


def peak_tflops(sm_count: int, fma_per_clock_per_sm: float, clock_mhz: float) -> float:
    """Peak throughput in TFLOPS = SMs x FMA/clock/SM x clock x 2 FLOPs/FMA.

    Source: the formula NVIDIA's architecture whitepapers use for their peak tables.
    """
    return (
        sm_count * fma_per_clock_per_sm * clock_mhz * HZ_PER_MHZ * FLOPS_PER_FMA / FLOPS_PER_TFLOPS
    )


def implied_clock_mhz(tflops: float, sm_count: int, fma_per_clock_per_sm: float) -> float:
    """Clock in MHz at which ``peak_tflops`` gives ``tflops`` (the inverse of :func:`peak_tflops`)."""
    return (
        tflops * FLOPS_PER_TFLOPS / (sm_count * fma_per_clock_per_sm * FLOPS_PER_FMA * HZ_PER_MHZ)
    )
