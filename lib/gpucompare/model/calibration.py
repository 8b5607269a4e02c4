"""Engine calibration: the achieved bandwidth and compute fractions and per-step overheads of each
inference engine, fitted on the public measurements in ``data/measurements/inference_*.csv``, and
their held-out error.

Parameters of engine e on GPU g (:class:`gpucompare.model.work.Rates`):

* eta_bw = logistic(a + a_e + a_m + a_es + a_g + a_eg): achieved share of the datasheet bandwidth
  (0-1), with a_m the GPU's memory technology (HBM or GDDR), a_es the engine on the GPU's
  market segment (datacenter or consumer), a_g the GPU and a_eg the engine on the GPU;
* eta_c = exp(c + c_e + c_es + c_g + c_eg): achieved share of the sustained tensor ceiling
  (:func:`gpucompare.model.work.compute_ceiling_tflops`) in the matrix multiplies, with c_es the
  engine on the GPU's segment and c_eg the engine on the GPU; eta_attn = exp(t + t_e) the same
  for attention;
* overhead per step = exp(o + o_e) ms + exp(l + l_e) us x layers (launches, scheduling, sampling);
* communication of a multi-GPU split = exp(k + k_e) x the interconnect model's time;
* in a prefill the matmul share is multiplied by exp(p + p_e), for a mixture of experts by exp(m)
  (one factor for all engines: grouped expert GEMMs over few tokens each).

Fit: nonlinear least squares (``scipy.optimize.least_squares``, trust-region reflective, fixed
start, so deterministic) of r_i = ln(predicted_i / measured_i) over all measurements, each weighted
1 / sqrt(rows from the same source document) so that one long table does not outvote the others
and passed through a soft-L1 loss (:func:`robust`: a row far off weighs linearly, not
quadratically), plus ridge terms offset / ``PRIOR_SD`` that pull every offset towards 0 (partial
pooling). A pair never measured therefore gets the engine's typical values (its offsets) with the
GPU's memory technology and GPU offset, fitted on the other engines; an engine never measured gets
every engine's typical values (offsets 0). :func:`parameters` says which case applies.

Held-out error (:func:`cross_validate`): leave one GPU out (all its rows removed, the fit redone,
its rows predicted) and leave one source document out; |error| = |predicted / measured - 1|.

The rows fitted (which measurements the model describes) are chosen in
:mod:`gpucompare.model.calibration_data`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gpucompare import params
from gpucompare.data import catalog, engines
from gpucompare.model import fitcache, work
from gpucompare.model.calibration_data import (
    MEMORY_CLASSES,
    calibration_rows,
    cases_of,
    memory_class,
    segment,
)
from gpucompare.params import Params

if TYPE_CHECKING:
    import pandas as pd

#: Prior standard deviations of the offsets (natural-log or logit units): engines differ a lot,
#: GPUs of one memory technology little.
PRIOR_SD = {
    "global": 3.0,
    "engine": 1.0,
    "memory": 1.0,
    "gpu": 0.5,
    "engine_segment": 1.0,
    "engine_gpu": 1.0,
    "engine_overhead": 1.5,
}
#: Starting point of the global terms: eta_bw 0.8, eta_c 0.5, 1 ms fixed, 20 us per layer, the
#: interconnect model's communication time, eta_attn 0.3, no prefill or mixture-of-experts factor.
START = {
    "a": math.log(0.8 / 0.2),
    "c": math.log(0.5),
    "o": math.log(1.0),
    "l": math.log(20.0),
    "k": 0.0,
    "t": math.log(0.3),
    "p": 0.0,
    "m": 0.0,
}
#: Residual (log units) beyond which the robust loss grows linearly, not quadratically: a row more
#: than ~20% off weighs less, so a few inconsistent rows cannot drag a whole engine's fit.
ROBUST_SCALE = 0.2
#: Step of the forward differences in the Jacobian (logit/log units).
FD_STEP = 1e-6
#: Error targets printed by ``make bench`` (held-out |error|), and the limit a test enforces.
TARGET_MEDIAN, TARGET_WORST, TEST_MEDIAN_LIMIT = 0.15, 0.40, 0.25


#: Offset groups: (what the offset moves, what it is indexed by, prior standard deviation).
GROUPS = {
    "a_e": ("eta_bw", "engine", PRIOR_SD["engine"]),
    "a_m": ("eta_bw", "memory", PRIOR_SD["memory"]),
    "a_es": ("eta_bw", "engine_segment", PRIOR_SD["engine_segment"]),
    "a_g": ("eta_bw", "gpu", PRIOR_SD["gpu"]),
    "c_e": ("eta_c", "engine", PRIOR_SD["engine"]),
    "c_es": ("eta_c", "engine_segment", PRIOR_SD["engine_segment"]),
    "c_g": ("eta_c", "gpu", PRIOR_SD["gpu"]),
    "a_eg": ("eta_bw", "engine_gpu", PRIOR_SD["engine_gpu"]),
    "c_eg": ("eta_c", "engine_gpu", PRIOR_SD["engine_gpu"]),
    "o_e": ("overhead_fixed", "engine", PRIOR_SD["engine_overhead"]),
    "l_e": ("overhead_layer", "engine", PRIOR_SD["engine_overhead"]),
    "k_e": ("comm", "engine", PRIOR_SD["engine"]),
    "t_e": ("eta_attn", "engine", PRIOR_SD["engine"]),
    "p_e": ("prefill", "engine", PRIOR_SD["engine"]),
}
#: The global term each quantity starts from.
GLOBAL = {
    "eta_bw": 0,
    "eta_c": 1,
    "overhead_fixed": 2,
    "overhead_layer": 3,
    "comm": 4,
    "eta_attn": 5,
    "prefill": 6,
    "moe": 7,
}


@dataclass(frozen=True)
class Layout:
    """Where each group of offsets sits in the parameter vector, and how rows index them. Only the
    engines, GPUs and pairs that have measurements get an offset; the others read 0 (fallback)."""

    keys: dict  # index name -> tuple of the keys that have an offset

    @classmethod
    def from_rows(cls, engine_ids, gpu_ids) -> Layout:
        def uniq(items):
            return tuple(sorted(set(items)))

        return cls(
            {
                "engine": uniq(engine_ids),
                "gpu": uniq(gpu_ids),
                "memory": MEMORY_CLASSES,
                "engine_segment": uniq(zip(engine_ids, map(segment, gpu_ids), strict=True)),
                "engine_gpu": uniq(zip(engine_ids, gpu_ids, strict=True)),
            }
        )

    def size(self, index: str) -> int:
        return len(self.keys[index])

    def slices(self) -> dict[str, slice]:
        out, at = {"glob": slice(0, len(GLOBAL))}, len(GLOBAL)
        for name, (_, index, _) in GROUPS.items():
            out[name] = slice(at, at + self.size(index))
            at += self.size(index)
        return out

    @property
    def n(self) -> int:
        return self.slices()[list(GROUPS)[-1]].stop

    def start(self) -> np.ndarray:
        x = np.zeros(self.n)
        x[: len(GLOBAL)] = [START[k] for k in "acolktpm"]
        return x

    def indices(self, engine_ids, gpu_ids) -> dict[str, np.ndarray]:
        """Per row, the position in each index (-1: no offset, reads 0)."""
        engine_ids, gpu_ids = list(engine_ids), list(gpu_ids)
        keys = {
            "engine": engine_ids,
            "gpu": gpu_ids,
            "memory": [memory_class(g) for g in gpu_ids],
            "engine_segment": list(zip(engine_ids, map(segment, gpu_ids), strict=True)),
            "engine_gpu": list(zip(engine_ids, gpu_ids, strict=True)),
        }
        out = {}
        for index, row_keys in keys.items():
            pos = {k: i for i, k in enumerate(self.keys[index])}
            out[index] = np.array([pos.get(k, -1) for k in row_keys], dtype=int)
        return out

    def totals(self, x: np.ndarray, idx: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per row, each quantity's sum of global term and offsets (logit or log scale)."""
        s = self.slices()
        total = {q: np.full(len(idx["gpu"]), x[i]) for q, i in GLOBAL.items()}
        for name, (quantity, index, _) in GROUPS.items():
            vec = np.append(x[s[name]], 0.0)  # position -1 reads the appended 0
            total[quantity] = total[quantity] + vec[idx[index]]
        return total

    @staticmethod
    def rates_of(total: dict[str, np.ndarray]) -> work.Rates:
        """Rates from the summed terms: logistic for the bandwidth share, exp for the others."""
        return work.Rates(
            eta_bw=1 / (1 + np.exp(-total["eta_bw"])),
            eta_c=np.exp(total["eta_c"]),
            overhead_fixed_ms=np.exp(total["overhead_fixed"]),
            overhead_per_layer_us=np.exp(total["overhead_layer"]),
            comm_scale=np.exp(total["comm"]),
            eta_attn=np.exp(total["eta_attn"]),
            prefill_scale=np.exp(total["prefill"]),
            moe_scale=np.exp(total["moe"]),
        )

    def rates(self, x: np.ndarray, idx: dict[str, np.ndarray]) -> work.Rates:
        """Rates for rows indexed by ``idx`` (:meth:`indices`)."""
        return self.rates_of(self.totals(x, idx))

    def membership(self, idx: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """For each quantity, a rows x parameters 0/1 matrix: which parameters its total adds up."""
        s = self.slices()
        rows = np.arange(len(idx["gpu"]))
        out = {q: np.zeros((len(rows), self.n)) for q in GLOBAL}
        for q, i in GLOBAL.items():
            out[q][:, i] = 1.0
        for name, (quantity, index, _) in GROUPS.items():
            ok = idx[index] >= 0
            out[quantity][rows[ok], s[name].start + idx[index][ok]] = 1.0
        return out

    def carry(self, x: np.ndarray, other: Layout) -> np.ndarray:
        """``x`` (laid out as ``other``) in this layout: shared keys keep their values, new ones 0."""
        out, mine, theirs = self.start(), self.slices(), other.slices()
        out[mine["glob"]] = x[theirs["glob"]]
        for name, (_, index, _) in GROUPS.items():
            pos = {k: i for i, k in enumerate(other.keys[index])}
            for i, k in enumerate(self.keys[index]):
                if k in pos:
                    out[mine[name].start + i] = x[theirs[name].start + pos[k]]
        return out

    def prior_residuals(self, x: np.ndarray) -> np.ndarray:
        s = self.slices()
        glob = (x[s["glob"]] - self.start()[s["glob"]]) / PRIOR_SD["global"]
        return np.concatenate([glob, *(x[s[k]] / sd for k, (_, _, sd) in GROUPS.items())])


#: The columns of the fitted rows a :class:`Fit` keeps.
FIT_COLUMNS = ["engine", "gpu_id", "url"]


@dataclass(frozen=True)
class Fit:
    """A fitted calibration: the parameter vector, its layout and the rows it was fitted on."""

    x: np.ndarray
    layout: Layout
    table: fitcache.Table  # :data:`FIT_COLUMNS` of the fitted rows
    # (engine, GPU) -> rates: a plan asks for the same few pairs hundreds of times (~85 us each).
    _pairs: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def rows(self) -> pd.DataFrame:
        """The fitted rows' :data:`FIT_COLUMNS` as a DataFrame (built when first asked for)."""
        return self.table.frame()

    def rates(self, engine_ids, gpu_ids) -> work.Rates:
        return self.layout.rates(self.x, self.layout.indices(list(engine_ids), list(gpu_ids)))

    def pair_rates(self, engine_id: str, gpu_id: str) -> work.Rates:
        """``rates([engine_id], [gpu_id])``, computed once per fit; its arrays are shared, so they
        are read-only."""
        key = (engine_id, gpu_id)
        if key not in self._pairs:
            r = self.rates([engine_id], [gpu_id])
            for v in vars(r).values():
                v.setflags(write=False)
            self._pairs[key] = r
        return self._pairs[key]


def _prepared(p: Params, frame: pd.DataFrame, works: dict | None = None) -> tuple[dict, dict]:
    """The rows' work and the columns the prediction reads; ``works`` memoises work per case for
    ``p`` across one cross-validation (its ~50 refits: ~10 s of its ~20 s before)."""
    works = {} if works is None else works
    w = work.stack([works.get(c) or works.setdefault(c, work.work(p, c)) for c in cases_of(frame)])
    cols = {
        "batch": frame["batch"].to_numpy(float),
        "input_tokens": frame["input_tokens"].to_numpy(float),
        "output_tokens": frame["output_tokens"].to_numpy(float),
        "metric": frame["metric"].to_numpy(str),
    }
    return w, cols


def source_weights(frame: pd.DataFrame) -> np.ndarray:
    """1 / sqrt(rows sharing the row's source document)."""
    counts = frame.groupby("url")["url"].transform("count").to_numpy(float)
    return 1 / np.sqrt(counts)


def robust(r: np.ndarray) -> np.ndarray:
    """Data residuals under the soft-L1 loss, as residuals: r' = sign(r) f sqrt(2 (sqrt(1 + (r/f)^2)
    - 1)), f = ``ROBUST_SCALE``; r'^2 is quadratic below f and linear above. Applied to the data
    only, so the priors stay ridge (quadratic) terms."""
    z = (r / ROBUST_SCALE) ** 2
    return np.sign(r) * ROBUST_SCALE * np.sqrt(2 * (np.sqrt(1 + z) - 1))


def fit_frame(
    p: Params, frame: pd.DataFrame, warm: Fit | None = None, works: dict | None = None
) -> Fit:
    """Fit the calibration on the measurement rows ``frame`` (module docstring), starting from
    :meth:`Layout.start` or from ``warm`` (fewer iterations; same optimum); ``works``: _prepared."""
    layout = Layout.from_rows(list(frame["engine"]), list(frame["gpu_id"]))
    w, cols = _prepared(p, frame, works)
    measured = np.log(frame["measured_tokens_per_s"].to_numpy(float))
    weight = source_weights(frame)
    idx = layout.indices(list(frame["engine"]), list(frame["gpu_id"]))

    prior_diag = np.concatenate(
        [np.full(len(GLOBAL), 1 / PRIOR_SD["global"])]
        + [np.full(layout.size(index), 1 / sd) for _, index, sd in GROUPS.values()]
    )
    member = layout.membership(idx)

    def data_residuals(total):
        raw = weight * (np.log(work.predict(w, cols, layout.rates_of(total))) - measured)
        return robust(raw)

    def residuals(x):
        return np.concatenate([data_residuals(layout.totals(x, idx)), layout.prior_residuals(x)])

    def jacobian(x):
        # Each row depends on its four summed terms only: differentiate with respect to those
        # (forward differences) and spread to the parameters each sum adds (chain rule, slope 1).
        total = layout.totals(x, idx)
        base = data_residuals(total)
        jac = np.zeros((len(base) + layout.n, layout.n))
        for q in GLOBAL:
            bumped = dict(total, **{q: total[q] + FD_STEP})
            jac[: len(base)] += ((data_residuals(bumped) - base) / FD_STEP)[:, None] * member[q]
        jac[len(base) :] = np.diag(prior_diag)
        return jac

    # scipy (0.2-0.5 s to import) only when a fit runs: the fit on all rows is usually read from
    # the disk cache (:func:`fitted`), and the one-line commands never fit.
    from scipy.optimize import least_squares

    start = layout.start() if warm is None else layout.carry(warm.x, warm.layout)
    sol = least_squares(residuals, start, jac=jacobian, method="trf")
    return Fit(sol.x, layout, fitcache.Table(frame=frame).select(FIT_COLUMNS))


#: The kinds of :func:`fitted`'s and :func:`cross_validate`'s entries in the disk cache.
FIT_CACHE, CV_CACHE = "calibration-fit", "calibration-cross-validation"
#: Fits (with all columns of their rows) and cross-validations already computed or read in this
#: process, by data folder.
_FITS: dict[str | None, tuple[Fit, fitcache.Table]] = {}
_CVS: dict[str | None, pd.DataFrame] = {}


def base_params() -> Params:
    """The parameters the calibration is fitted with: ``params/default.yaml``. A scenario's own
    sustained fractions or latencies then move its predictions (a what-if), not the fit."""
    return params.make()


def _fit_and_rows(folder: Path | None) -> tuple[Fit, fitcache.Table]:
    """The calibration fitted on all usable measurements with :func:`base_params` (once per
    process and data folder; across processes through :mod:`gpucompare.model.fitcache`, as the
    fit and its rows cost ~1.5 s against ~20 ms to read) and those rows."""
    key = str(folder) if folder else None
    if key not in _FITS:
        digest = fitcache.key(FIT_CACHE, folder)
        found = fitcache.load(FIT_CACHE, digest)
        if found is None:
            with fitcache.computing(FIT_CACHE, digest):
                found = fitcache.load(FIT_CACHE, digest)  # stored meanwhile by another process?
                if found is None:
                    frame = calibration_rows(folder)
                    fit = fit_frame(base_params(), frame)
                    _FITS[key] = (fit, fitcache.Table(frame=frame))
                    fitcache.save(FIT_CACHE, digest, fit.x, fit.layout.keys, frame)
                    return _FITS[key]
        x, keys, rows = found
        _FITS[key] = (Fit(x, Layout(keys), rows.select(FIT_COLUMNS)), rows)
    return _FITS[key]


def base_fit(folder: Path | None = None) -> Fit:
    """The calibration of :func:`fitted`, without building its rows' DataFrame (nor importing
    pandas, when the fit comes from the disk cache): all a prediction needs."""
    return _fit_and_rows(folder)[0]


def fitted(folder: Path | None = None) -> tuple[Fit, pd.DataFrame]:
    """The calibration fitted on all usable measurements with :func:`base_params` and those rows
    (every column of :func:`calibration_rows`; one DataFrame per process and folder, shared)."""
    fit, rows = _fit_and_rows(folder)
    return fit, rows.frame()


def predictions(p: Params, fit: Fit, frame: pd.DataFrame, works: dict | None = None) -> np.ndarray:
    """Predicted tokens/s of each measurement row under ``fit`` (``works``: :func:`_prepared`)."""
    w, cols = _prepared(p, frame, works)
    return work.predict(w, cols, fit.rates(frame["engine"], frame["gpu_id"]))


@dataclass(frozen=True)
class Provenance:
    """Which measurements stand behind the rates of one (engine, GPU) pair."""

    engine: str
    gpu: str
    rows_engine: int  # measurements of the engine, any GPU
    rows_pair: int  # of the engine on this GPU
    rows_gpu: int  # of this GPU, any engine

    @property
    def label(self) -> str:
        if self.rows_pair:
            return f"fitted on {self.rows_pair} measurements of {self.engine} on {self.gpu}"
        if self.rows_engine:
            return (
                f"fallback: {self.engine}'s values fitted on {self.rows_engine} measurements on other "
                f"GPUs, with {self.gpu}'s memory technology"
                + (
                    f" and {self.rows_gpu} measurements of other engines on it"
                    if self.rows_gpu
                    else ""
                )
            )
        return "fallback: every engine's typical values (this engine has no measurements)"


def provenance(fit: Fit, engine_id: str, gpu_id: str) -> Provenance:
    """How many fitted rows stand behind ``engine_id`` on ``gpu_id``."""
    pairs = list(zip(fit.table.column("engine"), fit.table.column("gpu_id"), strict=True))
    return Provenance(
        engine=engine_id,
        gpu=gpu_id,
        rows_engine=sum(e == engine_id for e, _ in pairs),
        rows_pair=sum(e == engine_id and g == gpu_id for e, g in pairs),
        rows_gpu=sum(g == gpu_id for _, g in pairs),
    )


def parameters(engine_id: str, gpu_id: str) -> dict:
    """The fitted rates of ``engine_id`` on ``gpu_id`` with their provenance (for ``--json``)."""
    engines.get_engine(engine_id)
    catalog.get_gpu(gpu_id, "gpu")
    fit = base_fit()
    r = fit.pair_rates(engine_id, gpu_id)
    prov = provenance(fit, engine_id, gpu_id)
    return {
        "achieved_bandwidth_fraction": float(r.eta_bw[0]),
        "achieved_compute_fraction": float(r.eta_c[0]),
        "overhead_fixed_ms": float(r.overhead_fixed_ms[0]),
        "overhead_per_layer_us": float(r.overhead_per_layer_us[0]),
        "attention_compute_fraction": float(r.eta_attn[0]),
        "communication_scale": float(r.comm_scale[0]),
        "prefill_compute_scale": float(r.prefill_scale[0]),
        "mixture_of_experts_compute_scale": float(r.moe_scale[0]),
        "fitted_on_rows": prov.rows_pair,
        "engine_rows": prov.rows_engine,
        "provenance": prov.label,
    }


def _held_out(
    p: Params, frame: pd.DataFrame, groups: pd.Series, warm: Fit, works: dict
) -> np.ndarray:
    """Predictions of each row by a fit without the rows of its group (started from ``warm``, the
    full fit, to save iterations; ``works`` as for :func:`_prepared`)."""
    pred = np.full(len(frame), np.nan)
    for g in sorted(groups.unique()):
        mask = (groups == g).to_numpy()
        fit = fit_frame(p, frame[~mask].reset_index(drop=True), warm, works)
        pred[mask] = predictions(p, fit, frame[mask].reset_index(drop=True), works)
    return pred


def _cross_validation(folder: Path | None) -> pd.DataFrame:
    p = base_params()
    fit, frame = fitted(folder)
    out = frame[
        ["id", "engine", "gpu_id", "gpus", "model", "weights", "batch", "metric", "source"]
    ].copy()
    out["measured_tokens_per_s"] = frame["measured_tokens_per_s"].to_numpy(float)
    works: dict = {}  # the rows' work under p, for this cross-validation only
    out["predicted_tokens_per_s"] = predictions(p, fit, frame, works)
    out["held_out_gpu_tokens_per_s"] = _held_out(p, frame, frame["gpu_id"], fit, works)
    out["held_out_source_tokens_per_s"] = _held_out(p, frame, frame["source"], fit, works)
    for col, name in (
        ("predicted_tokens_per_s", "in_sample"),
        ("held_out_gpu_tokens_per_s", "held_out_gpu"),
        ("held_out_source_tokens_per_s", "held_out_source"),
    ):
        out[f"error_{name}"] = out[col] / out["measured_tokens_per_s"] - 1
    return out


def cross_validate(folder: Path | None = None) -> pd.DataFrame:
    """One row per measurement: measured, in-sample prediction, and the predictions of the
    leave-one-GPU-out and leave-one-source-out fits, with their relative errors (signed,
    predicted / measured - 1). Cached per process and data folder, and across processes like the
    fit (:mod:`gpucompare.model.fitcache`: ~20 s of CPU for the refits against ~50 ms to read)."""
    key = str(folder) if folder else None
    if key not in _CVS:
        _CVS[key] = fitcache.cached_frame(CV_CACHE, folder, lambda: _cross_validation(folder))
    return _CVS[key].copy()


def error_summary(cv: pd.DataFrame, by: str = "engine") -> pd.DataFrame:
    """Median and worst |error| per ``by`` group and overall, in sample and held out."""
    import pandas as pd

    cols = {
        "in_sample": "error_in_sample",
        "held_out_gpu": "error_held_out_gpu",
        "held_out_source": "error_held_out_source",
    }
    rows = []
    for name, g in [*sorted(cv.groupby(by)), ("all", cv)]:
        row = {by: name, "measurements": len(g)}
        for label, col in cols.items():
            err = g[col].abs()
            row[f"median_abs_error_{label}"] = float(err.median())
            row[f"worst_abs_error_{label}"] = float(err.max())
        rows.append(row)
    return pd.DataFrame(rows).set_index(by)
