"""Capacity planner: the GPUs, split and replicas that serve a request rate within latency targets
(time to first token, TTFT, and time per output token, TPOT), and what they cost, owned or rented.

A load: ``requests_per_s`` requests, each a prompt of ``prompt_tokens`` and ``output_tokens``
generated, served by one engine (issue 17's engine-aware throughput model,
:mod:`gpucompare.model.throughput`). An option: ``gpu_count`` GPUs of one type per replica, split
the engine's way, ``replicas`` copies sharing the load evenly, each GPU owned or rented.

Per replica, with rate r = requests_per_s / replicas:

* Prefill: one prompt takes t_p (s) (compute-bound: matmul and causal-attention FLOPs at the
  engine's rates, :func:`gpucompare.model.throughput.prefill_tokens_per_s`); prefills take
  rho_p = r x t_p of the replica's time (continuous batching interleaves them with decode steps,
  prefills first, as vLLM's scheduler does).
* TTFT = t_p + the mean wait of an M/D/1 queue (Poisson arrivals, one deterministic server) with
  load rho_p: W = rho_p t_p / (2 (1 - rho_p)) (Pollaczek-Khinchine). This is the mean, not a
  percentile; a P99 target needs headroom the report does not model.
* Decode: c sequences decode together; a step at batch c takes s(c) at the mean context (prompt +
  output / 2); each sequence gets one token per s(c) / (1 - rho_p) seconds (prefills steal the
  rest), so TPOT = s(c) / (1 - rho_p). By Little's law c = r x output x TPOT: the concurrency the
  load implies, found by fixed-point iteration. The batch must fit in memory (KV of c sequences at
  prompt + output tokens, :func:`gpucompare.model.throughput.max_batch`).
* The replica count is the smallest meeting both targets with rho_p < 1 and c within memory.

Cost: owned = TCO per GPU (:func:`gpucompare.model.tco.tco_usd`: price, host share, energy at the
parameters' utilization, minus resale) / months of the horizon; rented = the cloud rate x 730
hours a month (a service keeps its GPUs). $ per million output tokens = $ per month / (requests/s
x output tokens x seconds per month / 1e6).

``limited_by`` names what stops one replica fewer from serving the load: "prefill" (TTFT or prefill
time), "decode" (TPOT), "link" (TPOT, which the split's GPU-to-GPU communication per step breaks:
without it the target would be met; e.g. 8-way tensor parallelism over PCIe staged through host
memory), "memory" (the concurrent KV caches), or "load" (one replica serves it). A group size
whose link breaks TPOT at any load gives no option; :func:`group_limits` lists those.

Host cost: an owned GPU carries the host share of a desktop or workstation when its replica has at
most ``desktop_host_max_gpus`` GPUs, of a server otherwise (:func:`gpucompare.model.tco.host_usd`).
"""

from __future__ import annotations

import atexit
import json
import math
import os
from dataclasses import asdict, dataclass

from gpucompare.core import paths, units
from gpucompare.core.errors import InputError
from gpucompare.core.guards import require_positive, require_positive_int
from gpucompare.data import catalog, engines
from gpucompare.data.interconnect import max_gpus_per_node
from gpucompare.model import memory, planmemo, tco, throughput, work
from gpucompare.params import Params

#: Group sizes tried per replica (GPUs per model copy).
GROUP_SIZES = (1, 2, 4, 8)
#: Most replicas searched per option (a load needing more is reported as not served).
MAX_REPLICAS = 4096
#: Fixed-point iterations for the concurrency c = r x output x TPOT(c).
ITERATIONS = 40
#: Acquisitions an option can have.
ACQUISITIONS = ("own", "rent")
HOURS_PER_MONTH = units.HOURS_PER_YEAR / units.MONTHS_PER_YEAR
SECONDS_PER_MONTH = HOURS_PER_MONTH * units.SECONDS_PER_HOUR


@dataclass(frozen=True)
class Load:
    """Traffic and targets: requests/s, mean prompt and output tokens, TTFT and TPOT in ms."""

    model: str
    weights: str
    kv: str
    requests_per_s: float
    prompt_tokens: int
    output_tokens: int
    ttft_ms: float
    tpot_ms: float

    @classmethod
    def of(cls, traffic) -> Load:
        """The load of a parameters' traffic workload (:class:`gpucompare.params.schema.Traffic`)."""
        return cls(
            traffic.model,
            traffic.weights,
            traffic.kv_cache,
            traffic.requests_per_s,
            traffic.prompt_tokens,
            traffic.output_tokens,
            traffic.ttft_ms,
            traffic.tpot_ms,
        )

    @classmethod
    def classes_of(cls, traffic) -> dict[str, Load]:
        """The load of each request class of a traffic workload's ``mix`` (its share of the
        requests, its mean lengths, the service's model, formats and targets); {} without a mix."""
        return {
            c.name: cls(
                traffic.model,
                traffic.weights,
                traffic.kv_cache,
                traffic.requests_per_s * c.share,
                c.prompt_tokens,
                c.output_tokens,
                traffic.ttft_ms,
                traffic.tpot_ms,
            )
            for c in traffic.mix or []
        }

    def check(self) -> Load:
        catalog.get_model(self.model)
        catalog.weight_format(self.weights)
        catalog.kv_format(self.kv)
        require_positive("requests_per_s", self.requests_per_s)
        require_positive_int("prompt_tokens", self.prompt_tokens)
        require_positive_int("output_tokens", self.output_tokens)
        require_positive("ttft_ms", self.ttft_ms)
        require_positive("tpot_ms", self.tpot_ms)
        return self


@dataclass(frozen=True)
class Replica:
    """How one replica of ``gpu_count`` GPUs fares at a request rate (times in seconds)."""

    ok: bool
    limited_by: str
    prefill_s: float
    ttft_s: float
    tpot_s: float
    concurrency: float
    max_batch: int
    prefill_share: float


#: Parameters that only put prices on things (and the report's title): the throughput model never
#: reads them, so its answers computed under one value hold under another. A price edit in the
#: preview's warm kernels, or the decision section after the summary in one kernel, reuses them
#: (tests/model/test_plan.py changes each of them and compares with a fresh computation).
PRICE_ONLY = frozenset({"title", "price_usd", "cloud_usd_per_gpu_hour", "electricity_usd_per_kwh"})
#: The throughput model's answers already computed, per value of every other parameter and per
#: data folder: the planner asks the same (GPU, group, batch, context) many times while it sizes
#: replicas and searches capacity (3-4x faster on the default services).
_MEMO: dict[tuple[str, str | None], dict] = {}
#: Parameter values (and data folders) remembered (the oldest forgotten first).
MEMO_PARAMS = 4
#: The memo key of recent parameters objects (frozen: a key cannot change), by id; the object is
#: held too, so that its id is not reused by another.
_KEYS: dict[int, tuple[Params, str]] = {}


def _speed_key(p: Params) -> str:
    hit = _KEYS.get(id(p))
    if hit is None or hit[0] is not p:
        while len(_KEYS) >= 4 * MEMO_PARAMS:
            _KEYS.pop(next(iter(_KEYS)))
        values = p.model_dump(mode="json", exclude=PRICE_ONLY)
        hit = _KEYS[id(p)] = (p, json.dumps(values, sort_keys=True))
    return hit[1]


def _memo(p: Params) -> dict:
    key = (_speed_key(p), os.environ.get(paths.DATA_DIR_ENV))
    hit = _MEMO.get(key)
    if hit is None:
        while len(_MEMO) >= MEMO_PARAMS:
            planmemo.forget(next(iter(_MEMO)))
            _MEMO.pop(next(iter(_MEMO)))
        hit = _MEMO[key] = planmemo.read(*key)
    return hit


def save_memo() -> int:
    """Write each memo that grew since it was read or written to the disk cache
    (:func:`gpucompare.model.planmemo.save`); returns the entries written. A warm kernel calls it
    after each cell; every process at exit."""
    return planmemo.save(_MEMO)


atexit.register(save_memo)  # what a process computed is kept as it ends (nothing to do: free)


def _step_s(
    p: Params, load: Load, gpu: str, n: int, batch: int, context: int
) -> tuple[float, float]:
    """Decode step time and its link (communication) part, in seconds."""
    memo, key = _memo(p), ("step", load.model, load.weights, load.kv, gpu, n, batch, context)
    if key not in memo:
        s = throughput.decode_step(
            p, load.model, load.weights, load.kv, batch, context, gpu, gpus=n
        )
        memo[key] = (s["step_ms"] / 1e3, s["link_ms"] / 1e3)
    return memo[key]


def _prefill(p: Params, load: Load, gpu: str, n: int) -> tuple[int, float | None]:
    """The replica's largest batch at prompt + output tokens, and its prefill tokens/s."""
    memo = _memo(p)
    key = ("prefill", load.model, load.weights, load.kv, gpu, n, load.prompt_tokens)
    key += (load.output_tokens,)
    if key not in memo:
        ctx_total = load.prompt_tokens + load.output_tokens
        c = throughput.case(p, load.model, load.weights, load.kv, 1, ctx_total, 0, gpu, gpus=n)
        mb = throughput.max_batch(p, c, ctx_total)
        tps = throughput.prefill_tokens_per_s(
            p, load.model, load.weights, load.kv, 1, load.prompt_tokens, gpu, gpus=n
        )
        memo[key] = (mb, tps)
    return memo[key]


def replica(p: Params, load: Load, gpu: str, n: int, rate: float) -> Replica:
    """One replica of ``n`` GPUs of ``gpu`` serving ``rate`` requests/s (module docstring)."""
    ctx_mean = load.prompt_tokens + max(load.output_tokens // 2, 1)
    mb, tps = _prefill(p, load, gpu, n)
    if mb < 1 or tps is None:
        return Replica(False, "memory", math.inf, math.inf, math.inf, 0.0, mb, math.inf)
    t_p = load.prompt_tokens / tps
    rho = rate * t_p
    if rho >= 1:
        return Replica(False, "prefill", t_p, math.inf, math.inf, 0.0, mb, rho)
    ttft = t_p + rho * t_p / (2 * (1 - rho))
    conc = 1.0
    for _ in range(ITERATIONS):
        batch = max(1, min(mb, math.ceil(conc)))
        step, _ = _step_s(p, load, gpu, n, batch, ctx_mean)
        tpot = step / (1 - rho)
        new = rate * load.output_tokens * tpot
        if abs(new - conc) < 1e-3 * max(conc, 1.0):
            conc = new
            break
        conc = new
    batch = max(1, math.ceil(conc))
    if batch > mb:
        return Replica(False, "memory", t_p, ttft, math.inf, conc, mb, rho)
    step, link = _step_s(p, load, gpu, n, batch, ctx_mean)
    tpot = step / (1 - rho)
    if ttft * 1e3 > load.ttft_ms:
        return Replica(False, "prefill", t_p, ttft, tpot, conc, mb, rho)
    if tpot * 1e3 > load.tpot_ms:
        without_link = (step - link) / (1 - rho)
        limit = "link" if without_link * 1e3 <= load.tpot_ms else "decode"
        return Replica(False, limit, t_p, ttft, tpot, conc, mb, rho)
    return Replica(True, "load", t_p, ttft, tpot, conc, mb, rho)


def group_sizes(load: Load, gpu: str, engine_id: str) -> list[int]:
    """GPUs per replica to try: the engine's split must be possible and the weights must fit."""
    model = catalog.get_model(load.model)
    split = engines.get_engine(engine_id).split
    out = []
    for n in GROUP_SIZES:
        if n > max_gpus_per_node(gpu):
            continue
        if n > 1 and split == "tensor" and model.num_attention_heads % n:
            continue
        out.append(n)
    return out


def allowed_acquisitions(p: Params, gpu: str, requested: tuple[str, ...]) -> tuple[str, ...]:
    """``requested`` narrowed by the parameter ``acquisition`` for ``gpu`` (own, rent or both)."""
    chosen = p.acquisition.get(gpu, "both")
    return tuple(a for a in requested if chosen in ("both", a))


def usd_per_gpu_month(p: Params, gpu: str, acquisition: str, gpus_per_replica: int = 1) -> float:
    """Hours in a month x USD per GPU-hour: owned, TCO per hour of the horizon (host share of a
    host of ``gpus_per_replica`` GPUs, :func:`gpucompare.model.tco.own_usd_per_gpu_hour`); rented,
    the cloud rate (a service keeps its GPUs every hour)."""
    if acquisition == "own":
        return tco.own_usd_per_gpu_hour(p, gpu, gpus_per_replica) * HOURS_PER_MONTH
    return tco.cloud_rate(p, gpu)[0] * HOURS_PER_MONTH


def _replicas_needed(p: Params, load: Load, gpu: str, n: int) -> tuple[int, Replica, str] | None:
    """Smallest replica count that meets the targets, its replica, and what one fewer fails on."""
    lo_fail = "load"
    if not replica(p, load, gpu, n, load.requests_per_s / MAX_REPLICAS).ok:
        return None  # even the smallest share of the load fails: more replicas cannot help
    # Doubling, then bisection: a replica meets the targets at rate r if it does at any lower rate.
    r = 1
    while r <= MAX_REPLICAS:
        rep = replica(p, load, gpu, n, load.requests_per_s / r)
        if rep.ok:
            break
        if r == 1 and rep.limited_by == "memory" and rep.concurrency == 0.0:
            return None  # the weights alone do not fit this group
        r *= 2
    else:
        return None
    lo, hi = r // 2, r  # lo fails (or is 0), hi passes
    best = rep
    while hi - lo > 1:
        mid = (lo + hi) // 2
        m = replica(p, load, gpu, n, load.requests_per_s / mid)
        if m.ok:
            hi, best = mid, m
        else:
            lo = mid
    if lo >= 1:
        lo_fail = replica(p, load, gpu, n, load.requests_per_s / lo).limited_by
    return hi, best, lo_fail


def group_limits(p: Params, load: Load, gpu: str) -> dict[int, str]:
    """Group sizes of ``gpu`` that give no option at any replica count, and why: what one replica
    fails on at the smallest share of the load ("memory", "prefill", "decode" or "link")."""
    out = {}
    for n in group_sizes(load, gpu, throughput.engine_of(p)):
        rep = replica(p, load, gpu, n, load.requests_per_s / MAX_REPLICAS)
        if not rep.ok:
            out[n] = rep.limited_by
    return out


def candidate_groups(
    p: Params,
    load: Load,
    gpu_ids: list[str] | None = None,
    acquisitions: tuple[str, ...] = ACQUISITIONS,
) -> list[tuple[str, int]]:
    """(GPU, GPUs per replica) pairs worth sizing: each GPU of ``gpu_ids`` (default: the catalog)
    whose formats it and the engine run, with the group sizes the engine's split allows
    (:func:`group_sizes`). Unknown GPU ids and acquisitions raise :class:`InputError`."""
    for a in acquisitions:
        if a not in ACQUISITIONS:
            raise InputError(f"acquisition: unknown '{a}'; allowed: {', '.join(ACQUISITIONS)}")
    engine_id = throughput.engine_of(p)
    out = []
    for gpu in gpu_ids if gpu_ids is not None else catalog.gpu_ids():
        catalog.get_gpu(gpu, "gpus")
        probe = throughput.case(p, load.model, load.weights, load.kv, 1, 1, 1, gpu)
        if not throughput.unsupported(p, probe):
            out += [(gpu, n) for n in group_sizes(load, gpu, engine_id)]
    return out


def options(
    p: Params,
    load: Load,
    gpu_ids: list[str] | None = None,
    acquisitions: tuple[str, ...] = ACQUISITIONS,
) -> list[dict]:
    """Every (GPU, GPUs per replica, acquisition) that serves ``load`` within its targets, with its
    cost, sorted by $ per million output tokens (module docstring). Formats the GPU or the engine
    cannot run give no option."""
    load.check()
    engine_id = throughput.engine_of(p)
    out = []
    for gpu, n in candidate_groups(p, load, gpu_ids, acquisitions):
        found = _replicas_needed(p, load, gpu, n)
        if found is None:
            continue
        reps, rep, lo_fail = found
        total = n * reps
        out_tokens_month = load.requests_per_s * load.output_tokens * SECONDS_PER_MONTH
        in_tokens_month = load.requests_per_s * load.prompt_tokens * SECONDS_PER_MONTH
        for a in allowed_acquisitions(p, gpu, acquisitions):
            try:
                month = total * usd_per_gpu_month(p, gpu, a, n)
            except InputError:
                continue  # no rental price for this GPU
            out.append(
                {
                    "gpu": gpu,
                    "engine": engine_id,
                    "acquisition": a,
                    "gpu_count": total,
                    "gpus_per_replica": n,
                    "tensor_parallel": n if engines.get_engine(engine_id).split == "tensor" else 1,
                    "split": work.engine_split(engine_id, n),
                    "replicas": reps,
                    "usd_per_month": month,
                    "usd_per_million_output_tokens": month / out_tokens_month * 1e6,
                    "usd_per_million_input_tokens": month / in_tokens_month * 1e6,
                    "ttft_ms": rep.ttft_s * 1e3,
                    "tpot_ms": rep.tpot_s * 1e3,
                    "meets_slo": True,
                    "prefill_share": rep.prefill_share,
                    "concurrent_sequences_per_replica": rep.concurrency,
                    "max_batch_per_replica": rep.max_batch,
                    "limited_by": lo_fail if reps > 1 else "load",
                }
            )
    return sorted(
        out,
        key=lambda o: (
            o["usd_per_million_output_tokens"],
            o["gpu"],
            o["acquisition"],
            o["gpu_count"],
        ),
    )


def cheapest(
    options: list[dict], acquisition: str | None = None, gpu: str | None = None
) -> dict | None:
    """The cheapest of ``options`` (sorted by cost, as :func:`options` returns them) with that
    acquisition and GPU (either None: any), or None when there is none."""
    return next(
        (o for o in options if acquisition in (None, o["acquisition"]) and gpu in (None, o["gpu"])),
        None,
    )


def plan(
    p: Params,
    load: Load,
    gpu_ids: list[str] | None = None,
    acquisitions: tuple[str, ...] = ACQUISITIONS,
) -> dict:
    """``{"load": ..., "options": [...], "best": {...} or {}, "reason": ...}``: the cheapest option
    first; an empty ``best`` with the reason when no option serves the load."""
    opts = options(p, load, gpu_ids, acquisitions)
    reason = None
    if not opts:
        reason = (
            "no GPU, group size (up to 8 per replica) and replica count (up to "
            f"{MAX_REPLICAS}) meets TTFT {load.ttft_ms:g} ms and TPOT {load.tpot_ms:g} ms at "
            f"{load.requests_per_s:g} requests/s with {throughput.engine_of(p)}"
        )
    return {
        "load": asdict(load),
        "options": opts,
        "best": opts[0] if opts else {},
        "reason": reason,
    }


def prefill_bound_gpus(load: Load, gpu: str) -> float:
    """GPUs no plan can go below: 2 x active parameters x prompt tokens x requests/s of prefill
    FLOP/s over the GPU's dense FP16 peak (attention left out: a lower bound)."""
    model = catalog.get_model(load.model)
    flops = (
        2 * throughput.active_matmul_parameters(model) * load.prompt_tokens * load.requests_per_s
    )
    peak = catalog.get_gpu(gpu).spec("bf16_tensor_tflops") * units.FLOPS_PER_TFLOPS
    return flops / peak


def decode_bound_gpus(load: Load, gpu: str) -> float:
    """GPUs no plan can go below for decode: every output token reads its sequence's KV cache
    (KV bytes per token x mean context), at the datasheet bandwidth."""
    model = catalog.get_model(load.model)
    ctx = load.prompt_tokens + load.output_tokens / 2
    bytes_s = (
        load.requests_per_s * load.output_tokens * memory.kv_bytes_per_token(model, load.kv) * ctx
    )
    return bytes_s / (catalog.get_gpu(gpu).spec("memory_bandwidth_gb_s") * units.BYTES_PER_GB)
