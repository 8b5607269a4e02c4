"""``data/engines.yaml``: engines, their splits and formats; unknown ids and formats refused with
the allowed values; a malformed catalog refused."""

from __future__ import annotations

import pytest

from gpucompare.core import paths
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, engines, loading


@pytest.fixture(scope="module")
def raw_engines():
    """data/engines.yaml read directly (not through the loader under test)."""
    return paths.load_yaml(paths.data_dir() / "engines.yaml")


@pytest.fixture(scope="module")
def raw_precisions():
    return paths.load_yaml(paths.data_dir() / "precisions.yaml")


def test_engine_ids_are_the_files_in_order(raw_engines):
    assert engines.engine_ids() == [e["id"] for e in raw_engines["engines"]]
    for e in raw_engines["engines"]:
        got = engines.get_engine(e["id"])
        assert (got.name, got.split, got.weights, got.kv_cache) == (
            e["name"],
            e["split"],
            e["weights"],
            e["kv_cache"],
        )


def test_every_engine_format_is_in_the_precision_catalog(raw_engines, raw_precisions):
    weight_ids = {p["id"] for p in raw_precisions["precisions"]}
    kv_ids = {p["id"] for p in raw_precisions["kv_precisions"]}
    for e in raw_engines["engines"]:
        assert e["weights"] and set(e["weights"]) <= weight_ids, e["id"]
        assert e["kv_cache"] and set(e["kv_cache"]) <= kv_ids, e["id"]
        assert e["split"] in engines.SPLITS
        assert e["source"] in raw_engines["sources"] or e["source"] in loading.shared_sources()


def test_pipeline_settings_only_for_llama_cpp(raw_engines):
    # llama.cpp's --ubatch-size 512 and --batch-size 2048 defaults; no other engine pipelines.
    llama = engines.get_engine("llama-cpp")
    assert (llama.pipeline_microbatch_tokens, llama.pipeline_batch_tokens) == (512, 2048)
    for e in raw_engines["engines"]:
        if e["id"] != "llama-cpp":
            assert engines.get_engine(e["id"]).pipeline_microbatch_tokens is None


def test_unknown_engine_names_the_key_and_the_allowed_ids(raw_engines):
    with pytest.raises(InputError) as exc:
        engines.get_engine("vllmm")
    msg = str(exc.value)
    assert msg.startswith("engine: unknown engine 'vllmm'")
    assert "did you mean 'vllm'" in msg
    for e in raw_engines["engines"]:
        assert e["id"] in msg.split("allowed:")[1]
    with pytest.raises(InputError, match=r"^params\.engine: unknown engine 'x'"):
        engines.get_engine("x", "params.engine")
    with pytest.raises(InputError, match="engine"):
        engines.runs("nonesuch", "fp16", "fp16")


def test_require_formats_refuses_a_format_the_engine_does_not_run(raw_engines):
    allowed = next(e for e in raw_engines["engines"] if e["id"] == "llama-cpp")["weights"]
    with pytest.raises(InputError) as exc:
        engines.require_formats("llama-cpp", "int4", "fp16")
    msg = str(exc.value)
    assert msg.startswith("weights: llama.cpp does not run 'int4' weights; allowed: ")
    assert msg.endswith(", ".join(allowed))
    # The KV cache: llama.cpp's formats list only fp16.
    with pytest.raises(
        InputError, match=r"^kv_cache: llama.cpp does not run a 'fp8' KV cache; allowed: fp16$"
    ):
        engines.require_formats("llama-cpp", "fp16", "fp8")
    # MLC LLM runs its own 4-bit format, not GGUF's.
    with pytest.raises(InputError, match="weights: MLC LLM does not run 'q4_0'"):
        engines.require_formats("mlc-llm", "q4_0", "fp16")
    # Keys are passed through (the measurement loader names the file and row).
    with pytest.raises(InputError, match=r"^row 3: weights: "):
        engines.require_formats("exllama", "fp16", "fp16", key_weights="row 3: weights")


def test_require_formats_refuses_an_unknown_format():
    with pytest.raises(InputError, match="weights: unknown"):
        engines.require_formats("vllm", "int3", "fp16")
    with pytest.raises(InputError, match="kv_cache: unknown"):
        engines.require_formats("vllm", "fp16", "int2")


def test_require_formats_and_runs_accept_what_the_engine_runs():
    assert engines.require_formats("llama-cpp", "q4_k_m", "fp16").id == "llama-cpp"
    assert engines.require_formats("tensorrt-llm", "fp8", "int8").id == "tensorrt-llm"
    assert engines.runs("vllm", "int4", "fp8")
    assert not engines.runs("vllm", "q4_0", "fp16")
    assert not engines.runs("exllamav2", "exl2-4.0", "fp8")


# --- A malformed catalog ---------------------------------------------------------------------

SOURCE = """\
  src:
    title: "A source"
    url: "https://example.org/"
    publisher: "Someone"
    date: "2025"
    verified: false
"""


def engine_yaml(engines_block: str, sources: str = SOURCE) -> str:
    return f"schema_version: 1\nsources:\n{sources}engines:\n{engines_block}"


ONE = """\
  - id: a
    name: "A"
    split: tensor
    weights: [fp16]
    kv_cache: [fp16]
    source: src
"""


def test_a_good_temporary_catalog_loads(tmp_path):
    path = tmp_path / "engines.yaml"
    path.write_text(engine_yaml(ONE))
    cat = engines._engine_catalog(path)
    assert [e.id for e in cat.engines] == ["a"]


def test_duplicate_engine_ids_are_refused(tmp_path):
    path = tmp_path / "engines.yaml"
    path.write_text(engine_yaml(ONE + ONE))
    with pytest.raises(InputError, match="duplicate engine ids"):
        catalog.load_validated(path, engines.EngineCatalog)


def test_undefined_source_is_refused(tmp_path):
    path = tmp_path / "engines.yaml"
    path.write_text(engine_yaml(ONE.replace("source: src", "source: nowhere")))
    with pytest.raises(InputError, match=r"undefined source ids: engines\.a: source 'nowhere'"):
        engines._engine_catalog(path)


def test_unknown_split_and_extra_keys_are_refused(tmp_path):
    path = tmp_path / "engines.yaml"
    path.write_text(engine_yaml(ONE.replace("split: tensor", "split: row")))
    with pytest.raises(InputError, match="split"):
        engines._engine_catalog(path)
    path2 = tmp_path / "engines2.yaml"
    path2.write_text(engine_yaml(ONE + "    speed: fast\n"))
    with pytest.raises(InputError, match="speed"):
        engines._engine_catalog(path2)


def test_unknown_format_in_the_catalog_names_the_engine(tmp_path):
    path = tmp_path / "engines.yaml"
    path.write_text(engine_yaml(ONE.replace("weights: [fp16]", "weights: [fp16, fp6]")))
    with pytest.raises(InputError, match=r"engines\.a\.weights: unknown .*'fp6'"):
        engines._engine_catalog(path)
    path2 = tmp_path / "engines2.yaml"
    path2.write_text(engine_yaml(ONE.replace("kv_cache: [fp16]", "kv_cache: [q4_0]")))
    with pytest.raises(InputError, match=r"engines\.a\.kv_cache: unknown .*'q4_0'"):
        engines._engine_catalog(path2)
