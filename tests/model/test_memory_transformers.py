"""Cross-check the KV-cache formula against a real implementation: a tiny Llama-architecture
model built with Hugging Face ``transformers`` (random weights, CPU, nothing downloaded) runs a
forward pass with a cache, and the cache's actual tensor bytes must equal
2 x layers x KV heads x head_dim x bytes x tokens x batch.

Needs the ``kvcheck`` extra (torch + transformers); skipped with that reason when absent.
"""

from __future__ import annotations

import pytest

from gpucompare.data import catalog
from gpucompare.model import memory

torch = pytest.importorskip("torch", reason="needs the kvcheck extra: pip install -e '.[kvcheck]'")
transformers = pytest.importorskip(
    "transformers", reason="needs the kvcheck extra: pip install -e '.[kvcheck]'"
)


def _cache_bytes(past) -> int:
    """Bytes of every key and value tensor held by a transformers cache object (or legacy tuple)."""
    layers = getattr(past, "layers", None)
    if layers is not None:  # transformers >= 4.56: Cache.layers[i].keys / .values
        tensors = [t for layer in layers for t in (layer.keys, layer.values)]
    elif hasattr(past, "key_cache"):
        tensors = list(past.key_cache) + list(past.value_cache)
    else:
        tensors = [t for layer in past for t in layer]
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize(
    ("layers", "heads", "kv_heads", "dtype", "kv_precision"),
    [
        (2, 4, 4, torch.float16, "fp16"),  # multi-head attention (Llama-2-7B style)
        (3, 8, 2, torch.float16, "fp16"),  # grouped-query attention (Llama-2-70B style)
        (2, 4, 1, torch.float32, "fp32"),  # multi-query attention
    ],
)
def test_kv_formula_matches_a_real_cache(layers, heads, kv_heads, dtype, kv_precision):
    hidden, batch, tokens = 64, 3, 17
    config = transformers.LlamaConfig(
        vocab_size=101,
        hidden_size=hidden,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(dtype).eval()
    ids = torch.randint(0, config.vocab_size, (batch, tokens))
    with torch.no_grad():
        past = model(input_ids=ids, use_cache=True).past_key_values

    # The same configuration as a catalog entry, so the library's own formula is what is checked.
    tiny = catalog.get_model("llama-2-7b").model_copy(
        update={
            "num_hidden_layers": layers,
            "hidden_size": hidden,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": hidden // heads,
        }
    )
    assert _cache_bytes(past) == memory.kv_cache_bytes(tiny, kv_precision, batch, tokens)
