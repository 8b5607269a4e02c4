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

QLoRA dequantisation factor k (:func:`gpucompare.model.training_speed.dequant_s`): each QLoRA row
with a LoRA twin (:func:`qlora_pairs`: same source, framework, GPUs, model, sequence, micro-batch,
recomputation, ZeRO stage) measures the seconds its 4-bit weights add to a step,
t_QLoRA - t_LoRA (t = tokens per GPU per step x N / measured tokens/s), and k_pair = that / the
traffic floor of :func:`~gpucompare.model.training_speed.dequant_s`. k = the weighted geometric mean
of k_pair (the same 1 / sqrt(rows of the source) weights; a pair whose QLoRA run is not slower
counts as :data:`MIN_PAIR_FACTOR`), or :data:`DEFAULT_DEQUANT_FACTOR` (the floor itself) without
any pair. A QLoRA row's compute MFU is fitted after its dequantisation (at the k of the same fit) is
taken out of its step. The published pairs (RTX 4090, torchtune: 22% slower than LoRA; RTX 5090,
H100, H200, Unsloth: 2-8%) give k from 0.7 to 6.1: Unsloth's fused kernels come near the floor,
torchtune's torchao NF4 does not.

One MFU for the datacenter class predicts most A100 rows 22-37% too slow and most H100 rows too
fast (the A100 runs reach a higher MFU). A slope in ln(datasheet FLOPs per byte of memory
bandwidth: A100 153, H100 295) was tried (issue 20). With one intercept per class, leaving each row
out the datacenter median error fell from 22% to 16%, but leaving each source out it rose from 22%
to 23% (all rows 15% to 20%); with one intercept for all GPUs, datacenter 22% to 19% leaving each
source out, but consumer 9% to 14% (all rows 15% to 18%). The slope is learnt within one document
(llm-foundry's A100 and H100 tables) and does not carry to other sources: not adopted.

Held-out error: leave one out (each row removed, its class and k refitted, the row predicted) and
leave one source out (a whole document removed); |error| = |predicted / measured - 1|. For k alone,
each pair is left out and its QLoRA / LoRA speed ratio predicted from its LoRA twin:
t_LoRA / (t_LoRA + k x floor) (:meth:`Calibration.held_out_dequant`).
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
#: QLoRA dequantisation factor without any QLoRA / LoRA pair: the traffic floor itself.
DEFAULT_DEQUANT_FACTOR = 1.0
#: The factor a pair counts as when its QLoRA run is not slower than its LoRA twin (a geometric
#: mean needs a positive value): one hundredth of the floor, i.e. next to nothing.
MIN_PAIR_FACTOR = 0.01
#: Columns on which a QLoRA row and its LoRA twin agree (:func:`qlora_pairs`).
PAIR_KEYS = (
    "source",
    "framework",
    "gpu_id",
    "gpus",
    "node_link",
    "model_name",
    "parameters",
    "trainable_parameters",
    "seq_len",
    "micro_batch",
    "recompute",
    "zero_stage",
    "offload",
)


def gpu_class(gpu_id: str) -> str:
    """The calibration class of a GPU: ``consumer`` for consumer cards, else ``datacenter``."""
    return "consumer" if catalog.get_gpu(gpu_id, "gpu").segment == "consumer" else "datacenter"


def job_of_row(row) -> ts.Job:
    """The :class:`~gpucompare.model.training_speed.Job` of a measurement row (bf16). Frozen weights:
    16-bit for LoRA, :data:`~gpucompare.model.training_memory.NF4_BITS` for QLoRA, and every
    parameter counted as quantised (embeddings included: the rows do not give the vocabulary)."""
    frozen, quantized = 0.0, 0
    if row["method"] == "lora":
        frozen = row["parameters"] * 2.0
    elif row["method"] == "qlora":
        frozen = row["parameters"] * tm.NF4_BITS / units.BITS_PER_BYTE
        quantized = int(row["parameters"])
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
        quantized_parameters=quantized,
    )


def implied_mfu(
    p: Params, job: ts.Job, tokens_per_s: float, overlap: float, dequant_factor: float = 0.0
) -> float:
    """The compute MFU that reproduces a measured ``tokens_per_s`` (all GPUs) with the communication
    model, after QLoRA's dequantisation at ``dequant_factor`` is taken out of the compute time; NaN
    when the modelled communication (or dequantisation) alone is slower than the measurement, or
    leaves the compute less time than the peak allows (an MFU above 1: e.g. all-reduce latencies
    far above the defaults)."""
    measured_step = job.tokens_per_gpu_step * job.gpus / tokens_per_s
    comm = ts.communication_s(p, job)
    budget = measured_step - comm["exposed_always"]
    window_share = 1.0 if job.zero >= 3 else ts.backward_share(job)
    compute = budget  # communication hidden entirely
    if comm["overlappable"] > overlap * window_share * compute:
        compute = (budget - comm["overlappable"]) / (1 - overlap * window_share)
        if compute <= 0 or comm["overlappable"] <= overlap * window_share * compute:
            return math.nan
    matmul = compute - ts.dequant_s(job, dequant_factor)
    if matmul <= 0:
        return math.nan
    flops = ts.model_flops_per_token(job) * job.tokens_per_gpu_step
    mfu = flops / (matmul * ts.peak_tflops(job.gpu, job.precision) * units.FLOPS_PER_TFLOPS)
    return mfu if mfu <= 1 else math.nan  # above the peak: the model cannot describe the row


def qlora_pairs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """(QLoRA row, its LoRA twin) index pairs: rows equal on :data:`PAIR_KEYS`, one of each method
    (a QLoRA row with no twin, or several, forms no pair)."""
    keys = list(PAIR_KEYS)
    out = []
    for _, group in frame.groupby(keys, dropna=False, sort=False):
        q, lo = (group.index[group["method"] == m] for m in ("qlora", "lora"))
        if len(q) == 1 and len(lo) == 1:
            out.append((int(q[0]), int(lo[0])))
    return sorted(out)


@dataclass(frozen=True)
class _Rows:
    """What the fits read of the rows, as arrays (a fit runs 73 times: pandas lookups cost more
    than the arithmetic): class, weight, measured step (s) and dequantisation floor (s) per row."""

    gpu_class: np.ndarray
    weight: np.ndarray
    step_s: np.ndarray
    floor_s: np.ndarray
    pairs: tuple[tuple[int, int], ...]

    def pair_factor(self, q: int, lo: int) -> float:
        """k of one pair: (t_QLoRA - t_LoRA) / the QLoRA row's dequantisation floor (s / s), at
        least :data:`MIN_PAIR_FACTOR`."""
        return max((self.step_s[q] - self.step_s[lo]) / self.floor_s[q], MIN_PAIR_FACTOR)

    def dequant_factor(self, keep: np.ndarray) -> float:
        """The weighted geometric mean of the factors of the pairs whose two rows ``keep`` holds
        (weights of the QLoRA rows); :data:`DEFAULT_DEQUANT_FACTOR` if none."""
        present = [(q, lo) for q, lo in self.pairs if keep[q] and keep[lo]]
        if not present:
            return DEFAULT_DEQUANT_FACTOR
        k = np.array([self.pair_factor(q, lo) for q, lo in present])
        w = self.weight[[q for q, _ in present]]
        return float(np.exp(np.sum(w * np.log(k)) / np.sum(w)))

    def fit(self, keep: np.ndarray, implied) -> tuple[dict[str, float], float]:
        """The dequantisation factor k of the kept rows' pairs, then per class the weighted geometric
        mean of the kept rows' compute MFU at that k (``implied(row, k)``; NaN rows left out)."""
        k = self.dequant_factor(keep)
        mfu = np.array([implied(i, k) if keep[i] else math.nan for i in range(len(keep))])
        out = {}
        for cls in CLASSES:
            use = keep & (self.gpu_class == cls) & np.isfinite(mfu)
            if not use.any():
                out[cls] = math.nan
                continue
            w = self.weight[use]
            out[cls] = float(np.exp(np.sum(w * np.log(mfu[use])) / np.sum(w)))
        return out, k


def _predict(p: Params, job: ts.Job, mfu: float, k: float, overlap: float) -> float:
    if not math.isfinite(mfu):
        return math.nan
    return ts.step(p, job, mfu, dequant_factor=k, overlap=overlap)["tokens_per_s"]


@dataclass(frozen=True)
class Calibration:
    """The fitted compute MFU per class and QLoRA dequantisation factor, the rows with their fitted
    and held-out predictions, the QLoRA / LoRA pairs with their held-out speed ratios, and the
    overlap share used."""

    mfu: dict[str, float]
    rows: pd.DataFrame
    overlap: float
    dequant_factor: float
    pairs: pd.DataFrame

    def held_out_dequant(self) -> dict[str, float]:
        """Pairs, and the median and largest |error| of their QLoRA / LoRA speed ratio with each
        pair left out of k."""
        err = self.pairs["ratio_error_held_out"].abs().dropna()
        return {
            "pairs": len(err),
            "median_abs_error": float(err.median()) if len(err) else math.nan,
            "max_abs_error": float(err.max()) if len(err) else math.nan,
        }

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
    """Fit the compute MFU per class and the QLoRA dequantisation factor on ``training.csv`` (see
    the module docstring) and predict each row in-sample, leaving it out, and leaving its source
    out; each QLoRA / LoRA pair's speed ratio with the pair left out of the factor."""
    frame = load_training(folder).reset_index(drop=True)
    jobs = [job_of_row(r) for _, r in frame.iterrows()]
    measured = frame["measured_tokens_per_s"].to_numpy(dtype=float)
    frame["gpu_class"] = [gpu_class(g) for g in frame["gpu_id"]]
    frame["measured_step_s"] = [
        j.tokens_per_gpu_step * j.gpus / t for j, t in zip(jobs, measured, strict=True)
    ]
    frame["dequant_floor_s"] = [ts.dequant_s(j, 1.0) for j in jobs]
    per_source = frame.groupby("source")["id"].transform("count")
    frame["weight"] = 1 / np.sqrt(per_source)
    rows = _Rows(
        frame["gpu_class"].to_numpy(),
        frame["weight"].to_numpy(dtype=float),
        frame["measured_step_s"].to_numpy(dtype=float),
        frame["dequant_floor_s"].to_numpy(dtype=float),
        tuple(qlora_pairs(frame)),
    )
    cache: dict[tuple[int, float], float] = {}

    def implied(i: int, k: float) -> float:
        key = (i, k if rows.floor_s[i] > 0 else 0.0)  # k changes only QLoRA rows
        if key not in cache:
            cache[key] = implied_mfu(p, jobs[i], measured[i], overlap, key[1])
        return cache[key]

    every = np.ones(len(frame), dtype=bool)
    sources = frame["source"].to_numpy()
    fitted, k = rows.fit(every, implied)
    frame["compute_mfu"] = [implied(i, k) for i in range(len(frame))]
    pred, loo, loso = [], [], []
    for i, job in enumerate(jobs):
        cls = rows.gpu_class[i]
        pred.append(_predict(p, job, fitted[cls], k, overlap))
        mfu_loo, k_loo = rows.fit(every & (np.arange(len(frame)) != i), implied)
        loo.append(_predict(p, job, mfu_loo[cls], k_loo, overlap))
        mfu_loso, k_loso = rows.fit(sources != sources[i], implied)
        loso.append(_predict(p, job, mfu_loso[cls], k_loso, overlap))
    frame["predicted_tokens_per_s"] = pred
    frame["fit_error"] = np.asarray(pred) / measured - 1
    frame["loo_tokens_per_s"] = loo
    frame["loo_error"] = np.asarray(loo) / measured - 1
    frame["loso_tokens_per_s"] = loso
    frame["loso_error"] = np.asarray(loso) / measured - 1
    return Calibration(fitted, frame, overlap, k, _pair_frame(frame, rows))


def _pair_frame(frame: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    """Per pair: ids, GPU, source, measured QLoRA / LoRA speed ratio, the pair's own factor, the
    factor of the other pairs and the ratio it predicts from the LoRA twin (t_LoRA / (t_LoRA + k x
    floor)), and that ratio's error."""
    out = []
    for q, lo in rows.pairs:
        k_out = rows.dequant_factor(np.arange(len(frame)) != q)
        t_lora = rows.step_s[lo]
        predicted = t_lora / (t_lora + k_out * rows.floor_s[q])
        ratio = frame.at[q, "measured_tokens_per_s"] / frame.at[lo, "measured_tokens_per_s"]
        out.append(
            {
                "qlora_id": frame.at[q, "id"],
                "lora_id": frame.at[lo, "id"],
                "gpu_id": frame.at[q, "gpu_id"],
                "source": frame.at[q, "source"],
                "measured_ratio": ratio,
                "pair_factor": rows.pair_factor(q, lo),
                "factor_held_out": k_out,
                "predicted_ratio_held_out": predicted,
                "ratio_error_held_out": predicted / ratio - 1,
            }
        )
    columns = ["qlora_id", "lora_id", "gpu_id", "source", "measured_ratio", "pair_factor"]
    columns += ["factor_held_out", "predicted_ratio_held_out", "ratio_error_held_out"]
    return pd.DataFrame(out, columns=columns)


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


def dequant_factor(p: Params) -> float:
    """The calibrated QLoRA dequantisation factor (multiple of the traffic floor, dimensionless)."""
    return calibration(p).dequant_factor
