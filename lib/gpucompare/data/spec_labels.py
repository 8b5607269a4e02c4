"""Spec fields in words: the label (with unit) of each GPU spec field, in the order the spec table
shows them, with the vendors' terms filled in ("SMs", "SMs / CUs"). The spec table and the audit's
sentences both read them."""

from __future__ import annotations

from gpucompare.data.catalog import LEGACY_SPEC_NAMES, vendor_label

#: (spec field, label with unit) in the order the spec table shows them. A label's ``{term}`` is the
#: vendors' word for it (``vendors`` in data/architectures.yaml: "SMs", "SMs / CUs", "CUDA cores /
#: stream processors", "NVLink / Infinity Fabric (xGMI)"), over the GPUs shown.
SPEC_LABELS: list[tuple[str, str]] = [
    ("architecture", "architecture"),
    ("chip", "chip"),
    ("compute_capability", "compute capability"),
    ("compute_units", "{compute_units}"),
    ("shader_cores", "{shader_cores} (FP32 lanes)"),
    ("matrix_cores", "{matrix_cores}"),
    ("boost_clock_mhz", "boost clock (MHz)"),
    ("fp16_tensor_fp32acc_tflops", "FP16 tensor, FP32 accumulate (TFLOPS, dense)"),
    ("fp16_tensor_fp16acc_tflops", "FP16 tensor, FP16 accumulate (TFLOPS, dense)"),
    ("bf16_tensor_tflops", "BF16 tensor (TFLOPS, dense)"),
    ("tf32_tensor_tflops", "TF32 tensor (TFLOPS, dense)"),
    ("fp8_tensor_tflops", "FP8 tensor (TFLOPS, dense)"),
    ("int8_tensor_tops", "INT8 tensor (TOPS, dense)"),
    ("fp32_tflops", "FP32 non-tensor (TFLOPS)"),
    ("fp64_tflops", "FP64 non-tensor (TFLOPS)"),
    ("fp64_tensor_tflops", "FP64 tensor (TFLOPS)"),
    ("memory_gib", "memory (GiB)"),
    ("memory_type", "memory type"),
    ("memory_bus_width_bits", "memory bus (bits)"),
    ("memory_bandwidth_gb_s", "memory bandwidth (GB/s)"),
    ("gpu_link_bandwidth_total_gb_s", "{gpu_link_name}, both directions (GB/s)"),
    ("gpu_link_bandwidth_per_direction_gb_s", "{gpu_link_name}, per direction (GB/s)"),
    ("pcie_generation", "PCIe generation"),
    ("pcie_lanes", "PCIe lanes"),
    ("tdp_w", "TDP (W)"),
    ("ecc", "ECC memory"),
    ("mig_max_instances", "MIG instances (max)"),
]


def spec_label(field: str, gpu_ids: list[str]) -> str:
    """The words for spec ``field`` (:data:`SPEC_LABELS`) with the vendors' terms of ``gpu_ids``:
    ``compute_units`` -> "SMs" (NVIDIA) or "SMs / CUs"; a field without a label keeps its name."""
    field = LEGACY_SPEC_NAMES.get(field, field)
    label = dict(SPEC_LABELS).get(field, field)
    terms = ("compute_units", "shader_cores", "matrix_cores", "gpu_link_name")
    return label.format(**{t: vendor_label(gpu_ids, t) for t in terms})
