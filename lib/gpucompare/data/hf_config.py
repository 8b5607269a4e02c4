"""A Hugging Face ``config.json`` as a model catalog entry (``gpucompare models import``).

Reads the decoder shapes of Llama, Mistral, Qwen2 and Mixtral style configs (``hidden_size``,
``num_hidden_layers``, ``num_attention_heads``, ``num_key_value_heads``, ``head_dim``,
``intermediate_size``, ``vocab_size``, ``max_position_embeddings``, ``tie_word_embeddings``,
``sliding_window``/``use_sliding_window``, ``num_local_experts``/``num_experts_per_tok``, and the
biases ``attention_bias``/``mlp_bias``, which Qwen2 implies for q, k and v) and counts the parameters
from them (:func:`parameter_count`, the formula of ``data/models.yaml``'s header):

* embed = vocab x hidden; lm_head the same unless ``tie_word_embeddings``;
* attention per layer = hidden x heads x head_dim (q) + 2 x hidden x kv_heads x head_dim (k, v)
  + heads x head_dim x hidden (o), plus biases: q, k, v (heads x head_dim + 2 x kv_heads x
  head_dim) and, with ``attention_bias`` on a Llama config, o (hidden);
* MLP per layer = 3 x hidden x intermediate (gate, up, down) per expert, plus hidden x experts for
  the router of a mixture of experts; with ``mlp_bias``, 2 x intermediate + hidden per expert;
* 2 x hidden of RMSNorm weights per layer, and hidden for the final norm.

Configs this formula does not describe (shared experts, multi-head latent attention, per-layer
shapes) are refused with the keys that make them different, never approximated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gpucompare.core.errors import InputError

#: Keys of configs whose shapes the formula does not cover (DeepSeek MLA, Qwen MoE with shared
#: experts, per-layer intermediate sizes ...): refused rather than miscounted.
UNSUPPORTED_KEYS = (
    "n_routed_experts",
    "n_shared_experts",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "q_lora_rank",
    "kv_lora_rank",
    "num_experts",
    "layer_types",
)
#: Keys every supported config has.
REQUIRED_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
)
#: ``model_type`` values whose q, k and v projections carry biases by design.
QKV_BIAS_TYPES = ("qwen2",)
#: The largest config file read (a real one is about 1 kB).
MAX_CONFIG_BYTES = 1_000_000


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object of a ``config.json`` on disk; InputError naming the file on any problem.
    A multimodal config's ``text_config`` is refused (import its text model's config instead)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InputError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; not a config.json")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


def _int(cfg: dict[str, Any], key: str, where: str) -> int:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise InputError(f"{where}: {key}: expected a positive integer (got {v!r})")
    return v


def shape(cfg: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """The catalog's shape fields of a config (``data/models.yaml`` keys), or InputError naming the
    missing, unsupported or invalid keys."""
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise InputError(f"{where}: missing keys {', '.join(missing)}; a decoder config has them")
    odd = [k for k in UNSUPPORTED_KEYS if cfg.get(k) not in (None, 0, [], False)]
    if odd:
        raise InputError(
            f"{where}: {', '.join(odd)}: a shape the parameter formula does not cover (shared "
            "experts, latent attention or per-layer shapes); supported: Llama, Mistral, Qwen2 and "
            "Mixtral style decoders"
        )
    heads = _int(cfg, "num_attention_heads", where)
    hidden = _int(cfg, "hidden_size", where)
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    experts = cfg.get("num_local_experts") or None
    window = cfg.get("sliding_window")
    if cfg.get("use_sliding_window") is False:
        window = None  # Qwen2 configs carry a window size they do not use
    qkv_bias = cfg.get("model_type") in QKV_BIAS_TYPES or bool(cfg.get("attention_bias"))
    o_bias = bool(cfg.get("attention_bias")) and cfg.get("model_type") not in QKV_BIAS_TYPES
    out = {
        "num_hidden_layers": _int(cfg, "num_hidden_layers", where),
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": _int({"k": kv}, "k", f"{where}: num_key_value_heads"),
        "head_dim": _int({"k": head_dim}, "k", f"{where}: head_dim"),
        "intermediate_size": _int(cfg, "intermediate_size", where),
        "vocab_size": _int(cfg, "vocab_size", where),
        "max_position_embeddings": _int(cfg, "max_position_embeddings", where),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "num_local_experts": experts,
        "num_experts_per_tok": (cfg.get("num_experts_per_tok") or None) if experts else None,
        "sliding_window": window if isinstance(window, int) and window > 0 else None,
        "attention_bias": "qkvo" if qkv_bias and o_bias else ("qkv" if qkv_bias else "none"),
        "mlp_bias": bool(cfg.get("mlp_bias", False)),
    }
    if heads % out["num_key_value_heads"]:
        raise InputError(
            f"{where}: num_attention_heads {heads} is not a multiple of num_key_value_heads "
            f"{out['num_key_value_heads']}"
        )
    if experts and not out["num_experts_per_tok"]:
        raise InputError(f"{where}: num_local_experts {experts} without num_experts_per_tok")
    return out


def parameter_count(s: dict[str, Any]) -> int:
    """Exact parameter count of a shape (:func:`shape`; formula in the module docstring)."""
    h, d, layers = s["hidden_size"], s["head_dim"], s["num_hidden_layers"]
    q, kv = s["num_attention_heads"] * d, s["num_key_value_heads"] * d
    attn = h * q + 2 * h * kv + q * h
    bias = s.get("attention_bias", "none")
    if bias in ("qkv", "qkvo"):
        attn += q + 2 * kv
    if bias == "qkvo":
        attn += h
    experts = s.get("num_local_experts") or 1
    mlp = experts * 3 * h * s["intermediate_size"]
    if s.get("mlp_bias"):
        mlp += experts * (2 * s["intermediate_size"] + h)
    if s.get("num_local_experts"):
        mlp += h * experts  # router
    per_layer = attn + mlp + 2 * h
    embed = s["vocab_size"] * h
    head = 0 if s["tie_word_embeddings"] else embed
    return embed + layers * per_layer + h + head


def values_read(s: dict[str, Any]) -> str:
    """The config values a source note states (``key value, ...``), in the catalog's order."""
    parts = [
        f"{k} {s[k]}"
        for k in (
            "num_hidden_layers",
            "hidden_size",
            "num_attention_heads",
            "num_key_value_heads",
            "intermediate_size",
            "vocab_size",
            "max_position_embeddings",
        )
    ]
    parts.append(f"tie_word_embeddings {str(s['tie_word_embeddings']).lower()}")
    if s["num_local_experts"]:
        parts.append(f"num_local_experts {s['num_local_experts']}")
        parts.append(f"num_experts_per_tok {s['num_experts_per_tok']}")
    window = "null" if s["sliding_window"] is None else str(s["sliding_window"])
    parts.append(f"sliding_window {window}")
    parts.append(f"head_dim {s['head_dim']}")
    if s["attention_bias"] != "none":
        parts.append(f"attention biases on {s['attention_bias']}")
    return ", ".join(parts)


#: A Hugging Face file address: https://huggingface.co/<org>/<repo>/blob|resolve/<revision>/<file>.
HF_URL = re.compile(r"^https://huggingface\.co/([^/]+)/([^/]+)/(?:blob|resolve)/([^/]+)/")


def source_entry(url: str, s: dict[str, Any], file_name: str) -> dict[str, Any]:
    """The catalog source of an imported config: the address given, the values read, and that the
    tool read a local copy (``verified: false`` until someone confirms it is the file at ``url``)."""
    m = HF_URL.match(url)
    org, repo, revision = m.groups() if m else (None, None, None)
    title = f"{org}/{repo} config.json" if m else f"config.json at {url}"
    if revision:
        title += f" (revision {revision[:8]})"
    return {
        "title": title,
        "url": url,
        "publisher": org or "unknown",
        "date": None,
        "verified": False,
        "note": (
            f"Values read: {values_read(s)}. Read from a local copy ({file_name}) by gpucompare "
            "models import; the file at the address itself was not read by the tool: check that "
            "the copies match, then set verified: true."
        ),
    }
