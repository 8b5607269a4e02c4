"""Model FLOPs utilisation (MFU) of training, calibrated per GPU class on the public measurements of
``data/measurements/training.csv``, and its held-out error.

For each measurement (GPU g, N GPUs, measured tokens/s R of all GPUs) the step time is
t = tokens per GPU per step x N / R. The communication model of
:mod:`gpucompare.model.training_speed` gives the communication C of that step (its link, ZeRO stage,
offload) and t = compute + max(0, C - overlap x window(compute)) + upload, solved for the compute
time; the row's compute MFU is its model FLOPs per step / (compute x peak). Rows whose communication
alone exceeds the measured step, or leaves an MFU above 1, are not fitted (the model cannot describe
them; none at the default parameters).

Fit: per class (``datacenter``, ``consumer``; :func:`gpucompare.model.training.gpu_class`) the
weighted geometric mean of the rows' compute MFU, each row weighted 1 / sqrt(rows of its source
document) so that one long table does not outvote the others (the engine calibration's rule).
That minimises the weighted squared error of ln(predicted / measured) tokens/s.

Held-out error: leave one out (each row removed, its class refitted, the row predicted) and leave
one source out (a whole document removed); |error| = |predicted / measured - 1|.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gpucompare.core import units
from gpucompare.data import catalog
from gpucompare.data.training import load_training
from gpucompare.model import training_memory as tm
from gpucompare.model import training_speed as ts
from gpucompare.params import Params

#: GPU classes MFU is calibrated for.
CLASSES = ("datacenter", "consumer")


def gpu_class(gpu_id: str) -> str:
    """The calibration class of a GPU: ``consumer`` for consumer cards, else ``datacenter``."""
    return "consumer" if catalog.get_gpu(gpu_id, "gpu").segment == "consumer" else "datacenter"


def job_of_row(row) -> ts.Job:
    """The :class:`~gpucompare.model.training_speed.Job` of a measurement row (bf16). Frozen weights:
    16-bit for LoRA, :data:`~gpucompare.model.training_memory.NF4_BITS` for QLoRA (embeddings
    included: the rows do not give the vocabulary)."""
    frozen = 0.0
    if row["method"] == "lora":
        frozen = row["parameters"] * 2.0
    elif row["method"] == "qlora":
        frozen = row["parameters"] * tm.NF4_BITS / units.BITS_PER_BYTE
    trained = row["trainable_parameters"] if row["method"] != "full" else row["parameters"]
    return ts.Job(
        gpu=row["gpu_id"],
        gpus=int(row["gpus"]),
        method=row["method"],
        parameters=int(row["parameters"]),
        num_layers=int(row["num_layers"]),
        hidden_size=int(row["hidden_size"]),
        trained=int(trained),
        frozen_weight_bytes=frozen,
        seq_len=int(row["seq_len"]),
        micro_batch=int(row["micro_batch"]),
        recompute=row["recompute"],
        zero=int(row["zero_stage"]),
        offload=bool(row["offload"]),
        node_link=row["node_link"] or None,
    )


def implied_mfu(p: Params, job: ts.Job, tokens_per_s: float, overlap: float) -> float:
    """The compute MFU that reproduces a measured ``tokens_per_s`` (all GPUs) with the communication
    model; NaN when the modelled communication alone is slower than the measurement, or leaves the
    compute less time than the peak allows (an MFU above 1: e.g. all-reduce latencies far above
    the defaults)."""
    measured_step = job.tokens_per_gpu_step * job.gpus / tokens_per_s
    comm = ts.communication_s(p, job)
    budget = measured_step - comm["exposed_always"]
    window_share = 1.0 if job.zero >= 3 else ts.backward_share(job)
    compute = budget  # communication hidden entirely
    if comm["overlappable"] > overlap * window_share * compute:
        compute = (budget - comm["overlappable"]) / (1 - overlap * window_share)
        if compute <= 0 or comm["overlappable"] <= overlap * window_share * compute:
            return math.nan
    flops = ts.model_flops_per_token(job) * job.tokens_per_gpu_step
    mfu = flops / (compute * ts.peak_tflops(job.gpu, job.precision) * units.FLOPS_PER_TFLOPS)
    return mfu if mfu <= 1 else math.nan  # above the peak: the model cannot describe the row


def _fit(frame: pd.DataFrame) -> dict[str, float]:
    """Per class: the weighted geometric mean of the rows' compute MFU (NaN rows left out)."""
    out = {}
    for cls in CLASSES:
        rows = frame[(frame["gpu_class"] == cls) & frame["compute_mfu"].notna()]
        if rows.empty:
            out[cls] = math.nan
            continue
        w = rows["weight"].to_numpy()
        out[cls] = float(np.exp(np.sum(w * np.log(rows["compute_mfu"].to_numpy())) / np.sum(w)))
    return out


def _predict(p: Params, job: ts.Job, mfu: float, overlap: float) -> float:
    return ts.step(p, job, mfu, overlap)["tokens_per_s"] if math.isfinite(mfu) else math.nan


@dataclass(frozen=True)
class Calibration:
    """The fitted compute MFU per class, the rows with their fitted and held-out predictions, and
    the overlap share used."""

    mfu: dict[str, float]
    rows: pd.DataFrame
    overlap: float

    def held_out(self, column: str = "loo_error") -> dict[str, dict[str, float]]:
        """Median and largest |error| and row counts, per class and ``all``."""
        out = {}
        for cls in (*CLASSES, "all"):
            rows = self.rows if cls == "all" else self.rows[self.rows["gpu_class"] == cls]
            err = rows[column].abs().dropna()
            out[cls] = {
                "rows": len(err),
                "median_abs_error": float(err.median()) if len(err) else math.nan,
                "max_abs_error": float(err.max()) if len(err) else math.nan,
            }
        return out


def calibrate(
    p: Params, folder: Path | None = None, overlap: float = ts.DEFAULT_OVERLAP
) -> Calibration:
    """Fit the compute MFU per class on ``training.csv`` (see the module docstring) and predict each
    row in-sample, leaving it out, and leaving its source out."""
    frame = load_training(folder).copy()
    jobs = [job_of_row(r) for _, r in frame.iterrows()]
    frame["gpu_class"] = [gpu_class(g) for g in frame["gpu_id"]]
    frame["compute_mfu"] = [
        implied_mfu(p, j, t, overlap)
        for j, t in zip(jobs, frame["measured_tokens_per_s"], strict=True)
    ]
    per_source = frame.groupby("source")["id"].transform("count")
    frame["weight"] = 1 / np.sqrt(per_source)
    fitted = _fit(frame)
    pred, loo, loso = [], [], []
    for i, job in enumerate(jobs):
        cls = frame.at[i, "gpu_class"]
        pred.append(_predict(p, job, fitted[cls], overlap))
        loo.append(_predict(p, job, _fit(frame.drop(index=i))[cls], overlap))
        others = frame[frame["source"] != frame.at[i, "source"]]
        loso.append(_predict(p, job, _fit(others)[cls], overlap))
    measured = frame["measured_tokens_per_s"].to_numpy()
    frame["predicted_tokens_per_s"] = pred
    frame["fit_error"] = np.asarray(pred) / measured - 1
    frame["loo_tokens_per_s"] = loo
    frame["loo_error"] = np.asarray(loo) / measured - 1
    frame["loso_tokens_per_s"] = loso
    frame["loso_error"] = np.asarray(loso) / measured - 1
    return Calibration(fitted, frame, overlap)


#: Calibrations already computed, by the all-reduce latency parameters (the only ones they read).
_CACHE: dict[tuple[float, float], Calibration] = {}


def calibration(p: Params) -> Calibration:
    """:func:`calibrate` with the committed measurements, computed once per process and per value
    of the all-reduce latency parameters (the only parameters it reads)."""
    key = (p.allreduce_latency_us, p.allreduce_base_latency_us)
    if key not in _CACHE:
        _CACHE[key] = calibrate(p)
    return _CACHE[key]


def mfu(p: Params, gpu_id: str) -> float:
    """The calibrated compute MFU of ``gpu_id``'s class."""
    return calibration(p).mfu[gpu_class(gpu_id)]
