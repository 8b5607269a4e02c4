"""Field types and bounds of the parameters: precisions, units with their limits, and the strict
base model (no booleans read as numbers). The bounds keep every product of parameters finite."""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from gpucompare.core.strict import Strict

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]
#: Weight formats (data/precisions.yaml ids; tests/test_params.py checks the two agree): the
#: KV-cache formats plus the quantized file formats engines run (GGUF, MLC, EXL2).
WeightPrecision = Literal[
    "fp32",
    "bf16",
    "fp16",
    "fp8",
    "int8",
    "int4",
    "q8_0",
    "q4_k_m",
    "q4_0",
    "q4f16_1",
    "exl2-2.5",
    "exl2-3.0",
    "exl2-4.0",
    "exl2-5.0",
]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]

# --- Upper bounds ---------------------------------------------------------------------------------
# Each is far above anything a real deployment reaches, so no sensible input is refused, and low
# enough that no product of parameters overflows a float (which would print inf/NaN or crash).

#: Tokens per sequence (context, prompt): the longest context window of any released model is
#: 10 million tokens (Llama 4 Scout); the KV cache of that one sequence of Llama-2-7B is about 5 TB.
MAX_CONTEXT_TOKENS = 10_000_000
#: Concurrent sequences of a batch: serving engines run hundreds (vLLM's default max_num_seqs is 256);
#: a million sequences of even 1,000 tokens of Llama-2-7B need 500 TB of KV cache.
MAX_BATCH = 1_000_000
#: GPUs of a training run: the largest clusters announced hold a few hundred thousand GPUs.
MAX_GPUS = 1_000_000
#: GPUs of one tensor-parallel group: the largest NVLink domain announced is 576 GPUs (NVL576); the
#: data's node sizes (report.preflight) limit the degree further.
MAX_TP_DEGREE = 1024
#: Monte Carlo draws: 10 million already takes minutes and gigabytes (draws x workloads x GPUs floats).
MAX_MC_DRAWS = 10_000_000
#: Monte Carlo seed: any 32-bit value reproduces a run (numpy's legacy seeds are 32-bit); more adds nothing.
MAX_SEED = 2**32 - 1
#: USD per GPU (purchase price, host share): 10 million is 250x an H100's price of about 40,000 USD.
MAX_USD_PER_GPU = 10_000_000.0
#: USD per kWh: retail electricity costs cents to about 1 USD/kWh at the worst of 2022's crisis.
MAX_USD_PER_KWH = 100.0
#: USD per GPU-hour of a rented GPU: on-demand H100s rent for about 2 to 12 USD/hour.
MAX_USD_PER_GPU_HOUR = 10_000.0
#: GiB per GPU: 10,000 GiB is 35x the largest GPU memory (288 GB of a B300).
MAX_GIB_PER_GPU = 10_000.0
#: Tokens/s per sequence or requests/s per GPU: decode runs at tens to thousands of tokens/s per user.
MAX_RATE_PER_S = 1_000_000.0
#: Memory errors per GB-year: the field studies measure about 0.01 to 10; a billion (30 a second in
#: each GB) is memory that does not work at all.
MAX_ERRORS_PER_GB_YEAR = 1e9
#: Days of a training run and hours between checkpoints: at most a century.
MAX_DAYS = 36_525.0
MAX_HOURS = MAX_DAYS * 24
#: Seconds one request occupies a GPU: a day (longer is a batch job, not a served request).
MAX_REQUEST_S = 86_400.0
#: Microseconds of an all-reduce step: one second (measured latencies are 1 to 100 us).
MAX_LATENCY_US = 1_000_000.0

ContextTokens = Annotated[int, Field(gt=0, le=MAX_CONTEXT_TOKENS)]
BatchSize = Annotated[int, Field(gt=0, le=MAX_BATCH)]
UsdPerGpu = Annotated[float, Field(gt=0, le=MAX_USD_PER_GPU)]
UsdPerGpuHour = Annotated[float, Field(gt=0, le=MAX_USD_PER_GPU_HOUR)]
TpDegree = Annotated[int, Field(gt=0, le=MAX_TP_DEGREE)]
Fraction = Annotated[float, Field(gt=0, le=1)]
UsdPerKwh = Annotated[float, Field(gt=0, le=MAX_USD_PER_KWH)]


def _allows_bool(annotation: object) -> bool:
    return annotation is bool or any(_allows_bool(a) for a in typing.get_args(annotation))


def _has_bool(value: Any) -> bool:
    """A bool, or a list or mapping with a bool item (nested models check their own fields)."""
    items = value.values() if isinstance(value, dict) else value
    if isinstance(value, (list, tuple, dict)):
        return any(isinstance(v, bool) for v in items)
    return isinstance(value, bool)


class StrictParams(Strict):
    """A parameters model: strict, and YAML's true/false never read as numbers."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, v: Any, info: ValidationInfo) -> Any:
        """YAML's true/false are not numbers: pydantic would read ``--set pue=true`` as 1.0."""
        if _has_bool(v) and not _allows_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("true/false where a value of another type is expected")
        return v
