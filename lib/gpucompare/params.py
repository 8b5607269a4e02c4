"""Report parameters: one schema, the defaults in ``params/default.yaml``, overrides on top.

Resolution order (later wins): ``params/default.yaml``, each ``--params`` file, each
``--set key=value``. Everything is validated here before any notebook starts, and each
notebook validates the values it was given again (:func:`notebook_params`).
"""

from __future__ import annotations

import copy
import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from gpucompare import catalog, paths
from gpucompare.errors import InputError, did_you_mean
from gpucompare.validation import input_error

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


def _allows_bool(annotation: object) -> bool:
    return annotation is bool or any(_allows_bool(a) for a in typing.get_args(annotation))


def _has_bool(value: Any) -> bool:
    """A bool, or a list or mapping with a bool item (nested models check their own fields)."""
    items = value.values() if isinstance(value, dict) else value
    if isinstance(value, (list, tuple, dict)):
        return any(isinstance(v, bool) for v in items)
    return isinstance(value, bool)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, v: Any, info: ValidationInfo) -> Any:
        """YAML's true/false are not numbers: pydantic would read ``--set pue=true`` as 1.0."""
        if _has_bool(v) and not _allows_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("true/false where a value of another type is expected")
        return v


class Workload(_Strict):
    """One LLM serving workload: a model at a precision, batch size and context length."""

    name: str = Field(description="Label used in tables")
    model: str = Field(description="Model catalog id (data/models.yaml)")
    weights: Precision = Field("fp16", description="Weight precision")
    kv_cache: Precision = Field("fp16", description="KV-cache precision")
    batch_size: PositiveInt = Field(description="Concurrent sequences")
    context_tokens: PositiveInt = Field(description="Tokens per sequence (prompt + output)")

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in catalog.model_ids():
            allowed = catalog.model_ids()
            raise ValueError(
                f"unknown model '{v}'{did_you_mean(v, allowed)}; allowed: {', '.join(allowed)}"
            )
        return v


def _check_gpu_id(v: str) -> str:
    allowed = catalog.gpu_ids()
    if v not in allowed:
        raise ValueError(
            f"unknown GPU '{v}'{did_you_mean(v, allowed)}; allowed: {', '.join(allowed)}"
        )
    return v


class Params(_Strict):
    """Every parameter of the report, with units in the names."""

    title: str = Field(description="Report title")
    gpus: list[str] = Field(
        min_length=1,
        description="GPU catalog ids to compare; the first is the reference for ratios",
    )
    price_usd: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="Purchase price per GPU id (USD), overriding the catalog's dated price",
    )
    electricity_usd_per_kwh: PositiveFloat = Field(description="Electricity price (USD/kWh)")
    pue: float = Field(
        ge=1.0, le=3.0, description="Data-centre power usage effectiveness (dimensionless, >= 1)"
    )
    utilization: float = Field(gt=0.0, le=1.0, description="Fraction of hours the GPU serves (0-1]")
    years: float = Field(gt=0.0, le=20.0, description="Depreciation / TCO horizon (years)")
    workloads: list[Workload] = Field(
        min_length=1, description="Workloads compared in the throughput and cost sections"
    )
    gpu_memory_utilization: float = Field(
        gt=0.0,
        le=1.0,
        description="Fraction of GPU memory an inference engine may use (vLLM's default gpu_memory_utilization is 0.9)",
    )
    activation_reserve_gib: float = Field(
        ge=0.0,
        description="GiB per GPU kept for activations and CUDA graphs inside that fraction (an assumption; vLLM measures it by profiling)",
    )
    memory_weight_precisions: list[Precision] = Field(
        min_length=1, description="Weight precisions in the fit matrix"
    )
    memory_kv_cache: Precision = Field(
        description="KV-cache precision of the fit matrix and max-batch tables"
    )
    memory_context_tokens: PositiveInt = Field(
        description="Context (tokens per sequence) of the fit matrix"
    )
    memory_batch_size: PositiveInt = Field(
        description="Batch (concurrent sequences) of the fit matrix"
    )
    sweep_context_tokens: list[PositiveInt] = Field(
        min_length=1, description="Contexts (tokens) of the max-batch table and chart"
    )
    # --- tco section ---
    host_usd_per_gpu: dict[Literal["datacenter", "workstation", "consumer"], NonNegativeFloat] = (
        Field(
            description="Server/host cost per GPU by segment (USD): chassis, CPUs, RAM, network share (an assumption)"
        )
    )
    busy_power_fraction: float = Field(
        gt=0.0, le=1.0, description="Average board power while serving, as a fraction of TDP"
    )
    idle_power_fraction: float = Field(
        ge=0.0, le=1.0, description="Board power while idle, as a fraction of TDP"
    )
    resale_fraction: float = Field(
        ge=0.0,
        lt=1.0,
        description="Resale value at the end of the horizon, as a fraction of the purchase price",
    )
    cloud_usd_per_gpu_hour: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="Rental price per GPU id (USD/GPU-hour), overriding data/cloud_prices.yaml",
    )
    mc_draws: int = Field(gt=0, le=10_000_000, description="Monte Carlo draws")
    mc_seed: int = Field(ge=0, description="Monte Carlo random seed")
    mc_price_spread: float = Field(
        ge=0.0, lt=1.0, description="GPU price uncertainty: uniform +/- this fraction"
    )
    mc_throughput_spread: float = Field(
        ge=0.0, lt=1.0, description="Throughput uncertainty: uniform +/- this fraction"
    )
    mc_utilization_range: tuple[float, float] = Field(
        description="Utilization drawn uniformly in [low, high] (fractions)"
    )
    mc_electricity_range_usd_per_kwh: tuple[float, float] = Field(
        description="Electricity price drawn uniformly in [low, high] (USD/kWh)"
    )
    min_user_tokens_per_s: PositiveFloat = Field(
        description="Decode speed each sequence must get for the recommender (tokens/s per user)"
    )
    # --- gemm and throughput section ---
    achievable_tflops_fraction: float = Field(
        gt=0.0,
        le=1.0,
        description="Fraction of the dense tensor peak a large GEMM attains (dimensionless); default 0.8 "
        "from the H100 SXM measurement 798 / 989.4 TFLOPS (bf16 8192^3, PyTorch 2.11, CUDA 13; "
        "data/measurements/kernels.csv)",
    )
    achievable_bandwidth_fraction: float = Field(
        gt=0.0,
        le=1.0,
        description="Fraction of the datasheet memory bandwidth a streaming kernel attains (dimensionless); "
        "default 0.9 from the H100 SXM device-to-device copy, 3.0 / 3.35 TB/s (data/measurements/kernels.csv)",
    )
    decode_batch_sizes: list[PositiveInt] = Field(
        min_length=1,
        description="Batch sizes (concurrent sequences) of the decode-throughput sweep",
    )
    decode_context_tokens: PositiveInt = Field(
        description="Context (tokens per sequence) of the decode-throughput sweep"
    )
    prefill_prompt_tokens: PositiveInt = Field(
        description="Prompt length (tokens) of the prefill-throughput table"
    )
    decode_step_overhead_ms: float = Field(
        ge=0.0,
        le=100.0,
        description="Fixed time per decode or prefill step on top of the roofline (ms): kernel launches "
        "and scheduling. 0.5 is an assumption, the size of the gap between MLC-LLM's published RTX 4090 "
        "figure (204.8 tok/s, Llama-2-7B int4) and the bandwidth term",
    )

    # --- reliability section ---
    dram_errors_per_gb_year: float = Field(
        ge=0.0,
        description="GPU memory errors per GB (1e9 bytes) per year before ECC (corrected with ECC, silent "
        "without); default 0.51 = Titan's K20X GDDR5 single-bit errors in device memory without its 10 outlier "
        "cards (J. Rogers, ORNL, GTC 2015; derived in data/reliability.yaml)",
    )
    uncorrectable_fraction: float = Field(
        ge=0.0,
        le=1.0,
        description="Fraction of memory errors that SECDED ECC detects but cannot correct (dimensionless); "
        "default 0.00073 = Titan's DRAM double-bit / single-bit error rates (GTC 2015; data/reliability.yaml)",
    )
    consumer_ecc_enabled: bool = Field(
        description="Whether consumer GPUs with an opt-in driver ECC mode (RTX 4090) run with it on; "
        "off is NVIDIA's default"
    )
    training_gpus: PositiveInt = Field(
        description="GPUs in the reliability section's training run (the article's 1,000)"
    )
    training_days: PositiveFloat = Field(
        description="Length of that training run in days (the article's 3 months = 90 days)"
    )
    checkpoint_interval_hours: PositiveFloat = Field(
        description="Hours between training checkpoints; a rollback loses the work since the last one "
        "(1 h is an assumption)"
    )
    serving_requests_per_s: PositiveFloat = Field(
        description="Requests per second served by one GPU in the reliability section (an assumption)"
    )
    request_duration_s: PositiveFloat = Field(
        description="Seconds a request occupies the GPU, prefill plus decode (an assumption)"
    )
    sustained_fraction_datacenter: float = Field(
        gt=0.0,
        le=1.5,
        description="Sustained / dense FP16 tensor peak (FP32 accumulate) of datacenter GPUs under power and "
        "thermal limits (dimensionless); default 0.80 = H100 SXM maximum achievable BF16 matmul 794.5 / 989.4 "
        "TFLOPS (stas00/ml-engineering MAMF table; data/reliability.yaml)",
    )
    sustained_fraction_consumer: float = Field(
        gt=0.0,
        le=1.5,
        description="Sustained / dense FP16 tensor peak (FP32 accumulate) of consumer GPUs (dimensionless; may "
        "exceed 1 as GeForce cards boost above their rated clock); default 0.94 = RTX 4090 torch.matmul FP16 "
        "8192^2 155.5 / 165.2 TFLOPS (zzc0721/torch-performance-test-data #78; data/reliability.yaml)",
    )
    mig_weight_precisions: list[Precision] = Field(
        min_length=1, description="Weight precisions in the MIG fit and tenant tables"
    )
    mig_kv_cache: Precision = Field(
        description="KV-cache precision in the MIG fit and tenant tables"
    )
    mig_context_tokens: PositiveInt = Field(
        description="Tokens per sequence in the MIG fit and tenant tables"
    )

    # --- interconnect section ---
    tp_degrees: list[PositiveInt] = Field(
        min_length=1,
        description="Tensor-parallel degrees (GPUs per TP group, inside one node) of the interconnect section",
    )
    tp_gpus: list[str] = Field(
        min_length=1,
        description="GPU catalog ids of the tensor-parallel configurations (default: the article's four "
        "plus the RTX 5090)",
    )
    tp_model: str = Field(
        description="Model catalog id of the tensor-parallel analysis (data/models.yaml)"
    )
    tp_weights: Precision = Field(description="Weight precision of the tensor-parallel analysis")
    tp_decode_batches: list[PositiveInt] = Field(
        min_length=1,
        description="Decode batch sizes (sequences, one new token each) of the TP-efficiency table and chart",
    )
    tp_prefill_tokens: PositiveInt = Field(
        description="Prompt length (tokens) of the prefill case of the TP-efficiency tables"
    )
    tp_cluster_precisions: list[Precision] = Field(
        min_length=1, description="Weight precisions of the 'RTX 4090 cluster' table"
    )
    allreduce_latency_us: float = Field(
        ge=0.0,
        description="All-reduce latency per ring step or tree level (us); default 1.0 = NCCL's PCIe figure "
        "for its low-latency ring protocol (src/graph/tuning.cc hwLat: NVLink 0.6, PCIe 1.0, network 2.7), "
        "used for every link",
    )
    allreduce_base_latency_us: float = Field(
        ge=0.0,
        description="Fixed latency of one all-reduce (us); default 6.6 = NCCL's ring low-latency base "
        "(src/graph/tuning.cc baseLat)",
    )

    @field_validator("tp_gpus")
    @classmethod
    def _known_tp_gpus(cls, v: list[str]) -> list[str]:
        for gpu_id in v:
            _check_gpu_id(gpu_id)
        return v

    @field_validator("tp_model")
    @classmethod
    def _known_tp_model(cls, v: str) -> str:
        allowed = catalog.model_ids()
        if v not in allowed:
            raise ValueError(
                f"unknown model '{v}'{did_you_mean(v, allowed)}; allowed: {', '.join(allowed)}"
            )
        return v

    @field_validator("mc_utilization_range", "mc_electricity_range_usd_per_kwh")
    @classmethod
    def _ordered_positive_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] <= v[1]):
            raise ValueError(f"expected [low, high] with 0 < low <= high, got {list(v)}")
        return v

    @field_validator("gpus")
    @classmethod
    def _known_gpus(cls, v: list[str]) -> list[str]:
        for gpu_id in v:
            _check_gpu_id(gpu_id)
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate GPU ids in {v}")
        return v

    @field_validator("price_usd", "cloud_usd_per_gpu_hour")
    @classmethod
    def _known_gpu_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for gpu_id in v:
            _check_gpu_id(gpu_id)
        return v

    def price_of(self, gpu_id: str) -> float:
        """Purchase price in USD: the parameter if given, else the catalog's dated price."""
        return self.price_usd.get(gpu_id, catalog.get_gpu(gpu_id).price.value_usd)


def default_file() -> Path:
    """``params/default.yaml``."""
    return paths.params_dir() / "default.yaml"


def _read_mapping(path: Path) -> dict[str, Any]:
    raw = paths.load_yaml(path)
    if raw is None:
        raise InputError(
            f"{path}: the parameters file is empty; expected a mapping of parameter: value"
        )
    if not isinstance(raw, dict):
        raise InputError(
            f"{path}: expected a mapping of parameter: value, got {type(raw).__name__}"
        )
    return raw


def defaults_dict() -> dict[str, Any]:
    """The default parameters as plain data."""
    return _read_mapping(default_file())


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; lists and scalars in ``override`` replace those in ``base``."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``--set key=value``; ``key`` is dotted (``price_usd.h100-sxm``, ``workloads.0.batch_size``)
    and ``value`` is read as YAML (so ``25000`` is a number and ``[a, b]`` a list)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {assignment!r}: expected key=value")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InputError(f"--set {key}: value {text!r} is not valid YAML") from None
    out = copy.deepcopy(data)
    node: Any = out
    parts = key.strip().split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise InputError(f"--set {key}: '{part}' is not an index of a list of {len(node)}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise InputError(f"--set {key}: '{'.'.join(parts[:i])}' is not a mapping or list")
    return out


def validate(data: dict[str, Any], where: str = "parameters") -> Params:
    """Validate plain data against :class:`Params`; problems raise one InputError."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, Params, where) from None


def resolve(files: list[Path] = (), sets: list[str] = ()) -> tuple[Params, dict[str, Any]]:
    """Defaults, then each file, then each ``--set``: the validated Params and the merged data.
    Also loads every data file and checks the parameters against it (:func:`checkdata.preflight`),
    so bad data or a parameter a section cannot honour stops a build before any notebook runs."""
    data = defaults_dict()
    sources = [str(default_file())]
    for f in files:
        data = _merge(data, _read_mapping(Path(f)))
        sources.append(str(f))
    for s in sets:
        data = apply_set(data, s)
    where = " + ".join(sources) + ("" if not sets else " + --set")
    p = validate(data, where)
    from gpucompare import checkdata  # imported here: it reads the section modules

    checkdata.preflight(p)  # every data file loads and fits the parameters, before any notebook
    return p, data


def make(**values: Any) -> Params:
    """Validated parameters: the given values over the defaults (for the library and tests)."""
    bad = [k for k in values if k not in Params.model_fields]
    if bad:
        raise InputError(
            f"parameters: unknown parameter(s) {bad}; allowed: {sorted(Params.model_fields)}"
        )
    for k, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"parameters: {k}: must be finite (got {v})")
    return validate({**defaults_dict(), **values}, "notebook parameters")


class SectionParams:
    """A notebook's view of the parameters: reading a parameter that the notebook's
    ``parameters`` cell did not declare raises, because the build injects only declared ones
    (an undeclared parameter would silently keep its default when a user overrides it)."""

    def __init__(self, params: Params, declared: set[str]):
        self._params = params
        self._declared = frozenset(declared)

    def __getattr__(self, name: str) -> Any:
        if name in Params.model_fields and name not in self._declared:
            raise InputError(
                f"this section reads parameter '{name}' but its parameters cell does not declare it; "
                "add it there (with its default from params/default.yaml)"
            )
        return getattr(self._params, name)

    def price_of(self, gpu_id: str) -> float:
        """Purchase price in USD (reads ``price_usd``, so the section must declare it)."""
        self.price_usd  # noqa: B018 - a declared-parameter check, value unused
        return self._params.price_of(gpu_id)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return self._params.model_dump(**kwargs)


def notebook_params(**values: Any) -> SectionParams:
    """Validate a notebook's parameters cell (its values over the defaults, same schema as the
    build) and return a view that refuses parameters the cell did not declare."""
    return SectionParams(make(**values), set(values))


def non_default_keys(p: Params) -> list[str]:
    """Parameter names whose validated value differs from the validated defaults."""
    resolved, defaults = p.model_dump(), validate(defaults_dict(), str(default_file())).model_dump()
    return sorted(k for k in resolved if resolved[k] != defaults[k])


def describe() -> list[dict[str, str]]:
    """One row per parameter: name and description (from the schema)."""
    return [
        {"parameter": name, "description": f.description or ""}
        for name, f in Params.model_fields.items()
    ]
