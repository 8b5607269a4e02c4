"""The GPU schema is vendor-neutral: compute units, shader and matrix cores and the GPU-to-GPU link
have one name for every vendor, the report's words follow the vendor, NVIDIA-only fields are given
for NVIDIA GPUs and only for them, and the former NVIDIA names still read through ``Gpu.spec``."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.core.errors import InputError
from gpucompare.data import catalog, engines
from gpucompare.model import interconnect, mig, throughput
from gpucompare.report import preflight
from gpucompare.sections import mig as mig_section
from gpucompare.sections import specs as specs_section
from tests.data.test_checkdata import broken_copy, gpu


def test_units_are_named_by_the_vendor():
    assert catalog.gpu_terms("mi300x").compute_units == "CUs"
    assert catalog.gpu_terms("mi300x").shader_cores == "stream processors"
    assert catalog.gpu_terms("mi300x").gpu_link_name == "Infinity Fabric (xGMI)"
    assert catalog.gpu_terms("b200").compute_units == "SMs"
    assert catalog.vendor_label(["h100-sxm", "rtx-4090"], "compute_units") == "SMs"
    assert catalog.vendor_label(["mi300x", "h100-sxm"], "shader_cores") == (
        "stream processors / CUDA cores"
    )
    with pytest.raises(InputError, match=r"unknown vendor 'Acme'; allowed: AMD, Intel, NVIDIA"):
        catalog.vendor_terms("Acme")


def test_spec_table_labels_follow_the_vendors_shown():
    nvidia = specs_section.spec_table(params.make(gpus=["h100-sxm", "rtx-4090"])).frame
    assert {
        "SMs",
        "CUDA cores (FP32 lanes)",
        "Tensor Cores",
        "NVLink, per direction (GB/s)",
    } <= set(nvidia.index)
    mixed = specs_section.spec_table(params.make(gpus=["mi300x", "h100-sxm"])).frame
    assert "CUs / SMs" in mixed.index
    assert "stream processors / CUDA cores (FP32 lanes)" in mixed.index
    assert "Infinity Fabric (xGMI) / NVLink, per direction (GB/s)" in mixed.index
    amd = mixed.columns[0]
    assert mixed.loc["CUs / SMs", amd] == 304
    assert mixed.loc["MIG instances (max)", amd] == "not applicable"
    assert mixed.loc["compute capability", amd] == "not applicable"


def test_legacy_names_read_the_neutral_fields():
    h100 = catalog.get_gpu("h100-sxm")
    assert h100.spec("sm_count") == h100.spec("compute_units") == 132
    assert h100.spec("cuda_cores") == h100.spec("shader_cores") == 16896
    assert h100.spec("nvlink_bandwidth_per_direction_gb_s") == 450
    assert catalog.arch_variant("h100-sxm").fma_per_clock_per_sm["fp16_fp32acc"].value == 2048
    assert interconnect.nvlink_link_id("h100-sxm") == interconnect.gpu_link_id("h100-sxm")
    assert catalog.get_gpu("mi300x").spec("mig_max_instances") is None


def test_nvidia_only_fields_are_refused_on_other_vendors(tmp_path, monkeypatch):
    def edit(raw):
        gpu(raw, "mi300x")["specs"]["compute_capability"] = {
            "value": "9.4",
            "source": "xla-b200-spec",
        }

    broken_copy(tmp_path, monkeypatch, "gpus.yaml", edit)
    text = "\n".join(str(x) for x in preflight.check_all())
    assert "mi300x.specs.compute_capability: NVIDIA-only field; leave it out for AMD GPUs" in text


def test_nvidia_gpus_need_their_nvidia_fields(tmp_path, monkeypatch):
    broken_copy(
        tmp_path,
        monkeypatch,
        "gpus.yaml",
        lambda raw: gpu(raw, "l4")["specs"].pop("mig_max_instances"),
    )
    text = "\n".join(str(x) for x in preflight.check_all())
    assert "l4.specs.mig_max_instances: required for an NVIDIA GPU" in text


def test_vendor_must_have_terms_and_match_its_variant(tmp_path, monkeypatch):
    broken_copy(
        tmp_path, monkeypatch, "gpus.yaml", lambda raw: gpu(raw, "mi300x").update(vendor="Intel")
    )
    text = "\n".join(str(x) for x in preflight.check_all())
    assert "mi300x.vendor: 'Intel' but its architecture variant 'cdna3' is 'AMD'" in text


def test_a_vendor_without_terms_is_refused(tmp_path, monkeypatch):
    broken_copy(
        tmp_path, monkeypatch, "gpus.yaml", lambda raw: gpu(raw, "mi300x").update(vendor="Acme")
    )
    text = "\n".join(str(x) for x in preflight.check_all())
    assert "mi300x.vendor: unknown vendor 'Acme' (no terms in architectures.yaml)" in text


def test_mig_is_not_applicable_on_other_vendors():
    assert mig.no_mig_text("mi300x") == "not applicable"
    assert mig.no_mig_text("l4") == "not supported"
    t = mig_section.support(params.make(gpus=["mi300x", "l4", "b200"])).frame
    assert t.loc["mi300x", "mig"] == "not applicable"
    assert t.loc["l4", "mig"] == "not supported"
    assert t.loc["b200", "mig"] == "up to 7 instances"


def test_engines_that_run_on_one_vendor_only():
    assert not engines.runs_on("tensorrt-llm", "AMD") and engines.runs_on("vllm", "AMD")
    p = params.make()
    c = throughput.case(
        p, "llama-2-7b", "fp16", "fp16", 1, 512, 128, "mi300x", engine="tensorrt-llm"
    )
    assert "TensorRT-LLM does not run on AMD GPUs" in throughput.unsupported(p, c)
    ok = throughput.case(p, "llama-2-7b", "fp16", "fp16", 1, 512, 128, "mi300x", engine="vllm")
    assert throughput.unsupported(p, ok) is None


def test_a_full_mesh_link_gives_a_group_its_share():
    """MI300X: 7 Infinity Fabric links of 64 GB/s per direction, one to each peer of an 8-GPU
    platform: a TP group of n GPUs reaches its n - 1 peers over n - 1 links."""
    assert interconnect.tp_link("mi300x", 2).per_direction_gb_s == pytest.approx(64)
    assert interconnect.tp_link("mi300x", 4).per_direction_gb_s == pytest.approx(192)
    assert interconnect.tp_link("mi300x", 8).per_direction_gb_s == pytest.approx(448)
    # A switch gives every group the whole per-direction figure.
    assert interconnect.tp_link("b200", 2).per_direction_gb_s == 900
