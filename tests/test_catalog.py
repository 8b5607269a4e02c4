"""The catalogs load, every figure is sourced, and the figures agree with independent facts."""

from __future__ import annotations

import pytest

from gpucompare.core.errors import InputError
from gpucompare.data import catalog, loading

REQUIRED_GPUS = [
    "h100-sxm",
    "h100-pcie",
    "h200-sxm",
    "a100-sxm-80gb",
    "l40s",
    "rtx-4090",
    "rtx-3090",
    "rtx-5090",
    "mi300x",
    "b200",
    "l4",
]
REQUIRED_MODELS = [
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3-8b",
    "llama-3-70b",
    "mistral-7b",
    "mixtral-8x7b",
    "llama-3.1-405b",
]


def test_required_gpus_and_models_present():
    assert set(REQUIRED_GPUS) <= set(catalog.gpu_ids())
    assert set(REQUIRED_MODELS) <= set(catalog.model_ids())


def test_every_gpu_figure_cites_a_defined_source():
    """Every figure's source is in gpus.yaml's table or the shared data/sources.yaml."""
    cat = catalog.gpu_catalog()
    known = loading.all_sources(cat.sources)
    for gpu in cat.gpus:
        for field, fig in gpu.figures().items():
            assert fig.source in known, (gpu.id, field)
        assert gpu.price.source in known
        assert gpu.price.value_usd > 0
        for src_id in {f.source for f in gpu.figures().values()}:
            assert known[src_id].url.startswith("http"), src_id


def _llama_parameter_count(m: catalog.Model) -> int:
    """Hand formula for a Llama-style decoder (no biases): embeddings, attention, MLP, norms, head."""
    h, d = m.hidden_size, m.head_dim
    attn = h * m.num_attention_heads * d * 2 + 2 * h * m.num_key_value_heads * d
    experts = m.num_local_experts or 1
    mlp = 3 * h * m.intermediate_size * experts + (h * experts if m.num_local_experts else 0)
    per_layer = attn + mlp + 2 * h
    head = 0 if m.tie_word_embeddings else m.vocab_size * h
    return m.vocab_size * h + m.num_hidden_layers * per_layer + h + head


@pytest.mark.parametrize("model_id", REQUIRED_MODELS)
def test_parameter_count_follows_from_config(model_id):
    m = catalog.get_model(model_id)
    assert _llama_parameter_count(m) == m.parameters


def test_published_configs():
    # Llama 2 paper (Touvron et al. 2023, table 1 and sec. 2.2): 70B uses grouped-query attention
    # with 8 KV heads; 7B and 13B use full multi-head attention; context 4k.
    l70 = catalog.get_model("llama-2-70b")
    assert (l70.num_hidden_layers, l70.hidden_size, l70.num_key_value_heads) == (80, 8192, 8)
    assert (
        catalog.get_model("llama-2-7b").num_key_value_heads
        == catalog.get_model("llama-2-7b").num_attention_heads
    )
    assert catalog.get_model("llama-2-7b").max_position_embeddings == 4096
    # Mixtral paper (Jiang et al. 2024): 8 experts, 2 active per token.
    mix = catalog.get_model("mixtral-8x7b")
    assert (mix.kind, mix.num_local_experts, mix.num_experts_per_tok) == ("moe", 8, 2)


def test_datasheet_headline_figures():
    """Figures printed in NVIDIA's datasheets (H100: 80 GB, 3.35 TB/s, 700 W, 132 SMs; RTX 4090:
    24 GB, 1,008 GB/s, 450 W, 128 SMs, 16,384 CUDA cores)."""
    h100 = catalog.get_gpu("h100-sxm")
    assert (h100.spec("memory_gib"), h100.spec("memory_bandwidth_gb_s"), h100.spec("tdp_w")) == (
        80,
        3350,
        700,
    )
    assert h100.spec("sm_count") == 132
    rtx = catalog.get_gpu("rtx-4090")
    assert (rtx.spec("memory_gib"), rtx.spec("memory_bandwidth_gb_s"), rtx.spec("tdp_w")) == (
        24,
        1008,
        450,
    )
    assert (rtx.spec("sm_count"), rtx.spec("cuda_cores")) == (128, 16384)


def test_bandwidth_matches_bus_width_times_data_rate():
    """Bandwidth (GB/s) = bus width (bits) x per-pin rate (Gbit/s) / 8, within 2.5%: datasheets
    round bandwidth to two significant digits (H100 PCIe "2 TB/s" vs 5120 bits x 3.19 Gbit/s = 2.04 TB/s)."""
    for g in catalog.gpu_catalog().gpus:
        rate = g.spec("memory_data_rate_gbps")
        if rate is None:
            continue
        expected = g.spec("memory_bus_width_bits") * rate / 8
        assert g.spec("memory_bandwidth_gb_s") == pytest.approx(expected, rel=0.025), g.id


def test_nvlink_total_is_twice_per_direction():
    for g in catalog.gpu_catalog().gpus:
        per_dir, total = (
            g.spec("nvlink_bandwidth_per_direction_gb_s"),
            g.spec("nvlink_bandwidth_total_gb_s"),
        )
        assert (per_dir is None) == (total is None), g.id
        if per_dir is not None:
            assert total == pytest.approx(2 * per_dir), g.id


def test_mig_profiles_agree_with_max_instances():
    for g in catalog.gpu_catalog().gpus:
        if not g.spec("mig_max_instances"):  # 0 = no MIG; None = not an NVIDIA GPU
            assert g.mig_profiles == [], g.id
        else:
            assert max(m.instances_max for m in g.mig_profiles) == g.spec("mig_max_instances"), g.id
            # Profile names round each slice up to a whole GB (H200 "3g.71gb" x 2 = 142 of 141),
            # so allow one unit of rounding per instance.
            for m in g.mig_profiles:
                assert m.memory_gib * m.instances_max <= g.spec("memory_gib") + m.instances_max, (
                    g.id,
                    m.profile,
                )


def test_unknown_ids_name_the_allowed_ones():
    with pytest.raises(
        InputError, match=r"unknown GPU 'h100'.*did you mean 'h100-sxm'.*allowed: .*rtx-4090"
    ):
        catalog.get_gpu("h100")
    with pytest.raises(InputError, match=r"unknown model 'llama-7b'.*allowed: .*llama-2-7b"):
        catalog.get_model("llama-7b")


def test_malformed_catalog_is_one_input_error(tmp_path, monkeypatch):
    (tmp_path / "gpus.yaml").write_text("gpus: [\n  - id: x\n  bad indent")
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError, match=r"gpus.yaml:.*line \d+.*malformed YAML"):
        catalog.gpu_catalog()


def test_figure_without_source_is_rejected(tmp_path, monkeypatch):
    import yaml

    data = yaml.safe_load((catalog.paths.repo_root() / "data" / "gpus.yaml").read_text())
    del data["gpus"][0]["specs"]["compute_units"]["source"]
    (tmp_path / "gpus.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("GPUCOMPARE_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError, match=r"specs\.compute_units\.source: Field required"):
        catalog.gpu_catalog()
