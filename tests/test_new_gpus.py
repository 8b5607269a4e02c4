"""The GPUs added with the vendor-neutral catalog (AMD MI300X, NVIDIA B200, NVIDIA L4) and the model
added with ``gpucompare models import`` (Llama 3.1 405B): in the catalog with vendor-neutral fields
only (no NVIDIA-only field on the AMD GPU), sourced, linked and priced, and every section's own
library calls run with them (the notebooks' code, as tests/test_valid_params.py runs it)."""

from __future__ import annotations

import pytest

from gpucompare import params
from gpucompare.core import paths
from gpucompare.data import catalog, interconnect, loading, prices
from gpucompare.model import interconnect as ic_model
from tests.test_valid_params import build_sections

NEW_GPUS = ["mi300x", "b200", "l4"]


def _raw_gpu(gpu_id: str) -> dict:
    raw = paths.load_yaml(paths.data_dir() / "gpus.yaml")
    return next(g for g in raw["gpus"] if g["id"] == gpu_id)


@pytest.mark.parametrize("gpu_id", NEW_GPUS)
def test_new_gpu_uses_the_vendor_neutral_fields(gpu_id):
    raw = _raw_gpu(gpu_id)
    assert not set(raw["specs"]) & set(catalog.LEGACY_SPEC_NAMES), "former NVIDIA-only names"
    g = catalog.get_gpu(gpu_id)
    known = loading.all_sources(catalog.gpu_catalog().sources)
    assert all(f.source in known for f in g.figures().values())
    assert catalog.arch_variant(gpu_id).vendor == g.vendor
    assert any(r.gpu == gpu_id and r.kind == "on_demand" for r in prices.cloud_prices().prices)
    assert interconnect.gpu_topology(gpu_id).max_gpus_per_node.value == 8


def test_the_amd_gpu_has_no_nvidia_only_field():
    raw = _raw_gpu("mi300x")
    assert catalog.get_gpu("mi300x").vendor == "AMD"
    assert not set(raw["specs"]) & set(catalog.NVIDIA_ONLY_FIELDS)
    assert "mig_profiles" not in raw
    link = interconnect.get_link(interconnect.gpu_topology("mi300x").gpu_link)
    assert link.kind == "xgmi" and link.mesh_peers == 7


def test_the_datasheet_figures():
    """MI300X (AMD: 304 CUs, 2100 MHz, 1307.4 TFLOPS FP16, 163.4 FP32, 192 GB, 5.3 TB/s, 750 W),
    B200 (NVIDIA HGX: 2.25 PFLOPS FP16 dense, 180 GB, 7.7 TB/s, 1000 W, NVLink 5 1.8 TB/s) and L4
    (NVIDIA: 121 TFLOPS FP16 dense, 30.3 FP32, 24 GB, 300 GB/s, 72 W, 58 SMs on a real L4)."""
    mi = catalog.get_gpu("mi300x")
    assert (mi.spec("compute_units"), mi.spec("boost_clock_mhz")) == (304, 2100)
    assert (mi.spec("bf16_tensor_tflops"), mi.spec("fp32_tflops")) == (1307.4, 163.4)
    assert (mi.spec("memory_gib"), mi.spec("memory_bandwidth_gb_s"), mi.spec("tdp_w")) == (
        192,
        5300,
        750,
    )
    b = catalog.get_gpu("b200")
    assert (b.spec("bf16_tensor_tflops"), b.spec("memory_gib"), b.spec("tdp_w")) == (
        2250,
        180,
        1000,
    )
    assert (b.spec("gpu_link_bandwidth_total_gb_s"), b.spec("mig_max_instances")) == (1800, 7)
    l4 = catalog.get_gpu("l4")
    assert (l4.spec("bf16_tensor_tflops"), l4.spec("fp32_tflops"), l4.spec("tdp_w")) == (
        121,
        30.3,
        72,
    )
    assert (l4.spec("compute_units"), l4.spec("memory_bandwidth_gb_s")) == (58, 300)
    assert ic_model.tp_link("l4", 2).link_id == "pcie4-x16"


def test_every_section_runs_with_the_new_gpus_and_model():
    build_sections(
        {
            **params.defaults_dict(),
            "gpus": NEW_GPUS,
            "tp_gpus": [*NEW_GPUS, "h100-sxm"],
            "tp_model": "llama-3.1-405b",
        }
    )


def test_cost_sections_with_an_engine_the_amd_gpu_cannot_run():
    """TensorRT-LLM runs on NVIDIA GPUs only: the MI300X gets no speed or cost, and no crash."""
    build_sections(
        {**params.defaults_dict(), "gpus": ["mi300x", "l4"], "engine": "tensorrt-llm"},
        ["06_tco", "07_decision", "00_summary"],
    )
