"""The services the report sizes: closed-loop batch workloads (:class:`Workload`) and open-loop
traffic with latency targets (:class:`Traffic`, optionally a mix of request classes), validated as
part of :class:`gpucompare.params.schema.Params`."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gpucompare.core.errors import did_you_mean
from gpucompare.data import catalog
from gpucompare.params.fields import (
    BatchSize,
    ContextTokens,
    Precision,
    StrictParams,
    WeightPrecision,
)


class Workload(StrictParams):
    """One LLM serving workload: a model at a precision, batch size and context length."""

    name: str = Field(description="Label used in tables")
    model: str = Field(description="Model catalog id (data/models.yaml)")
    weights: WeightPrecision = Field("fp16", description="Weight precision")
    kv_cache: Precision = Field("fp16", description="KV-cache precision")
    batch_size: BatchSize = Field(description="Concurrent sequences")
    context_tokens: ContextTokens = Field(description="Tokens per sequence (prompt + output)")

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in catalog.model_ids():
            allowed = catalog.model_ids()
            raise ValueError(
                f"unknown model '{v}'{did_you_mean(v, allowed)}; allowed: {', '.join(allowed)}"
            )
        return v


#: Largest request rate a traffic workload may ask for (requests/s): far above any one service
#: the report sizes, and it keeps the planner's replica search bounded.
MAX_TRAFFIC_RATE = 10_000.0
#: Longest latency target (ms): an hour.
MAX_LATENCY_MS = 3_600_000.0
Acquisition = Literal["own", "rent", "both"]


#: Most users of a closed-loop service (as many as the largest request rate at one request/s each).
MAX_CONCURRENT_USERS = 10_000
#: Longest think time between a user's requests (s): a day.
MAX_THINK_TIME_S = 86_400.0
#: How far (relative) a service's mean prompt or output tokens may sit from its mix's weighted mean.
MIX_MEAN_TOLERANCE = 0.01


class TrafficClass(StrictParams):
    """One class of a service's requests: its share of the requests and its mean lengths."""

    name: str = Field(description="Label of the class (e.g. chat, documents)")
    share: float = Field(gt=0, le=1, description="Fraction of the service's requests")
    prompt_tokens: ContextTokens = Field(description="Mean prompt tokens of the class")
    output_tokens: ContextTokens = Field(description="Mean generated tokens of the class")


def _finite_positive(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


class Traffic(StrictParams):
    """One service to size: a model and formats, a request rate, mean prompt and output tokens,
    and the latency targets (time to first token, time per output token). ``mix`` optionally
    splits the requests into classes (shares summing to 1); the service's mean prompt and output
    tokens are then the mix's weighted means (filled in when left out)."""

    name: str = Field(description="Label used in tables")
    model: str = Field(description="Model catalog id (data/models.yaml)")
    weights: WeightPrecision = Field("fp16", description="Weight format")
    kv_cache: Precision = Field("fp16", description="KV-cache format")
    requests_per_s: float = Field(gt=0, le=MAX_TRAFFIC_RATE, description="Requests per second")
    prompt_tokens: ContextTokens = Field(description="Mean prompt tokens per request")
    output_tokens: ContextTokens = Field(description="Mean generated tokens per request")
    ttft_ms: float = Field(
        gt=0, le=MAX_LATENCY_MS, description="Mean time to first token target (ms)"
    )
    tpot_ms: float = Field(gt=0, le=MAX_LATENCY_MS, description="Time per output token target (ms)")
    concurrent_users: int | None = Field(
        None,
        gt=0,
        le=MAX_CONCURRENT_USERS,
        description="Users in a closed loop (with think_time_s, instead of requests_per_s)",
    )
    think_time_s: float | None = Field(
        None, gt=0, le=MAX_THINK_TIME_S, description="Seconds a user waits between requests"
    )
    mix: list[TrafficClass] | None = Field(
        None,
        min_length=1,
        description="Request classes (name, share, prompt_tokens, output_tokens) for a mixed fleet",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return Workload._known_model(v)

    @model_validator(mode="before")
    @classmethod
    def _rate_from_users(cls, data: Any) -> Any:
        """Users who each send a request, wait for the answer and think ``think_time_s`` send at
        most users / think_time_s requests/s (the answer's own time left out): the rate sized."""
        if not isinstance(data, dict):
            return data
        users, think = data.get("concurrent_users"), data.get("think_time_s")
        if users is None and think is None:
            return data
        given = [v for v in (users, think) if v is not None]
        if not all(_finite_positive(v) for v in given):
            return data  # the field validators name the bad value
        if users is None or think is None:
            missing, other = (
                ("think_time_s", "concurrent_users")
                if think is None
                else ("concurrent_users", "think_time_s")
            )
            raise ValueError(f"{missing}: needed with {other}")
        rate = users / think
        given = data.get("requests_per_s")
        # A validated service dumps all three; re-reading it must agree, not fail.
        if given is not None and abs(given - rate) > 1e-9 * rate:
            raise ValueError(
                f"requests_per_s: {given} is not concurrent_users / think_time_s = {rate:g}; "
                "give one or the other"
            )
        return {**data, "requests_per_s": rate}

    @model_validator(mode="before")
    @classmethod
    def _means_from_mix(cls, data: Any) -> Any:
        """Without prompt_tokens/output_tokens, a mix gives them (weighted means, rounded)."""
        if isinstance(data, dict) and isinstance(data.get("mix"), list):
            try:
                classes = [TrafficClass.model_validate(c) for c in data["mix"]]
            except Exception:
                return data
            data = dict(data)
            for key in ("prompt_tokens", "output_tokens"):
                if key not in data:
                    data[key] = round(sum(c.share * getattr(c, key) for c in classes))
        return data

    @model_validator(mode="after")
    def _mix_is_consistent(self) -> Traffic:
        if not self.mix:
            return self
        total = sum(c.share for c in self.mix)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"mix: the shares sum to {total:g}, not 1")
        names = [c.name for c in self.mix]
        dup = sorted(n for n, k in Counter(names).items() if k > 1)
        if dup:
            raise ValueError(f"mix: class name(s) {dup} used twice")
        for key in ("prompt_tokens", "output_tokens"):
            mean = sum(c.share * getattr(c, key) for c in self.mix)
            if abs(getattr(self, key) - mean) > MIX_MEAN_TOLERANCE * mean + 0.5:
                raise ValueError(
                    f"{key}: {getattr(self, key)} is not the mix's weighted mean {mean:g}; "
                    "leave it out to use the mix's"
                )
        return self
