"""The parameter schema: every parameter of the report with its unit, bounds and meaning (one
pydantic model, :class:`Params`). Field types and bounds: :mod:`gpucompare.params.fields`; the
services sized (batch workloads, traffic): :mod:`gpucompare.params.services`."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from gpucompare.core.errors import did_you_mean
from gpucompare.data import catalog, engines
from gpucompare.params.fields import (
    MAX_DAYS,
    MAX_ERRORS_PER_GB_YEAR,
    MAX_GIB_PER_GPU,
    MAX_GPUS,
    MAX_HOURS,
    MAX_LATENCY_US,
    MAX_MC_DRAWS,
    MAX_RATE_PER_S,
    MAX_REQUEST_S,
    MAX_SEED,
    MAX_USD_PER_GPU,
    MAX_USD_PER_KWH,
    BatchSize,
    ContextTokens,
    Fraction,
    Precision,
    StrictParams,
    TpDegree,
    UsdPerGpu,
    UsdPerGpuHour,
    UsdPerKwh,
    WeightPrecision,
)
from gpucompare.params.services import (
    Acquisition,
    Traffic,
    Workload,
)
from gpucompare.params.training import TrainingJob


def _check_gpu_id(v: str) -> str:
    allowed = catalog.gpu_ids()
    if v not in allowed:
        raise ValueError(
            f"unknown GPU '{v}'{did_you_mean(v, allowed)}; allowed: {', '.join(allowed)}"
        )
    return v


class Params(StrictParams):
    """Every parameter of the report, with units in the names."""

    title: str = Field(description="Report title")
    gpus: list[str] = Field(
        min_length=1,
        description="GPU catalog ids to compare; the first is the reference for ratios",
    )
    price_usd: dict[str, UsdPerGpu] = Field(
        default_factory=dict,
        description="Purchase price per GPU id (USD), overriding the catalog's dated price",
    )
    electricity_usd_per_kwh: float = Field(
        gt=0, le=MAX_USD_PER_KWH, description="Electricity price (USD/kWh)"
    )
    pue: float = Field(
        ge=1.0, le=3.0, description="Data-centre power usage effectiveness (dimensionless, >= 1)"
    )
    utilization: float = Field(gt=0.0, le=1.0, description="Fraction of hours the GPU serves (0-1]")
    years: float = Field(gt=0.0, le=20.0, description="Depreciation / TCO horizon (years)")
    workloads: list[Workload] = Field(
        min_length=1, description="Workloads compared in the throughput and cost sections"
    )
    traffic: list[Traffic] = Field(
        min_length=1,
        description="Services sized by the capacity planner (request rate, prompt and output "
        "tokens, TTFT and TPOT targets): the report's answer",
    )
    acquisition: dict[str, Acquisition] = Field(
        description="Per GPU id: own, rent or both (the default for a GPU not listed) in the planner"
    )
    gpu_memory_utilization: float = Field(
        gt=0.0,
        le=1.0,
        description="Fraction of GPU memory an inference engine may use (vLLM's default gpu_memory_utilization is 0.9)",
    )
    activation_reserve_gib: float = Field(
        ge=0.0,
        le=MAX_GIB_PER_GPU,
        description="GiB per GPU kept for activations and CUDA graphs inside that fraction (an assumption; vLLM measures it by profiling)",
    )
    memory_weight_precisions: list[WeightPrecision] = Field(
        min_length=1, description="Weight precisions in the fit matrix"
    )
    memory_kv_cache: Precision = Field(
        description="KV-cache precision of the fit matrix and max-batch tables"
    )
    memory_context_tokens: ContextTokens = Field(
        description="Context (tokens per sequence) of the fit matrix"
    )
    memory_batch_size: BatchSize = Field(
        description="Batch (concurrent sequences) of the fit matrix"
    )
    sweep_context_tokens: list[ContextTokens] = Field(
        min_length=1, description="Contexts (tokens) of the max-batch table and chart"
    )
    # --- tco section ---
    host_usd_per_gpu: dict[
        Literal["datacenter", "workstation", "consumer"],
        Annotated[float, Field(ge=0, le=MAX_USD_PER_GPU)],
    ] = Field(
        description="Host cost per GPU by segment (USD) in a host of up to desktop_host_max_gpus GPUs: chassis, CPUs, RAM, network share (an assumption)"
    )
    server_host_usd_per_gpu: dict[
        Literal["datacenter", "workstation", "consumer"],
        Annotated[float, Field(ge=0, le=MAX_USD_PER_GPU)],
    ] = Field(
        description="Host cost per GPU by segment (USD) in a server of more GPUs: PCIe switches, multi-kW power supplies, server CPUs (an assumption)"
    )
    desktop_host_max_gpus: int = Field(
        ge=1,
        le=8,
        description="Most GPUs a desktop or workstation host takes at host_usd_per_gpu; more need a server",
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
    cloud_usd_per_gpu_hour: dict[str, UsdPerGpuHour] = Field(
        default_factory=dict,
        description="Rental price per GPU id (USD/GPU-hour), overriding data/cloud_prices.yaml",
    )
    mc_draws: int = Field(gt=0, le=MAX_MC_DRAWS, description="Monte Carlo draws")
    mc_seed: int = Field(ge=0, le=MAX_SEED, description="Monte Carlo random seed")
    mc_price_spread: float = Field(
        ge=0.0, lt=1.0, description="GPU price uncertainty: uniform +/- this fraction"
    )
    mc_throughput_spread: float = Field(
        ge=0.0, lt=1.0, description="Throughput uncertainty: uniform +/- this fraction"
    )
    mc_utilization_range: tuple[Fraction, Fraction] = Field(
        description="Utilization drawn uniformly in [low, high] (fractions)"
    )
    mc_electricity_range_usd_per_kwh: tuple[UsdPerKwh, UsdPerKwh] = Field(
        description="Electricity price drawn uniformly in [low, high] (USD/kWh)"
    )
    min_user_tokens_per_s: float = Field(
        gt=0,
        le=MAX_RATE_PER_S,
        description="Decode speed each sequence must get for the recommender (tokens/s per user)",
    )
    # --- gemm and throughput section ---
    achievable_bandwidth_fraction: float = Field(
        gt=0.0,
        le=1.0,
        description="Fraction of the datasheet memory bandwidth a streaming kernel attains (dimensionless); "
        "default 0.9 from the H100 SXM device-to-device copy, 3.0 / 3.35 TB/s (data/measurements/kernels.csv)",
    )
    decode_batch_sizes: list[BatchSize] = Field(
        min_length=1,
        description="Batch sizes (concurrent sequences) of the decode-throughput sweep",
    )
    decode_context_tokens: ContextTokens = Field(
        description="Context (tokens per sequence) of the decode-throughput sweep"
    )
    prefill_prompt_tokens: ContextTokens = Field(
        description="Prompt length (tokens) of the prefill-throughput table"
    )
    engine: str = Field(
        description="Inference engine of every speed, cost and decision (data/engines.yaml id); its "
        "achieved bandwidth, compute and overheads are fitted on public measurements"
    )

    # --- reliability section ---
    dram_errors_per_gb_year: float = Field(
        ge=0.0,
        le=MAX_ERRORS_PER_GB_YEAR,
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
    training_gpus: int = Field(
        gt=0,
        le=MAX_GPUS,
        description="GPUs in the reliability section's training run (the article's 1,000)",
    )
    training_days: float = Field(
        gt=0,
        le=MAX_DAYS,
        description="Length of that training run in days (the article's 3 months = 90 days)",
    )
    checkpoint_interval_hours: float = Field(
        gt=0,
        le=MAX_HOURS,
        description="Hours between training checkpoints; a rollback loses the work since the last one "
        "(1 h is an assumption)",
    )
    serving_requests_per_s: float = Field(
        gt=0,
        le=MAX_RATE_PER_S,
        description="Requests per second served by one GPU in the reliability section (an assumption)",
    )
    request_duration_s: float = Field(
        gt=0,
        le=MAX_REQUEST_S,
        description="Seconds a request occupies the GPU, prefill plus decode (an assumption)",
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
    mig_weight_precisions: list[WeightPrecision] = Field(
        min_length=1, description="Weight precisions in the MIG fit and tenant tables"
    )
    mig_kv_cache: Precision = Field(
        description="KV-cache precision in the MIG fit and tenant tables"
    )
    mig_context_tokens: ContextTokens = Field(
        description="Tokens per sequence in the MIG fit and tenant tables"
    )

    # --- interconnect section ---
    tp_degrees: list[TpDegree] = Field(
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
    tp_weights: WeightPrecision = Field(
        description="Weight precision of the tensor-parallel analysis"
    )
    tp_decode_batches: list[BatchSize] = Field(
        min_length=1,
        description="Decode batch sizes (sequences, one new token each) of the TP-efficiency table and chart",
    )
    tp_prefill_tokens: ContextTokens = Field(
        description="Prompt length (tokens) of the prefill case of the TP-efficiency tables"
    )
    tp_cluster_precisions: list[WeightPrecision] = Field(
        min_length=1, description="Weight precisions of the 'RTX 4090 cluster' table"
    )
    allreduce_latency_us: float = Field(
        ge=0.0,
        le=MAX_LATENCY_US,
        description="All-reduce latency per ring step or tree level (us); default 1.0 = NCCL's PCIe figure "
        "for its low-latency ring protocol (src/graph/tuning.cc hwLat: NVLink 0.6, PCIe 1.0, network 2.7), "
        "used for every link",
    )
    allreduce_base_latency_us: float = Field(
        ge=0.0,
        le=MAX_LATENCY_US,
        description="Fixed latency of one all-reduce (us); default 6.6 = NCCL's ring low-latency base "
        "(src/graph/tuning.cc baseLat)",
    )

    # --- training section ---
    training_jobs: list[TrainingJob] = Field(
        min_length=1,
        description="Fine-tuning jobs of the training section and of the decision guide's training "
        "rules: name, model id, method (full, lora or qlora); AdamW in bf16, 2,048-token sequences, "
        "one sequence per micro-batch",
    )

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        allowed = engines.engine_ids()
        if v not in allowed:
            raise ValueError(
                f"unknown engine '{v}'{did_you_mean(v, allowed)}; allowed: {', '.join(allowed)}"
            )
        return v

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

    @field_validator(
        "memory_weight_precisions",
        "sweep_context_tokens",
        "decode_batch_sizes",
        "mig_weight_precisions",
        "tp_degrees",
        "tp_gpus",
        "tp_decode_batches",
        "tp_cluster_precisions",
    )
    @classmethod
    def _no_repeats(cls, v: list) -> list:
        """Tables have one row or column per item: a repeated item would have two."""
        dupes = sorted({str(x) for x, n in Counter(v).items() if n > 1})
        if dupes:
            raise ValueError(f"repeated item(s) {dupes}; list each once")
        return v

    @field_validator("workloads", "traffic", "training_jobs")
    @classmethod
    def _unique_workload_names(cls, v: list, info: ValidationInfo) -> list:
        """Tables label workloads and jobs by name: two with one name would be one row."""
        dupes = sorted({n for n, k in Counter(w.name for w in v).items() if k > 1})
        if dupes:
            what = {"traffic": "traffic workloads", "training_jobs": "training jobs"}.get(
                info.field_name, "workloads"
            )
            raise ValueError(f"two or more {what} are named {dupes}; names must differ")
        return v

    @field_validator("gpus")
    @classmethod
    def _known_gpus(cls, v: list[str]) -> list[str]:
        for gpu_id in v:
            _check_gpu_id(gpu_id)
        if len(set(v)) != len(v):
            dupes = sorted(g for g, n in Counter(v).items() if n > 1)
            raise ValueError(f"duplicate GPU ids {dupes}")
        return v

    @field_validator("price_usd", "cloud_usd_per_gpu_hour", "acquisition")
    @classmethod
    def _known_gpu_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        for gpu_id in v:
            _check_gpu_id(gpu_id)
        return v

    def price_of(self, gpu_id: str) -> float:
        """Purchase price in USD: the parameter if given, else the catalog's dated price."""
        return self.price_usd.get(gpu_id, catalog.get_gpu(gpu_id).price.value_usd)
