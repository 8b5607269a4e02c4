"""The capacity of one replica: the largest request rate (requests/s) one replica of a planner
option serves within the load's TTFT and TPOT targets (:func:`gpucompare.model.plan.replica`), and
the headroom of a planned deployment (how much more load before a target breaks).

Capacity. cap_{o,c} = the largest rate (requests/s) one replica serves class c within the
targets, :func:`gpucompare.model.plan.replica` ``.ok`` (M/D/1 prefill queue, continuous-batching
decode), 0 when even :data:`TINY_RATE` fails (the weights do not fit, or one prompt's prefill alone
exceeds the TTFT). The search ends with a bracket [lo passes, hi fails], hi / lo <= 1 +
:data:`REL_TOL`, and returns lo (conservative: the true capacity lies in [cap, cap x 1.01]). It
assumes, as the planner does, that a replica meeting the targets at a rate meets them at any lower
rate. Where to probe is guessed from the planner's formulas (a model-guided bracketing, in the
manner of Brent's method): with t_p the prefill time of one prompt and rho = rate x t_p, each probe
reveals the decode step time s(b) = TPOT x (1 - rho) at its batch b; with s linear between the
probed batches nearest the answer, b sequences decoding together serve up to min(R_b, Q_b), R_b =
(1 - s(b) / T_tpot) / t_p (TPOT = s(b) / (1 - rho) <= T_tpot) and Q_b = b / (output x s(b) + b x
t_p) (Little's law: rate x output x TPOT <= b), maximised over b <= the memory's batch, and TTFT =
t_p + rho t_p / (2 (1 - rho)) <= T_ttft caps rho at 2 (T_ttft - t_p) / (t_p + 2 (T_ttft - t_p)).
R_b falls and Q_b rises with b. A guess is kept one tolerance inside the bracket, so that a guess
at an end closes it; when the formulas disagree with the probes the search bisects in log(rate).
The guesses only choose the probes: every bracket end is a plan.replica verdict, so a change to
the planner's formulas costs speed, not correctness (4 to 6 plan.replica calls per (GPU, n, class)
on the default catalog, against about 10 for plain bisection). Capacity does not depend on the
acquisition: it is computed once per (GPU, n, class) and call.

Headroom of an option of :func:`gpucompare.model.plan.options`: utilization = requests/s /
(replicas x capacity), headroom = 1 / utilization - 1 (the fraction more load the deployment takes
before one replica misses a target).
"""

from __future__ import annotations

import math

from gpucompare.model import plan
from gpucompare.params import Params

Load = plan.Load

#: Relative tolerance of the capacity search (hi / lo <= 1 + REL_TOL).
REL_TOL = 0.01
#: The rate (requests/s) below which a replica is said to serve nothing (capacity 0).
TINY_RATE = 1e-6
#: Capacity search: at most this many guesses from the planner's formulas, then bisection.
PREDICTIONS = 6
#: Capacity search: a rate (requests/s) above which a replica is not searched further.
MAX_RATE = 1e9


class _Search:
    """The bracket [highest rate that passed, lowest that failed] of one replica and one class,
    and the decode step times s(b) that the probes revealed (module docstring, Capacity)."""

    def __init__(self, p: Params, load: Load, gpu: str, n: int):
        self.p, self.load, self.gpu, self.n = p, load, gpu, n
        self.lo, self.hi = 0.0, math.inf
        self.steps: dict[int, float] = {}  # batch -> decode step time (s)
        self.t_p = math.nan
        self.max_batch = 0
        self.batch = 1.0  # the concurrency of the last guess

    def ok(self, rate: float) -> bool:
        rep = plan.replica(self.p, self.load, self.gpu, self.n, rate)
        self.t_p, self.max_batch = rep.prefill_s, rep.max_batch
        if rep.concurrency > 0 and rep.prefill_share < 1:
            if math.isfinite(rep.tpot_s):
                batch, tpot = max(1, math.ceil(rep.concurrency)), rep.tpot_s
            else:  # the batch was capped at max_batch; Little's law gives its TPOT
                batch = rep.max_batch
                tpot = rep.concurrency / (rate * self.load.output_tokens)
            self.steps[batch] = tpot * (1 - rep.prefill_share)
        if rep.ok:
            self.lo = max(self.lo, rate)
        else:
            self.hi = min(self.hi, rate)
        return rep.ok

    def _line(self, batch: float) -> tuple[float, float]:
        """s(b) = alpha + slope b through the probed batches nearest ``batch``: the nearest below
        and above it when there are both, else the two nearest."""
        below = [kv for kv in self.steps.items() if kv[0] <= batch]
        above = [kv for kv in self.steps.items() if kv[0] > batch]
        if below and above:
            pair = [max(below), min(above)]
        else:
            pair = sorted(self.steps.items(), key=lambda kv: abs(math.log(kv[0] / batch)))[:2]
        if len(pair) < 2:
            return pair[0][1], 0.0
        (b0, s0), (b1, s1) = pair
        slope = (s1 - s0) / (b1 - b0)
        return s1 - slope * b1, slope

    def predict(self) -> float:
        """The capacity by the planner's formulas: max over b <= max batch of min(R_b, Q_b), capped
        by the TTFT (module docstring), with s(b) linear between the probed batches nearest the
        answer; NaN when nothing is known yet."""
        load, t_p, mb = self.load, self.t_p, self.max_batch
        if not (0 < t_p < math.inf) or not self.steps or mb < 1:
            return math.nan
        t1, t2, out = load.ttft_ms / 1e3, load.tpot_ms / 1e3, load.output_tokens
        slack = t1 - t_p
        ttft_rate = 2 * slack / (t_p + 2 * slack) / t_p if slack > 0 else 0.0

        def rate_at(b: int, line: tuple[float, float]) -> float:
            s_b = line[0] + line[1] * b
            if s_b <= 0:
                return 0.0
            return min((1 - s_b / t2) / t_p, b / (out * s_b + b * t_p))

        b_est = self.batch
        for _ in range(3):
            line = self._line(b_est)
            lo_b, hi_b = 1, mb  # the crossing of R_b and Q_b: Q_b < R_b below it
            while hi_b - lo_b > 1:
                mid = (lo_b + hi_b) // 2
                s_mid = line[0] + line[1] * mid
                if mid / (out * s_mid + mid * t_p) < (1 - s_mid / t2) / t_p:
                    lo_b = mid
                else:
                    hi_b = mid
            b_est = float(lo_b if rate_at(lo_b, line) >= rate_at(hi_b, line) else hi_b)
        self.batch = b_est
        return max(0.0, min(ttft_rate, rate_at(int(b_est), line)))

    def __call__(self, rel_tol: float) -> float:
        step = 1 + rel_tol
        if not self.ok(TINY_RATE):
            return 0.0
        for _ in range(PREDICTIONS):
            if self.hi / self.lo <= step:
                return self.lo
            guess = self.predict()
            if not (self.lo / 2 < guess < self.hi * 2):
                break  # the formulas disagree with the probes: bisect
            # At least one tolerance inside the bracket, so that a guess at the bracket's end
            # closes it (Brent's minimum step).
            guess = max(guess, self.lo * step)
            guess = min(guess, self.hi / step)
            if guess <= self.lo or guess >= self.hi:
                guess = math.sqrt(self.lo * self.hi)
            self.ok(guess)
        # Without a failure yet, double the rate until one fails; then bisect in log(rate).
        while self.hi == math.inf and self.lo < MAX_RATE:
            self.ok(max(self.lo * 2, 1.0))
        if self.hi == math.inf:
            return self.lo
        while self.hi / self.lo > step:
            self.ok(max(math.sqrt(self.lo * self.hi), self.hi / 2))
        return self.lo


def capacity(p: Params, load: Load, gpu: str, n: int, rel_tol: float = REL_TOL) -> float:
    """The largest rate (requests/s) one replica of ``n`` ``gpu`` serves ``load``'s requests within
    its targets, to ``rel_tol`` (the passing end of the bracket); 0 when :data:`TINY_RATE` fails.
    ``load.requests_per_s`` is not used (module docstring)."""
    return _Search(p, load, gpu, n)(rel_tol)


def headroom(p: Params, load: Load, option: dict) -> dict:
    """``{"capacity_requests_per_s", "utilization", "headroom_fraction"}`` of a planner option (its
    replicas share the load evenly): module docstring."""
    per_replica = capacity(p, load, option["gpu"], option["gpus_per_replica"])
    # The planner verified its own share of the load passes; the search's passing end may sit up
    # to REL_TOL below it.
    per_replica = max(per_replica, load.requests_per_s / option["replicas"])
    cap = per_replica * option["replicas"]
    util = load.requests_per_s / cap if cap > 0 else math.inf
    return {
        "capacity_requests_per_s": cap,
        "utilization": util,
        "headroom_fraction": 1 / util - 1 if cap > 0 else 0.0,
    }


def plan_with_headroom(p: Params, load: Load, top: int = 5, **kwargs) -> dict:
    """:func:`gpucompare.model.plan.plan` with :func:`headroom` added to its ``top`` cheapest options
    and to the cheapest option of each acquisition (the ones the report and the CLI show)."""
    result = plan.plan(p, load, **kwargs)
    shown = list(result["options"][:top])
    for acq in plan.ACQUISITIONS:
        first = plan.cheapest(result["options"], acq)
        if first is not None and first not in shown:
            shown.append(first)
    for o in shown:
        o.update(headroom(p, load, o))
    return result
