"""The one strict pydantic base of every schema: unknown keys refused, values frozen, and no
NaN or infinity (a non-finite figure would print as invalid JSON or poison every sum)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every data and parameter schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
