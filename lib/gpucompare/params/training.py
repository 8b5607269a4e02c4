"""The fine-tuning jobs of the training section (:class:`TrainingJob`), validated as part of
:class:`gpucompare.params.schema.Params` (parameter ``training_jobs``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gpucompare.params.fields import StrictParams
from gpucompare.params.services import Workload

#: Training methods (``gpucompare.data.training.METHODS``; tests/test_params.py checks the two agree):
#: full fine-tuning, LoRA adapters on 16-bit frozen weights, QLoRA adapters on NF4 frozen weights.
TrainingMethod = Literal["full", "lora", "qlora"]


class TrainingJob(StrictParams):
    """One fine-tuning job of the training section's tables: a label, a model and a method. The
    rest is fixed by the section: AdamW in bf16, 2,048-token sequences, one sequence per
    micro-batch, LoRA rank 16 on every linear layer, placed on the fewest GPUs that hold it."""

    name: str = Field(description="Label used in tables")
    model: str = Field(description="Model catalog id (data/models.yaml)")
    method: TrainingMethod = Field(description="full, lora or qlora")

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return Workload._known_model(v)
