"""Mixed-fleet optimiser: the cheapest mix of GPU types, group sizes and acquisitions that serves a
service whose traffic is a mix of request classes, after Mélange (T. Griggs, X. Liu, J. Yu, D. Kim,
W.-L. Chiang, A. Cheung, I. Stoica, "Mélange: Cost Efficient Large Language Model Serving by
Exploiting GPU Heterogeneity", 2024, arXiv:2404.14527).

A class c is a :class:`gpucompare.model.plan.Load`: every class has the same model, weight and KV
formats and the same TTFT/TPOT targets; each has its own rate lambda_c (requests/s) and its own mean
prompt and output lengths (e.g. 80% short chat prompts, 20% long documents). Small GPUs may serve
the short requests cheaply while only large ones meet the TTFT of the long prompts: a mixed fleet
can cost less than the best fleet of one GPU type.

Options. An option o is (GPU, n_o GPUs per replica, acquisition): every GPU of the catalog (or of
``gpu_ids``) whose formats the GPU and the engine run (as :func:`gpucompare.model.plan.options`
decides), every group size of :func:`gpucompare.model.plan.group_sizes`, every acquisition of
:func:`gpucompare.model.plan.allowed_acquisitions` with a price. Its cost per replica and month is
k_o = n_o x :func:`gpucompare.model.plan.usd_per_gpu_month` (owned: TCO / months; rented: cloud
rate x 730 h). Options are sorted by (GPU id, n, acquisition).

Capacity. cap_{o,c} = :func:`gpucompare.model.capacity.capacity` of option o's replica for class
c (computed once per (GPU, n, class) and call: it does not depend on the acquisition).

Mixed fleet: the integer linear program (:func:`scipy.optimize.milp`, HiGHS) of Mélange, with
x_o in {0, 1, ..., :data:`gpucompare.model.plan.MAX_REPLICAS`} replicas of option o and y_{c,o} in
[0, 1] the share of class c's requests served by option o::

    minimise    sum_o k_o x_o
    subject to  sum_o y_{c,o} = 1                                   for every class c
                sum_c y_{c,o} lambda_c / cap_{o,c} <= x_o            for every option o
                y_{c,o} = 0 where cap_{o,c} = 0

The second constraint is Mélange's approximation: a replica's time is shared linearly between the
classes it serves (a replica serving a fraction f of its capacity for class a and 1 - f of its
capacity for class b meets both targets). It is exact for one class and an approximation for a
mix (the queueing and batching of mixed lengths is not modelled). Integrality is kept, so even one
class can be served more cheaply by a mix (one large replica plus a small one for the remainder).

Tie-breaking (deterministic): the objective is sum_o k_o (1 + :data:`TIE_BREAK` x o / O) x_o, with
o the option's position in the sorted order and O the number of options, solved with a relative
MIP gap of :data:`MIP_GAP`: among fleets of equal cost the one with replicas on earlier options
wins; the cost reported is the true sum_o k_o x_o (at most TIE_BREAK relative above the optimum).
HiGHS runs without presolve (the problems are small; its presolve's solution repair prints a stray
line to stdout, ERGO-Code/HiGHS#2783); a solve that reaches :data:`TIME_LIMIT_S` returns the best
fleet found so far. With the replicas fixed, a second linear program picks the shares that use the
least replica time, min sum_{c,o} y_{c,o} lambda_c / cap_{o,c} (each class where it runs most
efficiently). The mixed fleet is returned only when it is cheaper than the homogeneous baseline by
more than a relative 1e-9; otherwise the homogeneous fleet is (one option is simpler, at the same
cost). :func:`solve` is a pure function of the capacity matrix, the rates and the costs.

Homogeneous baseline: the cheapest single option serving every class, with the same linear
sharing so the comparison is like for like: x_o = ceil(sum_c lambda_c / cap_{o,c}) (only options
with cap_{o,c} > 0 for every class and x_o <= MAX_REPLICAS), cost k_o x_o, ties to the earlier
option.

Results (:func:`optimize`): the fleet (per option: GPU, acquisition, GPUs per replica, replicas,
GPUs, $ per month, each class's share, capacity per replica, utilization = replica time used /
replicas), $ per month, $ per million output tokens = $ per month / (sum_c lambda_c x output_c x
seconds per month / 1e6), the homogeneous fleet, saving_fraction = 1 - mixed / homogeneous, and
mixed_is_worth_it = saving_fraction >= :data:`MIN_SAVING` (10%, the issue's threshold: a mixed
fleet is harder to run, so it must save at least that much). When no single option serves every
class but a mix does, the homogeneous fleet is {}, saving_fraction None and the mix is worth it;
when nothing serves, the fleet is [] with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gpucompare.core.errors import InputError
from gpucompare.model import plan, throughput
from gpucompare.model.capacity import capacity
from gpucompare.params import Params

#: A mixed fleet is worth running when it saves at least this fraction of the homogeneous cost.
MIN_SAVING = 0.10
#: Relative objective penalty that breaks ties between options by their sorted position.
TIE_BREAK = 1e-7
#: Relative MIP gap asked of HiGHS (below the tie-break so that ties are honoured).
MIP_GAP = 1e-10
#: Wall-clock limit of one ILP solve, seconds.
TIME_LIMIT_S = 60.0
#: Fields every class must share with the first.
SHARED_FIELDS = ("model", "weights", "kv", "ttft_ms", "tpot_ms")
#: Fields of each class in the result.
CLASS_FIELDS = ("requests_per_s", "prompt_tokens", "output_tokens")
#: Tolerance of the checks on the solver's answer (HiGHS's primal feasibility is 1e-7).
FEAS_TOL = 1e-6
#: A mixed fleet must beat the homogeneous one by more than this relative margin.
STRICTLY_CHEAPER = 1e-9

Load = plan.Load


@dataclass(frozen=True)
class Solution:
    """Replicas per option, shares[o, c] of class c served by option o, the true cost, and whether
    the fleet is the homogeneous baseline (one option)."""

    replicas: tuple[int, ...]
    shares: np.ndarray
    usd_per_month: float
    homogeneous: bool


def _check_matrix(cap, rates, cost) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cap = np.asarray(cap, dtype=float)
    rates = np.asarray(rates, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if cap.ndim != 2 or cap.shape != (cost.size, rates.size) or rates.ndim != 1 or cost.ndim != 1:
        raise InputError(
            f"capacity: must be options x classes = {cost.size} x {rates.size} (got shape {cap.shape})"
        )
    if rates.size == 0:
        raise InputError("classes: at least one class is needed")
    if not (np.all(np.isfinite(cap)) and np.all(cap >= 0)):
        raise InputError("capacity: must be finite numbers >= 0")
    if not (np.all(np.isfinite(rates)) and np.all(rates > 0)):
        raise InputError("requests_per_s: every class's rate must be a finite number > 0")
    if not (np.all(np.isfinite(cost)) and np.all(cost > 0)):
        raise InputError(
            "usd_per_month: every option's cost per replica must be a finite number > 0"
        )
    return cap, rates, cost


def _time(cap: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """a[o, c] = lambda_c / cap[o, c]: replicas of option o that all of class c would occupy
    (inf where the option cannot serve the class)."""
    with np.errstate(divide="ignore"):
        return np.where(cap > 0, rates[None, :] / np.where(cap > 0, cap, 1.0), np.inf)


def homogeneous(
    cap, rates, cost, max_replicas: int = plan.MAX_REPLICAS
) -> tuple[int, int, float] | None:
    """The cheapest single option serving every class: (option index, replicas, $ per month) with
    replicas = ceil(sum_c rates_c / cap[o, c]); ties to the lower index; None when none serves."""
    cap, rates, cost = _check_matrix(cap, rates, cost)
    best = None
    for o, row in enumerate(_time(cap, rates)):
        if not np.all(np.isfinite(row)):
            continue
        reps = max(1, math.ceil(float(row.sum()) * (1 - 1e-12)))
        if reps > max_replicas:
            continue
        usd = float(cost[o]) * reps
        if best is None or usd < best[2]:
            best = (o, reps, usd)
    return best


def _rows(coef: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Constraint rows over variables [x_0..x_{offset-1}, y[o, c] at offset + o * C + c]: one
    row per class (sum_o y[o, c]) and one per option (sum_c coef[o, c] y[o, c], minus x_o when
    the x are variables)."""
    n_opt, n_cls = coef.shape
    rows_cls = np.zeros((n_cls, offset + n_opt * n_cls))
    rows_opt = np.zeros((n_opt, offset + n_opt * n_cls))
    for o in range(n_opt):
        if offset:
            rows_opt[o, o] = -1.0
        for c in range(n_cls):
            rows_cls[c, offset + o * n_cls + c] = 1.0
            rows_opt[o, offset + o * n_cls + c] = coef[o, c]
    return rows_cls, rows_opt


def _shares(a: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """With replicas x fixed: the shares y[o, c] that use the least replica time, or None."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # ~0.3 s: only when one is solved

    usable = np.isfinite(a)
    coef = np.where(usable, a, 0.0)
    rows_cls, rows_opt = _rows(coef, 0)
    res = milp(
        coef.ravel(),
        bounds=Bounds(0.0, np.where(usable & (x[:, None] > 0), 1.0, 0.0).ravel()),
        constraints=[
            LinearConstraint(rows_cls, 1.0, 1.0),
            LinearConstraint(rows_opt, -np.inf, x.astype(float)),
        ],
    )
    return None if res.x is None else res.x.reshape(a.shape)


def solve(cap, rates, cost, max_replicas: int = plan.MAX_REPLICAS) -> Solution | None:
    """The cheapest fleet (module docstring): ``cap[o, c]`` requests/s one replica of option o
    serves of class c (0: cannot), ``rates[c]`` requests/s of class c, ``cost[o]`` $ per month of
    one replica of option o. None when no fleet serves every class. A pure function: no GPU model."""
    cap, rates, cost = _check_matrix(cap, rates, cost)
    n_opt, n_cls = cap.shape
    a = _time(cap, rates)
    usable = np.isfinite(a)
    base = homogeneous(cap, rates, cost, max_replicas)
    mixed = None
    if np.all(usable.any(axis=0)):
        from scipy.optimize import Bounds, LinearConstraint, milp  # ~0.3 s: only when solved

        coef = np.where(usable, a, 0.0)
        # Variables: x[0..O-1], then y[o, c] at O + o * C + c.
        n_var = n_opt + n_opt * n_cls
        obj = np.zeros(n_var)
        obj[:n_opt] = cost * (1 + TIE_BREAK * np.arange(n_opt) / n_opt)
        ub_x = np.minimum(max_replicas, np.ceil(np.where(usable, a, 0.0).sum(axis=1) * (1 + 1e-9)))
        upper = np.concatenate([ub_x, np.where(usable, 1.0, 0.0).ravel()])
        rows_cls, rows_opt = _rows(coef, n_opt)
        res = milp(
            obj,
            integrality=np.concatenate([np.ones(n_opt), np.zeros(n_opt * n_cls)]),
            bounds=Bounds(np.zeros(n_var), upper),
            constraints=[
                LinearConstraint(rows_cls, 1.0, 1.0),
                LinearConstraint(rows_opt, -np.inf, 0.0),
            ],
            options={"mip_rel_gap": MIP_GAP, "time_limit": TIME_LIMIT_S, "presolve": False},
        )
        if res.x is not None:
            x = np.round(res.x[:n_opt])
            y = _shares(a, x)
            if y is None:
                y = res.x[n_opt:].reshape(n_opt, n_cls)
            y = np.where(usable & (y > 1e-12), np.clip(y, 0.0, 1.0), 0.0)
            y = y / y.sum(axis=0, keepdims=True)
            # Replicas that serve no share are dropped (they can only appear through tolerances).
            x = np.where(y.sum(axis=1) > 0, x, 0.0)
            used = (np.where(usable, a, 0.0) * y).sum(axis=1)
            if np.all(used <= x * (1 + FEAS_TOL) + FEAS_TOL):
                mixed = Solution(tuple(int(v) for v in x), y, float(cost @ x), homogeneous=False)
    if base is not None:
        o, reps, usd = base
        if mixed is None or mixed.usd_per_month >= usd * (1 - STRICTLY_CHEAPER):
            x = np.zeros(n_opt, dtype=int)
            x[o] = reps
            y = np.zeros((n_opt, n_cls))
            y[o, :] = 1.0
            return Solution(tuple(int(v) for v in x), y, usd, homogeneous=True)
    return mixed


def _classes(classes) -> tuple[list, list[Load]]:
    if isinstance(classes, Mapping):
        names, loads = list(classes.keys()), list(classes.values())
        for name in names:
            if not isinstance(name, str) or not name:
                raise InputError(f"classes: a class name must be a non-empty string (got {name!r})")
    elif isinstance(classes, Sequence) and not isinstance(classes, (str, bytes)):
        names, loads = list(range(len(classes))), list(classes)
    else:
        raise InputError(
            f"classes: must be a list of loads or a mapping of names to loads (got {type(classes).__name__})"
        )
    if not loads:
        raise InputError("classes: at least one request class is needed")
    for name, load in zip(names, loads, strict=True):
        if not isinstance(load, Load):
            raise InputError(f"classes[{name!r}]: must be a plan.Load (got {type(load).__name__})")
        load.check()
    first = loads[0]
    for name, load in zip(names[1:], loads[1:], strict=True):
        for field in SHARED_FIELDS:
            if getattr(load, field) != getattr(first, field):
                raise InputError(
                    f"classes[{name!r}].{field}: every class must have the same {field} as "
                    f"classes[{names[0]!r}] ({getattr(first, field)!r}; got {getattr(load, field)!r})"
                )
    return names, loads


def _options(
    p: Params, load: Load, gpu_ids: list[str] | None, acquisitions: tuple[str, ...]
) -> list[tuple[str, int, str, float]]:
    """(GPU, GPUs per replica, acquisition, $ per replica-month), sorted; formats the GPU or the
    engine cannot run and acquisitions without a price give none."""
    out = []
    for gpu, n in plan.candidate_groups(p, load, gpu_ids, acquisitions):
        for a in plan.allowed_acquisitions(p, gpu, acquisitions):
            try:
                usd = n * plan.usd_per_gpu_month(p, gpu, a, gpus_per_replica=n)
            except InputError:
                continue  # no rental price for this GPU
            out.append((gpu, n, a, usd))
    return sorted(set(out), key=lambda o: (o[0], o[1], o[2]))


def optimize(
    p: Params,
    classes: Sequence[Load] | Mapping[str, Load],
    gpu_ids: list[str] | None = None,
    acquisitions: tuple[str, ...] = plan.ACQUISITIONS,
) -> dict:
    """The cheapest mixed fleet serving every class of ``classes`` (a list: classes named by index;
    a mapping: by name), the best homogeneous fleet, and the saving (module docstring)."""
    names, loads = _classes(classes)
    opts = _options(p, loads[0], gpu_ids, acquisitions)
    cache: dict[tuple[str, int, int], float] = {}
    for gpu, n, _, _ in opts:
        for c, load in enumerate(loads):
            if (gpu, n, c) not in cache:
                cache[gpu, n, c] = capacity(p, load, gpu, n)
    # Options that serve no class at all (e.g. the weights do not fit) are left out.
    opts = [o for o in opts if any(cache[o[0], o[1], c] > 0 for c in range(len(loads)))]
    rates = np.array([load.requests_per_s for load in loads], dtype=float)
    out_tokens_month = (
        sum(load.requests_per_s * load.output_tokens for load in loads) * plan.SECONDS_PER_MONTH
    )
    result = {
        "classes": [
            {"name": name, **{k: getattr(load, k) for k in CLASS_FIELDS}}
            for name, load in zip(names, loads, strict=True)
        ],
        "fleet": [],
        "gpu_count": 0,
        "usd_per_month": None,
        "usd_per_million_output_tokens": None,
        "homogeneous": {},
        "saving_fraction": None,
        "mixed_is_worth_it": False,
        "reason": None,
    }
    sol = None
    if opts:
        cap = np.array([[cache[o[0], o[1], c] for c in range(len(loads))] for o in opts])
        cost = np.array([o[3] for o in opts])
        sol = solve(cap, rates, cost)
        base = homogeneous(cap, rates, cost)
    if sol is None:
        first = loads[0]
        result["reason"] = (
            "no mix of GPUs, group sizes (up to 8 per replica) and replicas (up to "
            f"{plan.MAX_REPLICAS} per option) meets TTFT {first.ttft_ms:g} ms and TPOT "
            f"{first.tpot_ms:g} ms for every class with {throughput.engine_of(p)}"
        )
        return result

    def entry(o: int, reps: int, shares: np.ndarray) -> dict:
        gpu, n, a, usd = opts[o]
        a_row = np.where(cap[o] > 0, rates / np.where(cap[o] > 0, cap[o], 1.0), 0.0)
        return {
            "gpu": gpu,
            "acquisition": a,
            "gpus_per_replica": n,
            "replicas": reps,
            "gpu_count": reps * n,
            "usd_per_month": reps * usd,
            "classes": {names[c]: float(shares[c]) for c in range(len(loads)) if shares[c] > 0},
            "capacity_per_replica": {names[c]: float(cap[o, c]) for c in range(len(loads))},
            "utilization": float(a_row @ shares) / reps,
        }

    fleet = [entry(o, reps, sol.shares[o]) for o, reps in enumerate(sol.replicas) if reps > 0]
    fleet.sort(
        key=lambda e: (-e["usd_per_month"], e["gpu"], e["gpus_per_replica"], e["acquisition"])
    )
    result["fleet"] = fleet
    result["gpu_count"] = sum(e["gpu_count"] for e in fleet)
    result["usd_per_month"] = sol.usd_per_month
    result["usd_per_million_output_tokens"] = sol.usd_per_month / out_tokens_month * 1e6
    if base is not None:
        o, reps, usd = base
        home = entry(o, reps, np.ones(len(loads)))
        home["usd_per_million_output_tokens"] = usd / out_tokens_month * 1e6
        result["homogeneous"] = home
        result["saving_fraction"] = 1 - sol.usd_per_month / usd
        result["mixed_is_worth_it"] = result["saving_fraction"] >= MIN_SAVING
    else:
        # Only a mix serves every class: no single option is an alternative.
        result["mixed_is_worth_it"] = True
    return result
