"""How the GPU catalog's tensor-throughput fields map onto the per-SM rates of
``data/architectures.yaml`` (loaded by :func:`gpucompare.data.catalog.arch_variant`).

Shared by the derivation formula (:mod:`gpucompare.model.specs`) and the data checks
(:mod:`gpucompare.data.checkdata`)."""

from __future__ import annotations

#: Throughput spec fields (``data/gpus.yaml``) and the key of their per-SM rate in ``data/architectures.yaml``.
TENSOR_RATES: dict[str, str] = {
    "fp16_tensor_fp32acc_tflops": "fp16_fp32acc",
    "fp16_tensor_fp16acc_tflops": "fp16_fp16acc",
    "bf16_tensor_tflops": "bf16_fp32acc",
    "tf32_tensor_tflops": "tf32",
    "fp8_tensor_tflops": "fp8_fp32acc",
    "int8_tensor_tops": "int8",
}
