"""``gpucompare models import PATH --id ID --source URL [--write]``: a Hugging Face config.json,
written here from the values the publishers released, becomes a catalog entry whose parameter count
(computed from the shape) equals the published count; ``--write`` adds it to data/models.yaml, which
check-data then accepts; an id the catalog has is refused with exit 2 and nothing written."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from gpucompare.cli import main
from gpucompare.core import paths
from gpucompare.data import catalog, checkdata, hf_config

LLAMA_405B_URL = (
    "https://huggingface.co/meta-llama/Llama-3.1-405B/blob/"
    "b906e4dc842aa489c962f9db26554dcfdde901fe/config.json"
)
#: meta-llama/Llama-3.1-405B config.json (the values data/models.yaml's cfg-llama-3.1-405b states).
LLAMA_405B = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "hidden_act": "silu",
    "hidden_size": 16384,
    "intermediate_size": 53248,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 128,
    "num_hidden_layers": 126,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}
#: Hugging Face API safetensors.total of meta-llama/Llama-3.1-405B (data/models.yaml,
#: hf-api-llama-3.1-405b).
LLAMA_405B_PUBLISHED = 405_853_388_800
#: Qwen/Qwen2.5-72B config.json: q, k and v projections carry biases; the sliding window is off.
QWEN_72B = {
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 8192,
    "intermediate_size": 29568,
    "max_position_embeddings": 131072,
    "max_window_layers": 80,
    "model_type": "qwen2",
    "num_attention_heads": 64,
    "num_hidden_layers": 80,
    "num_key_value_heads": 8,
    "rope_theta": 1000000.0,
    "sliding_window": 131072,
    "tie_word_embeddings": False,
    "use_sliding_window": False,
    "vocab_size": 152064,
}
#: KerasHub's qwen2.5_instruct_72b_en preset: "params": 72706203648 (with the q/k/v biases; without
#: them the shape gives 72,705,384,448).
QWEN_72B_PUBLISHED = 72_706_203_648
#: mistralai/Mixtral-8x7B-Instruct-v0.1 config.json; KerasHub: 46702792704 (data/models.yaml).
MIXTRAL = {
    "architectures": ["MixtralForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "model_type": "mixtral",
    "num_attention_heads": 32,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}
MIXTRAL_PUBLISHED = 46_702_792_704


def _config(tmp_path, cfg: dict, name: str = "config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def _import(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["models", "import", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("cfg", "model_id", "published"),
    [
        (LLAMA_405B, "llama-3.1-405b-copy", LLAMA_405B_PUBLISHED),
        (QWEN_72B, "qwen2.5-72b", QWEN_72B_PUBLISHED),
        (MIXTRAL, "mixtral-8x7b-copy", MIXTRAL_PUBLISHED),
    ],
    ids=["llama-3.1-405b", "qwen2.5-72b", "mixtral-8x7b"],
)
def test_parameter_count_from_the_shape_is_the_published_one(
    tmp_path, capsys, cfg, model_id, published
):
    code, out, _ = _import(
        capsys, str(_config(tmp_path, cfg)), "--id", model_id, "--source", LLAMA_405B_URL
    )
    assert code == 0
    entry = yaml.safe_load(out)
    (model,) = entry["models"]
    assert model["parameters"] == published
    assert model["id"] == model_id and model["config_source"] == f"cfg-{model_id}"
    assert f"cfg-{model_id}" in entry["sources"]


def test_the_shape_of_each_style():
    qwen = hf_config.shape(QWEN_72B)
    assert qwen["attention_bias"] == "qkv" and qwen["sliding_window"] is None
    assert hf_config.parameter_count({**qwen, "attention_bias": "none"}) == 72_705_384_448
    mixtral = hf_config.shape(MIXTRAL)
    assert (mixtral["num_local_experts"], mixtral["num_experts_per_tok"]) == (8, 2)
    llama = hf_config.shape(LLAMA_405B)
    assert (llama["head_dim"], llama["num_key_value_heads"], llama["attention_bias"]) == (
        128,
        8,
        "none",
    )
    # The catalog's own entry was made from the same values.
    cat = catalog.get_model("llama-3.1-405b")
    assert {k: getattr(cat, k) for k in llama if k in catalog.Model.model_fields} == llama
    assert hf_config.parameter_count(llama) == cat.parameters


def test_the_printed_entry_matches_the_catalogs_entry_style(tmp_path, capsys):
    code, out, _ = _import(
        capsys, str(_config(tmp_path, LLAMA_405B)), "--id", "x-405b", "--source", LLAMA_405B_URL
    )
    assert code == 0
    entry = yaml.safe_load(out)
    src = entry["sources"]["cfg-x-405b"]
    assert src["url"] == LLAMA_405B_URL and src["publisher"] == "meta-llama"
    assert src["verified"] is False and "not read" in src["note"] and "copies" in src["note"]
    for key in ("num_hidden_layers 126,", "num_key_value_heads 8,", "tie_word_embeddings false"):
        assert key in src["note"]
    catalog.Model.model_validate(entry["models"][0])


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(paths.data_dir(), data)
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    return data


def test_write_adds_an_entry_check_data_accepts(tmp_path, capsys, data_copy):
    before = (data_copy / "models.yaml").read_text(encoding="utf-8")
    code, out, err = _import(
        capsys,
        str(_config(tmp_path, QWEN_72B)),
        "--id",
        "qwen2.5-72b",
        "--source",
        "https://huggingface.co/Qwen/Qwen2.5-72B/blob/efba10c8e54e91e0d9570ab5f7b51a958474d4cb/config.json",
        "--name",
        "Qwen2.5 72B",
        "--write",
    )
    assert code == 0, err
    assert "added model 'qwen2.5-72b' (72,706,203,648 parameters)" in out
    after = (data_copy / "models.yaml").read_text(encoding="utf-8")
    assert after.startswith(before.split("\nmodels:\n", 1)[0].rstrip("\n"))  # the rest untouched
    assert checkdata.check_all() == []
    m = catalog.get_model("qwen2.5-72b")
    assert (m.parameters, m.attention_bias, m.name) == (QWEN_72B_PUBLISHED, "qkv", "Qwen2.5 72B")
    assert catalog.model_catalog().sources["cfg-qwen2.5-72b"].publisher == "Qwen"


@pytest.mark.parametrize("model_id", ["llama-3-8b", "llama-3.1-405b"])
def test_an_existing_id_is_refused_with_exit_2_and_nothing_written(
    tmp_path, capsys, data_copy, model_id
):
    before = (data_copy / "models.yaml").read_bytes()
    code, _, err = _import(
        capsys,
        str(_config(tmp_path, LLAMA_405B)),
        "--id",
        model_id,
        "--source",
        LLAMA_405B_URL,
        "--write",
    )
    assert code == 2
    assert f"model '{model_id}' is already in" in err and "never overwritten" in err
    assert (data_copy / "models.yaml").read_bytes() == before


def test_importing_twice_refuses_the_second(tmp_path, capsys, data_copy):
    args = [
        str(_config(tmp_path, MIXTRAL)),
        "--id",
        "mixtral-again",
        "--source",
        LLAMA_405B_URL,
        "--write",
    ]
    assert _import(capsys, *args)[0] == 0
    once = (data_copy / "models.yaml").read_bytes()
    code, _, err = _import(capsys, *args)
    assert code == 2 and "already in" in err
    assert (data_copy / "models.yaml").read_bytes() == once


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({**LLAMA_405B, "q_lora_rank": 1536, "kv_lora_rank": 512}, "q_lora_rank, kv_lora_rank"),
        ({k: v for k, v in LLAMA_405B.items() if k != "hidden_size"}, "missing keys hidden_size"),
        ({**LLAMA_405B, "num_key_value_heads": 3}, "not a multiple of num_key_value_heads"),
    ],
    ids=["latent-attention", "missing-key", "bad-kv-heads"],
)
def test_configs_the_formula_does_not_cover_exit_2(tmp_path, capsys, cfg, message):
    code, out, err = _import(
        capsys, str(_config(tmp_path, cfg)), "--id", "x", "--source", LLAMA_405B_URL
    )
    assert code == 2 and message in err and out == ""


def test_bad_arguments_exit_2(tmp_path, capsys):
    path = str(_config(tmp_path, LLAMA_405B))
    assert _import(capsys, path, "--id", "Bad Id", "--source", LLAMA_405B_URL)[0] == 2
    assert _import(capsys, path, "--id", "ok", "--source", "huggingface.co/x")[0] == 2
    assert (
        _import(capsys, str(tmp_path / "missing.json"), "--id", "ok", "--source", LLAMA_405B_URL)[0]
        == 2
    )
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    code, _, err = _import(
        capsys, str(tmp_path / "bad.json"), "--id", "ok", "--source", LLAMA_405B_URL
    )
    assert code == 2 and "not a readable JSON file" in err


def test_models_alone_still_lists_the_catalog(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "llama-3.1-405b" in out and "mixtral-8x7b" in out
