"""The one strict pydantic base of every schema: unknown keys refused, values frozen, and no
NaN or infinity (a non-finite figure would print as invalid JSON or poison every sum)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every data and parameter schema. Validators are built on first use
    (``defer_build``): a one-line command validates a few of the ~40 schemas, and building them
    all at import took ~40 ms of its ~0.3 s."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)
