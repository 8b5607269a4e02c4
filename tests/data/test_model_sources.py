"""The model catalog's config sources: the publisher's own Hugging Face repository at a fixed
revision, with the values read stated in the source (issue 17)."""

from __future__ import annotations

import re

import pytest

from gpucompare.data import catalog

#: The organisations that publish the catalog's models on Hugging Face.
PUBLISHERS = {
    "llama": "meta-llama",
    "mistral": "mistralai",
    "mixtral": "mistralai",
    "qwen2.5": "Qwen",
}
CONFIG_FIELDS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
)


@pytest.mark.parametrize("model_id", catalog.model_ids())
def test_config_source_is_the_publishers_repository(model_id):
    model = catalog.get_model(model_id)
    src = catalog.model_catalog().sources[model.config_source]
    org = PUBLISHERS[model.family.split("-")[0]]
    assert re.fullmatch(
        rf"https://huggingface\.co/{org}/[A-Za-z0-9.\-]+/blob/[0-9a-f]{{40}}/config\.json", src.url
    ), src.url
    if not src.verified:
        # Read only in a copy: the note must name the copies (mirrors) it was read in.
        assert "not read" in src.note and ("mirror" in src.note or "copies" in src.note)


@pytest.mark.parametrize("model_id", catalog.model_ids())
def test_config_source_states_the_values_read(model_id):
    model = catalog.get_model(model_id)
    note = catalog.model_catalog().sources[model.config_source].note
    for field in CONFIG_FIELDS:
        assert f"{field} {getattr(model, field)}," in note, field
    assert f"tie_word_embeddings {str(model.tie_word_embeddings).lower()}" in note
    if model.kind == "moe":
        assert f"num_local_experts {model.num_local_experts}," in note
    if model.family in ("mistral", "mixtral"):
        window = "null" if model.sliding_window is None else str(model.sliding_window)
        assert f"sliding_window {window}" in note


def test_sliding_windows_from_the_configs():
    # mistralai/Mistral-7B-v0.1 config.json: "sliding_window": 4096; mistralai/Mixtral-8x7B(-Instruct)-v0.1:
    # "sliding_window": null.
    assert catalog.get_model("mistral-7b").sliding_window == 4096
    assert catalog.get_model("mixtral-8x7b").sliding_window is None
