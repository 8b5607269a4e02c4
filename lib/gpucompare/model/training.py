"""Training and fine-tuning: the public API over memory (:mod:`~gpucompare.model.training_memory`),
speed (:mod:`~gpucompare.model.training_speed`) and the calibrated MFU
(:mod:`~gpucompare.model.training_calibration`): hours, GPU-hours and dollars to train on a number of
tokens, owned and rented, with checkpoint-rollback losses, and :func:`estimate`, the
``gpucompare train --json`` payload.

* Hours = tokens / tokens per second / 3600 x the rollback factor: memory errors that force a
  restart from the last checkpoint (uncorrectable with ECC, every error without it) arrive at
  N x :func:`gpucompare.model.ecc.rollback_rate_per_gpu_year` / 8,760 per hour, and each
  checkpoint interval tau of useful work takes (exp(L tau) - 1) / (L tau) times as long
  (:func:`gpucompare.model.ecc.rollback_overhead_factor`, the model of the reliability section;
  parameter ``checkpoint_interval_hours``). Other failures (GPU, network, host) are not counted.
* GPU-hours = hours x N. Owned: GPU-hours x TCO / hours of the horizon
  (:func:`gpucompare.model.tco.tco_usd`, ``years``, the host share of a node of min(N, GPUs per
  node)), i.e. the job's GPUs are charged as if owned and kept at the ``utilization`` parameter
  for the whole horizon (as the capacity planner charges them). Rented: GPU-hours x
  :func:`gpucompare.model.tco.cloud_rate`.
* Floor: tokens x model FLOPs per token / (N x peak) is a lower bound of the hours (MFU and scaling
  efficiency are at most 1, the rollback factor at least 1); for full training that is the 6 N D
  rule plus attention.
* :func:`smallest_fit` places a job on the fewest GPUs that hold it (one GPU without sharding, else
  ZeRO-3), as the training section's tables and the training claims do.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gpucompare.core import units
from gpucompare.core.errors import InputError
from gpucompare.data.interconnect import max_gpus_per_node
from gpucompare.model import ecc, tco
from gpucompare.model import training_calibration as tc
from gpucompare.model import training_memory as tm
from gpucompare.model import training_speed as ts
from gpucompare.params import Params

#: GPU counts of the scaling table: inside one node, then nodes joined by the node link.
SCALING_GPUS = (1, 2, 4, 8, 16, 64, 256)
#: Tokens of each job of the report's training tables and of the decision guide's training rules: a
#: fine-tuning run of about 50,000 sequences of 2,048 tokens.
JOB_TOKENS = 100_000_000


def rollback_factor(p: Params, gpu_id: str, gpus: int) -> float:
    """Wall-clock hours per useful hour from memory-error rollbacks of ``gpus`` GPUs."""
    per_hour = ecc.rollback_rate_per_gpu_year(p, gpu_id) * gpus / units.HOURS_PER_YEAR
    return ecc.rollback_overhead_factor(per_hour, p.checkpoint_interval_hours)


def own_usd_per_gpu_hour(p: Params, gpu_id: str, gpus: int) -> float:
    """:func:`gpucompare.model.tco.own_usd_per_gpu_hour` for a job of ``gpus`` GPUs, hosted in
    nodes of up to the GPU's node size (USD per GPU-hour)."""
    return tco.own_usd_per_gpu_hour(p, gpu_id, min(gpus, max_gpus_per_node(gpu_id)))


def time_and_cost(p: Params, gpu_id: str, gpus: int, tokens: float, tokens_per_s: float) -> dict:
    """Hours with and without rollbacks, GPU-hours, USD per GPU-hour and USD, owned and rented;
    ``finishes`` False (and None for hours and costs) when memory-error rollbacks come faster than
    checkpoints, so the run never ends."""
    for name, v in (("tokens", tokens), ("tokens_per_s", tokens_per_s)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(f"{name}: must be a positive number (got {v!r})")
    useful = tokens / tokens_per_s / units.SECONDS_PER_HOUR
    factor = rollback_factor(p, gpu_id, gpus)
    rate, rate_source = tco.cloud_rate(p, gpu_id)
    own = own_usd_per_gpu_hour(p, gpu_id, gpus)
    finishes = math.isfinite(useful * factor)
    hours = useful * factor if finishes else None
    return {
        "finishes": finishes,  # False: rollbacks come faster than checkpoints
        "hours_without_rollbacks": useful,
        "rollback_factor": factor if math.isfinite(factor) else None,
        "hours": hours,
        "gpu_hours": hours * gpus if finishes else None,
        "usd_per_gpu_hour_own": own,
        "usd_per_gpu_hour_rent": rate,
        "rent_price_source": rate_source,
        "usd_own": hours * gpus * own if finishes else None,
        "usd_rent": hours * gpus * rate if finishes else None,
    }


def floor_hours(job: ts.Job, tokens: float) -> float:
    """Hours at 100% of the peak on every GPU with no communication: tokens x model FLOPs per token
    / (N x peak) / 3600."""
    peak = ts.peak_tflops(job.gpu, job.precision) * units.FLOPS_PER_TFLOPS
    return tokens * ts.model_flops_per_token(job) / (job.gpus * peak) / units.SECONDS_PER_HOUR


def scaling(
    p: Params, setup: tm.Setup, gpu_id: str, node_link: str | None = None
) -> dict[int, float]:
    """Scaling efficiency (compute / step time) at each GPU count of :data:`SCALING_GPUS` with the
    setup's other choices (memory not checked)."""
    mfu, k = tc.mfu(p, gpu_id), tc.dequant_factor(p)
    out = {}
    for n in SCALING_GPUS:
        job = ts.job_of(replace(setup, gpus=n), gpu_id, node_link)
        out[n] = ts.step(p, job, mfu, dequant_factor=k)["scaling_efficiency"]
    return out


def smallest_fit(setup: tm.Setup, gpu_id: str) -> tm.Setup | None:
    """The setup on the fewest ``gpu_id`` GPUs that hold it: one GPU without sharding if it fits
    there, else ZeRO stage 3 on the fewest GPUs (powers of two, :func:`tm.gpus_needed`); activation
    recomputation only where it is needed to fit (:func:`tm.auto_recompute`). None if no count fits."""
    one = tm.auto_recompute(replace(setup, gpus=1, zero=0), gpu_id)
    if tm.fits(one, gpu_id):
        return one
    n = tm.gpus_needed(replace(setup, zero=3, recompute="full"), gpu_id)
    if n is None:
        return None
    return tm.auto_recompute(replace(setup, zero=3, gpus=n), gpu_id)


def placed_run(p: Params, setup: tm.Setup, gpu_id: str, tokens: float) -> dict | None:
    """The job on the fewest ``gpu_id`` GPUs that hold it (:func:`smallest_fit`): ``gpus``, ``setup``
    and the speed, time and cost of :func:`speed_time_cost`; None when no GPU count holds it. The
    training section's tables, the decision guide's training rules and the training claims all
    place jobs this way (``gpucompare train`` with ``--gpus`` and ``--zero`` of the placement gives
    the same numbers)."""
    placed = smallest_fit(setup, gpu_id)
    if placed is None:
        return None
    return {"gpus": placed.gpus, "setup": placed, **speed_time_cost(p, placed, gpu_id, tokens)}


def speed_time_cost(
    p: Params, setup: tm.Setup, gpu_id: str, tokens: float, node_link: str | None = None
) -> dict:
    """Speed (:func:`ts.step` at the calibrated MFU of the GPU's class and the calibrated QLoRA
    dequantisation factor), then :func:`time_and_cost` and :func:`floor_hours` of ``tokens`` tokens;
    memory is not checked."""
    job = ts.job_of(setup, gpu_id, node_link)
    st = ts.step(p, job, tc.mfu(p, gpu_id), dequant_factor=tc.dequant_factor(p))
    out = {k: st[k] for k in ("tokens_per_s", "mfu", "scaling_efficiency", "step_s", "dequant_s")}
    out["tokens_per_s_per_gpu"] = st["tokens_per_s"] / setup.gpus
    out["communication_s"] = st["communication_s"]
    out["exposed_communication_s"] = st["exposed_s"]
    out.update(time_and_cost(p, gpu_id, setup.gpus, tokens, st["tokens_per_s"]))
    out["floor_hours"] = floor_hours(job, tokens)
    return out


def _gb(x: float) -> float:
    return x / units.BYTES_PER_GB


def memory_report(setup: tm.Setup, gpu_id: str) -> dict:
    """Fit and memory per GPU in GB (1e9 bytes), with its parts, what offload keeps on the host,
    the largest micro-batch and sequence, the GPUs needed, and single changes that would fit."""
    mem = tm.memory_per_gpu(setup)
    fit = tm.fits(setup, gpu_id)
    return {
        "fits": fit,
        "memory_per_gpu_gb": {
            "weights_gb": _gb(mem["weights"]),
            "gradients_gb": _gb(mem["gradients"]),
            "optimizer_gb": _gb(mem["optimizer"]),
            "activations_gb": _gb(mem["activations"]),
            "total_gb": _gb(mem["total"]),
        },
        "model_state_gb_per_gpu": _gb(mem["weights"] + mem["gradients"] + mem["optimizer"]),
        "usable_gb": _gb(tm.usable_bytes(gpu_id)),
        "host_memory_per_gpu_gb": _gb(mem["host"]),
        "trained_parameters": tm.trained_parameters(setup),
        "max_micro_batch": tm.max_micro_batch(setup, gpu_id),
        "max_seq_len": tm.max_seq_len(setup, gpu_id),
        "gpus_needed": tm.gpus_needed(setup, gpu_id),
        "fixes": [] if fit else tm.fixes(setup, gpu_id),
    }


def estimate(
    p: Params, setup: tm.Setup, gpu_id: str, tokens: float, node_link: str | None = None
) -> dict:
    """Memory, speed, time and cost of training ``setup`` on ``gpu_id`` for ``tokens`` tokens (the
    ``gpucompare train --json`` payload). A setup that does not fit gets its memory, ``fixes`` and
    ``None`` for speed, time and cost."""
    setup.check()
    ts.link(p, gpu_id, setup.gpus, node_link)  # an unknown GPU, node size or link exits here
    out = {
        "model": setup.model,
        "gpu": gpu_id,
        "gpus": setup.gpus,
        "method": setup.method,
        "optimizer": setup.optimizer,
        "precision": setup.precision,
        "zero": setup.zero,
        "offload": setup.offload,
        "seq_len": setup.seq_len,
        "micro_batch": setup.micro_batch,
        "grad_accum": setup.grad_accum,
        "recompute": setup.recompute,
        "lora_rank": setup.lora_rank if setup.adapters else None,
        "tokens": tokens,
        **memory_report(setup, gpu_id),
    }
    job = ts.job_of(setup, gpu_id, node_link)
    cal = tc.calibration(p)
    lk = ts.link(p, gpu_id, setup.gpus, node_link)
    held = cal.held_out()[tc.gpu_class(gpu_id)]
    out["calibration"] = {
        "gpu_class": tc.gpu_class(gpu_id),
        "mfu_compute": cal.mfu[tc.gpu_class(gpu_id)],
        "rows": held["rows"],
        "held_out_median_abs_error": held["median_abs_error"],
        "held_out_max_abs_error": held["max_abs_error"],
    }
    if setup.method == "qlora":
        dq = cal.held_out_dequant()
        out["calibration"]["dequant_factor"] = cal.dequant_factor
        out["calibration"]["dequant_pairs"] = dq["pairs"]
        out["calibration"]["dequant_held_out_median_abs_error"] = dq["median_abs_error"]
        out["calibration"]["dequant_held_out_max_abs_error"] = dq["max_abs_error"]
    out["link"] = lk.name if lk else None
    out["flops_per_token"] = ts.model_flops_per_token(job)
    out["peak_tflops"] = ts.peak_tflops(gpu_id, setup.precision)
    speed = ["tokens_per_s", "tokens_per_s_per_gpu", "mfu", "scaling_efficiency", "step_s"]
    speed += ["dequant_s"]
    cost = ["finishes", "hours", "hours_without_rollbacks", "rollback_factor", "gpu_hours"]
    cost += ["floor_hours"]
    cost += ["usd_own", "usd_rent", "usd_per_gpu_hour_own", "usd_per_gpu_hour_rent"]
    if not out["fits"]:
        out.update({k: None for k in (*speed, *cost, "rent_price_source", "scaling")})
        return out
    out.update(speed_time_cost(p, setup, gpu_id, tokens, node_link))
    out["scaling"] = {str(n): e for n, e in scaling(p, setup, gpu_id, node_link).items()}
    return out
