"""The measurements behind the engine calibration (:mod:`gpucompare.model.calibration`): which rows
of ``data/measurements/inference_*.csv`` the model describes and the fit uses, each row as a
:class:`gpucompare.model.work.Case`, and the GPU features the fit's offsets are indexed by (memory
technology, market segment)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gpucompare.data import catalog, engines
from gpucompare.data.measurements import load_exclusions, load_inference
from gpucompare.model import work

if TYPE_CHECKING:
    import pandas as pd

#: Memory technologies (``memory_type`` in data/gpus.yaml starts with one of these).
MEMORY_CLASSES = ("HBM", "GDDR")


def memory_class(gpu_id: str) -> str:
    """HBM or GDDR, from the catalog's ``memory_type``."""
    mtype = str(catalog.get_gpu(gpu_id).spec("memory_type")).upper()
    return next(m for m in MEMORY_CLASSES if mtype.startswith(m))


def segment(gpu_id: str) -> str:
    """The GPU's market segment (data/gpus.yaml ``segment``: datacenter or consumer): the GPU
    feature of the engine offsets. It generalises better to a GPU never measured than the
    architecture does (held-out error 20% against 27%)."""
    return catalog.get_gpu(gpu_id).segment


def cases_of(frame: pd.DataFrame) -> list[work.Case]:
    """A :class:`gpucompare.model.work.Case` per measurement row."""
    return [
        work.Case(
            engine=r.engine,
            model=r.model,
            weights=r.weights,
            kv=r.kv_cache,
            gpu=r.gpu_id,
            batch=int(r.batch),
            input_tokens=int(r.input_tokens),
            output_tokens=int(r.output_tokens),
            metric=r.metric,
            gpus=int(r.gpus),
            split=r.split,
        )
        for r in frame.itertuples()
    ]


def not_modelled_reason(row) -> str | None:
    """Why the model does not describe a measurement row (a mapping of its columns), or None: a
    split other than the engine's own (``data/engines.yaml``; e.g. llama.cpp's old row split), or
    FP8 on a GPU without FP8 tensor cores (vLLM runs those checkpoints as weight-only FP8; the
    report marks FP8 there unsupported)."""
    split = work.SPLIT_OF[row["split"]]
    if split not in ("none", engines.get_engine(row["engine"]).split):
        return f"{row['split']} split: {row['engine']} splits by {engines.get_engine(row['engine']).split} by default"
    return work.unsupported_reason(row["gpu_id"], row["weights"])


def modelled(frame: pd.DataFrame) -> pd.Series:
    """Rows the model describes (:func:`not_modelled_reason` is None)."""
    return frame.apply(lambda r: not_modelled_reason(r) is None, axis=1).astype(bool)


def calibration_rows(folder: Path | None = None) -> pd.DataFrame:
    """The measurements the calibration uses: modelled and not excluded (``excluded.yaml``)."""
    frame = load_inference(folder)
    keep = modelled(frame) & ~frame["id"].isin(list(load_exclusions(folder, tuple(frame["id"]))))
    return frame[keep].reset_index(drop=True)
